#!/usr/bin/env python3
# leon-edge OpenWhisk action runtime for Python 3: the action interface (POST /init, POST /run on
# port 8080) with the behaviour and messages of apache/openwhisk-runtime-python (its Go
# "actionloop" proxy with OW_LOG_INIT_ERROR=1 and OW_WAIT_FOR_ACK=1, and its bin/compile),
# reimplemented with the standard library only.
#
# /init: plain code (written as __main__.py) or a base64 zip holding __main__.py (optionally with a
# virtualenv/ folder), the entry point in value.main (default "main"), value.env exported. The code
# is checked (syntax) and launcher.py started in the action's directory; it acknowledges once the
# module is imported. Only one /init. /run: the request (minus newlines) goes to the launcher as one
# line; its one-line answer is the result. After every activation (and after a failed /init) the
# sentinel line is written on stdout and stderr.
#
# Environment: PROXY_PORT (default 8080), OW_ACTION_DIR (default /tmp/action: the only writable
# place for the unprivileged user), PYTHON (default: this interpreter).
import ast
import base64
import binascii
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get('PROXY_PORT') or 8080)
ACTION_DIR = os.environ.get('OW_ACTION_DIR') or '/tmp/action'
PYTHON = os.environ.get('PYTHON') or sys.executable
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'launcher.py')
SENTINEL = b'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n'
# Upstream's proxies accept up to 48 MB; the same bound applies to what the action answers.
BODY_LIMIT = 48 * 1024 * 1024
# A zip may not unpack to more than this (a small zip can expand enormously).
UNZIP_LIMIT = 512 * 1024 * 1024


def sentinels():
    for stream in (sys.stdout.buffer, sys.stderr.buffer):
        stream.write(SENTINEL)
        stream.flush()


def log_error(message):
    sys.stderr.write(message if message.endswith('\n') else message + '\n')
    sys.stderr.flush()


class InitError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Executor:
    """The launcher process: one JSON line in on stdin, one JSON line out on a pipe (upstream: fd 3)."""

    def __init__(self, directory, main, env):
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [PYTHON, LAUNCHER, main, str(write_fd)], cwd=directory, env=env, stdin=subprocess.PIPE,
            stdout=None, stderr=None, pass_fds=(write_fd,), close_fds=True)
        os.close(write_fd)
        self.output = os.fdopen(read_fd, 'rb')

    def read_line(self):
        line = self.output.readline(BODY_LIMIT + 1)
        if not line.endswith(b'\n'):
            return None  # the launcher exited (EOF) or answered beyond the bound
        return line

    def wait_ack(self):
        line = self.read_line()
        if line is None:
            self.proc.wait()
            return 'Command exited abruptly during initialization.'
        try:
            ok = json.loads(line).get('ok') is True
        except (ValueError, AttributeError):
            ok = False
        return None if ok else 'The action did not initialize properly.'

    def exited(self):
        return self.proc.poll() is not None

    def interact(self, body):
        try:
            self.proc.stdin.write(body + b'\n')
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self.read_line()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.initialized = False
        self.executor = None
        self.env = {}


STATE = State()


def action_env(init_env):
    """The launcher's environment: the container's, the proxy's __OW_ variables, then /init env
    (strings as they are, other values as JSON), as the actionloop proxy builds it."""
    env = dict(os.environ)
    env['PYTHONIOENCODING'] = 'UTF-8'
    env['__OW_WAIT_FOR_ACK'] = '1'
    if isinstance(init_env, dict):
        for key, value in init_env.items():
            if not isinstance(key, str) or key == '' or '=' in key or '\0' in key:
                continue
            text = value if isinstance(value, str) else json.dumps(value, separators=(',', ':'))
            if '\0' not in text:
                env[key] = text
    return env


def extract(code, binary, directory):
    """Plain code → __main__.py; a zip → its files. Returns the source directory."""
    src = os.path.join(directory, 'src')
    os.makedirs(src)
    if not binary:
        with open(os.path.join(src, '__main__.py'), 'wb') as f:
            f.write(code.encode('utf-8'))
        return src
    try:
        data = base64.b64decode(code, validate=False)
    except (binascii.Error, ValueError) as err:
        raise InitError(400, 'cannot decode the request: %s' % err)
    if not data.startswith(b'PK'):
        # Not a zip: upstream treats the bytes as the program (here: the source of __main__.py).
        with open(os.path.join(src, '__main__.py'), 'wb') as f:
            f.write(data)
        return src
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = 0
            root = os.path.realpath(src)
            for info in archive.infolist():
                total += info.file_size
                if total > UNZIP_LIMIT:
                    raise InitError(502, 'The zip file unpacks to more than %d bytes.' % UNZIP_LIMIT)
                target = os.path.realpath(os.path.join(src, info.filename))
                if target != root and not target.startswith(root + os.sep):
                    raise InitError(502, "The zip file holds a path outside the action's folder: %s" % info.filename)
            archive.extractall(src)
    except zipfile.BadZipFile as err:
        raise InitError(502, 'cannot unzip the action: %s' % err)
    # Scripts in a zipped virtualenv must stay executable.
    venv_bin = os.path.join(src, 'virtualenv', 'bin')
    if os.path.isdir(venv_bin):
        for name in os.listdir(venv_bin):
            path = os.path.join(venv_bin, name)
            if os.path.isfile(path):
                os.chmod(path, 0o755)
    return src


