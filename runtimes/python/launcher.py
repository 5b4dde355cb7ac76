# leon-edge OpenWhisk action runtime for Python 3: the process that runs the action.
#
# Started by proxy.py in the action's directory (cwd) after /init, with the action's module at
# ./main__.py and the entry point's name in argv[1]. It reads one JSON line per activation on
# stdin ({"value": …, "action_name": …, …}), exports every other string key as __OW_<KEY>,
# calls main(value) and writes the result as one JSON line on the pipe whose fd is argv[2] (upstream: fd 3). stdout/stderr are the
# container's, so print() in the action lands in the activation's logs. The protocol is the
# one of apache/openwhisk-runtime-python's launcher (actionloop), reimplemented here.
import json
import os
import sys
import traceback


def activate_virtualenv():
    """A zip may carry virtualenv/ (made with `virtualenv`): activate it as upstream does."""
    venv = os.path.abspath('./virtualenv')
    if not os.path.isdir(venv):
        return
    activate = os.path.join(venv, 'bin', 'activate_this.py')
    if not os.path.exists(activate):
        sys.stderr.write("Invalid virtualenv. Zip file does not include 'activate_this.py'.\n")
        sys.exit(1)
    with open(activate) as f:
        code = compile(f.read(), activate, 'exec')
    exec(code, dict(__file__=activate))


def main():
    entry = sys.argv[1] if len(sys.argv) > 1 else 'main'
    out = os.fdopen(int(sys.argv[2]) if len(sys.argv) > 2 else 3, 'wb')
    try:
        activate_virtualenv()
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc(file=sys.stderr, limit=0)
        sys.exit(1)
    sys.path.insert(0, os.getcwd())
    module = __import__('main__')
    try:
        action = getattr(module, entry)
    except AttributeError:
        # Upstream's `from main__ import <entry> as main` fails the same way.
        raise ImportError("cannot import name '%s' from 'main__' (%s)" % (entry, module.__file__)) from None

    out.write(b'{"ok": true}\n')
    out.flush()

    env = os.environ
    for line in sys.stdin:
        args = json.loads(line)
        payload = {}
        for key in args:
            if key == 'value':
                payload = args['value']
            elif isinstance(args[key], str):
                env['__OW_%s' % key.upper()] = args[key]
        if payload is None:
            payload = {}
        try:
            res = action(payload)
        except Exception as ex:
            print(traceback.format_exc(), file=sys.stderr)
            res = {'error': str(ex)}
        try:
            data = json.dumps(res, ensure_ascii=False)
        except (TypeError, ValueError) as ex:
            # Not JSON: the proxy answers "did not return a dictionary or array".
            print('The action result cannot be serialized to JSON: %s' % ex, file=sys.stderr)
            data = '"not serializable"'
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(data.encode('utf-8'))
        out.write(b'\n')
        out.flush()


if __name__ == '__main__':
    main()