def compile_action(src):
    """What upstream's bin/compile does: exec → __main__.py → main__.py, then check the module.
    Returns the compiler's complaints ('' when the action is fine)."""
    if os.path.exists(os.path.join(src, 'exec')):
        os.rename(os.path.join(src, 'exec'), os.path.join(src, '__main__.py'))
    main_py = os.path.join(src, '__main__.py')
    if os.path.exists(main_py):
        os.rename(main_py, os.path.join(src, 'main__.py'))
    complaints = []
    venv = os.path.join(src, 'virtualenv')
    if os.path.isdir(venv) and not os.path.exists(os.path.join(venv, 'bin', 'activate_this.py')):
        complaints.append("Invalid virtualenv. Zip file does not include 'activate_this.py'.\n")
    module = os.path.join(src, 'main__.py')
    if not os.path.exists(module):
        complaints.append('Zip file does not include main__\n')
    else:
        try:
            with open(module, 'rb') as f:
                ast.parse(f.read().decode('utf-8'), filename=module)
        except SyntaxError as err:
            complaints.append('%s (%s, line %s)\n' % (err.msg, os.path.basename(module), err.lineno))
        except UnicodeDecodeError as err:
            complaints.append('%s\n' % err)
    return ''.join(complaints)


def do_init(body):
    if STATE.initialized:
        log_error('Cannot initialize the action more than once.')
        return 403, {'error': 'Cannot initialize the action more than once.'}
    try:
        request = json.loads(body)
    except ValueError as err:
        return 400, {'error': 'Error unmarshaling request: %s' % err}
    value = request.get('value') if isinstance(request, dict) else None
    value = value if isinstance(value, dict) else {}
    code = value.get('code')
    if not isinstance(code, str) or code == '':
        return 403, {'error': 'Missing main/no code to execute.'}
    main = value.get('main') if isinstance(value.get('main'), str) and value.get('main') else 'main'
    env = action_env(value.get('env'))
    directory = os.path.join(ACTION_DIR, '1')
    shutil.rmtree(directory, ignore_errors=True)
    try:
        src = extract(code, value.get('binary') is True, directory)
    except InitError as err:
        if err.status == 400:
            return err.status, {'error': err.message}
        log_error(err.message)
        sentinels()
        return 502, {'error': 'The action failed to generate or locate a binary. See logs for details.'}
    complaints = compile_action(src)
    if complaints:
        log_error(complaints)
        sentinels()
        return 502, {'error': 'The action failed to generate or locate a binary. See logs for details.'}
    executor = Executor(src, main, env)
    failure = executor.wait_ack()
    if failure:
        executor.stop()
        log_error(failure)
        sentinels()
        return 502, {'error': 'Cannot start action. Check logs for details.'}
    STATE.executor = executor
    STATE.initialized = True
    return 200, {'ok': True}


def do_run(body):
    executor = STATE.executor
    if executor is None:
        return 500, {'error': 'no action defined yet'}
    if executor.exited():
        return 500, {'error': 'command exited'}
    line = executor.interact(body.replace(b'\n', b''))
    sentinels()
    if line is None:
        executor.stop()
        STATE.executor = None
        return 400, {'error': 'command exited'}
    try:
        result = json.loads(line)
    except ValueError:
        result = None
    if not isinstance(result, (dict, list)):
        return 502, {'error': 'The action did not return a dictionary or array.'}
    return 200, line.rstrip(b'\n')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'leon-edge-python-proxy'
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the client's delayed
    # ACK (~40 ms per request on a keep-alive connection).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # no access log in the action's logs
        pass

    def answer(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(',', ':')).encode('utf-8') + b'\n'
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = -1
        if length < 0 or length > BODY_LIMIT:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def refusal(self):
        # A web page in the user's browser can reach this loopback port (a form post or a no-cors
        # fetch needs no preflight) and could /init a waiting container with code of its own.
        # Browsers mark their requests (Origin, Sec-Fetch-*) and send application/json only after a
        # preflight this server never answers; the node sends neither mark and always JSON.
        h = self.headers
        if h.get('Origin') is not None or h.get('Sec-Fetch-Site') is not None or h.get('Sec-Fetch-Mode') is not None:
            return 403, {'error': 'Requests from a web browser are refused.'}
        if (h.get('Content-Type') or '').split(';')[0].strip().lower() != 'application/json':
            return 415, {'error': 'The request body must be application/json.'}
        return None

    def do_POST(self):
        refused = self.refusal()
        if refused is not None:
            # Its body is read (within the usual limit) and dropped, never parsed: closing the
            # connection with bytes unread would reset it before the client has read this answer.
            self.read_body()
            self.close_connection = True
            self.answer(*refused)
            return
        body = self.read_body()
        if body is None:
            self.answer(413, {'error': 'Request body larger than %d bytes.' % BODY_LIMIT})
            return
        if self.path == '/init':
            with STATE.lock:
                status, reply = do_init(body)
        elif self.path == '/run':
            with STATE.lock:
                status, reply = do_run(body)
        else:
            status, reply = 404, {'error': 'not found'}
        self.answer(status, reply)

    def do_GET(self):
        self.answer(404, {'error': 'not found'})


def serve():
    os.makedirs(ACTION_DIR, exist_ok=True)
    server = ThreadingHTTPServer(('', PORT), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == '__main__':
    serve()
