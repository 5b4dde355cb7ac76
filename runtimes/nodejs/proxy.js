'use strict';
/*
 * leon-edge OpenWhisk action runtime for Node.js: the action interface (POST /init, POST /run
 * on port 8080) with the behaviour of the official Node.js action proxy, and POST /warm-up for a
 * stem cell that waits for its action (warmUp below; README.md).
 *
 * Environment:
 *   __OW_ALLOW_CONCURRENT=true  accept overlapping /run requests
 *   OW_DEFAULT_ACTION=<file>    code baked into the image: /init without code loads this module
 *                               (main = value.main or "main"); /run before /init loads it too
 *   PROXY_PORT                  listen port (default 8080)
 */
const http = require('node:http');
const { ChildProcess } = require('node:child_process');
const { loadAction, loadActionFile, runAction, InitFailure } = require('./action');

const PORT = Number(process.env.PROXY_PORT) || 8080;
const BODY_LIMIT = 48 * 1024 * 1024;
const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n';
const ALLOW_CONCURRENT = String(process.env.__OW_ALLOW_CONCURRENT || '').toLowerCase() === 'true';
const DEFAULT_ACTION = process.env.OW_DEFAULT_ACTION || '';

let status = 'ready'; // ready | starting | running | stopped ("stopped" is final)
let userMain; // the action's entry function once /init succeeded

function setStatus(next) {
  if (status !== 'stopped') {
    status = next;
  }
}

// What was written to process.stdout and process.stderr since the last sentinels, in bytes (the
// activation's output, and any between activations, which the node counts as the next one's): a
// /run reply says so in X-Leon-Log-Bytes, and when it is 0 the node need not wait for Docker to
// relay the sentinels. Only while one activation runs at a time, and never once a child process
// was started (it may write to the inherited descriptors directly, past this count).
// A /run that asks with `X-Leon-Sentinels: if-written` (the node's engine does) gets no sentinels
// when it succeeded and nothing was written: the reply then says `X-Leon-Sentinels: none`, and
// Docker has nothing to relay for it (no log write, no attach stream traffic).
let logBytes = 0;
let countable = !ALLOW_CONCURRENT;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write;
  stream.write = function countedWrite(chunk, ...rest) {
    logBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return write.call(this, chunk, ...rest);
  };
}
const spawn = ChildProcess.prototype.spawn;
ChildProcess.prototype.spawn = function countedSpawn(...args) {
  countable = false;
  return spawn.apply(this, args);
};
// The synchronous ones do not go through ChildProcess (nor through each other: execFileSync calls
// the module's own spawnSync), so each is watched as the action will require it.
const childProcess = require('node:child_process');
for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
  const original = childProcess[name];
  childProcess[name] = function countedChild(...args) {
    countable = false;
    return original.apply(this, args);
  };
}

const reply = (code, body) => ({ code, body });
const failure = (code, message) => reply(code, { error: message });

/** Ends the activation's logs on both streams; resolves once both writes are flushed. */
function writeSentinels(text = SENTINEL) {
  const write = (stream) =>
    new Promise((resolve) => {
      stream.write(text, () => resolve());
    });
  const both = Promise.all([write(process.stdout), write(process.stderr)]);
  if (text !== '') {
    logBytes = 0;
  }
  return both;
}

function isObject(value) {
  return value !== null && typeof value === 'object';
}

function setInitEnv(env) {
  if (!isObject(env)) {
    return;
  }
  for (const [key, val] of Object.entries(env)) {
    if (val === null || val === undefined) {
      process.env[key] = '';
    } else {
      process.env[key] = typeof val === 'object' ? JSON.stringify(val) : String(val);
    }
  }
}

async function init(message) {
  if (userMain !== undefined) {
    console.error('Internal system error: Cannot initialize the action more than once.');
    return failure(403, 'Cannot initialize the action more than once.');
  }
  if (status !== 'ready') {
    console.error(`Internal system error: System not ready, status is ${status}.`);
    return failure(403, `System not ready, status is ${status}.`);
  }
  const value = isObject(message.value) ? message.value : {};
  const hasCode = typeof value.code === 'string' && value.code !== '';
  const hasMain = typeof value.main === 'string' && value.main !== '';
  if (!(hasCode && hasMain) && !(DEFAULT_ACTION && !hasCode)) {
    return failure(403, 'Missing main/no code to execute.');
  }

  setStatus('starting');
  setInitEnv(value.env);
  try {
    const main = hasMain ? value.main : 'main';
    userMain = hasCode ? await loadAction({ code: value.code, main, binary: value.binary === true }) : await loadActionFile(DEFAULT_ACTION, main);
    setStatus('ready');
    return reply(200, { OK: true });
  } catch (err) {
    userMain = undefined;
    setStatus('stopped');
    // The runtime's own findings read as their bare message, an error of the action's code with its stack.
    const reason = err instanceof InitFailure ? err.message : err;
    console.error('Error during initialization:', reason);
    await writeSentinels();
    return failure(502, `Initialization has failed due to: ${reason && reason.stack ? reason.stack : reason}`);
  }
}

async function run(message, headers) {
  if (userMain === undefined && DEFAULT_ACTION && status === 'ready') {
    const initialized = await init({ value: {} });
    if (initialized.code !== 200) {
      return initialized;
    }
  }
  if (status !== 'ready' || userMain === undefined) {
    const msg = userMain === undefined ? 'System not initialized.' : `System not ready, status is ${status}.`;
    console.error(`Internal system error: ${msg}`);
    return failure(403, msg);
  }
  return activate(userMain, message, false, headers !== undefined && headers['x-leon-sentinels'] === 'if-written');
}

/**
 * POST /warm-up (not part of the OpenWhisk action interface; the node's engine sends it to a stem
 * cell that waits for its action): a built-in no-op compiled the way /init compiles plain code,
 * then run through the /run path, so that the action's /init and first /run do not meet that code
 * cold (0.3-0.5 ms less per stem-cell cold start than the /run path alone; bench/README.md, stem cells). It
 * keeps no action (nor loads the image's default one), sets no environment and writes nothing to
 * the logs; refused once an action is loaded.
 */
async function warmUp(message) {
  if (userMain !== undefined || status !== 'ready') {
    return failure(403, 'A warm-up is only for a runtime without an action.');
  }
  const rehearsal = await loadAction({ code: REHEARSAL_CODE, main: 'main', binary: false });
  return activate(rehearsal, message, true);
}

const REHEARSAL_CODE = 'function main(params) { return {}; }';

/**
 * Runs `fn` with the message's arguments; a rehearsal (warmUp) sets no status, no environment and writes no sentinels.
 * `ifWritten`: skip the sentinels of a successful activation that wrote nothing (the reply says so).
 */
async function activate(fn, message, rehearsing, ifWritten = false) {
  let args = message.value;
  if (args === null || args === undefined) {
    args = {};
  } else if (typeof args !== 'object') {
    const msg = `Internal system error: the argument must be a dictionary but has type '${typeof args}'.`;
    if (!rehearsing) {
      console.error(msg);
    }
    return failure(403, msg);
  }

  if (!ALLOW_CONCURRENT && !rehearsing) {
    setStatus('running');
  }
  if (!rehearsing) {
    for (const [key, val] of Object.entries(message)) {
      if (key !== 'value' && typeof val === 'string') {
        process.env[`__OW_${key.toUpperCase()}`] = val;
      }
    }
  }

  const outcome = await runAction(fn, args);
  let response;
  if (outcome.threw && rehearsing) {
    response = failure(500, 'Internal error.'); // the built-in no-op does not throw; should it, the runtime stays as it was
  } else if (outcome.threw) {
    setStatus('stopped');
    console.error(outcome.error);
    response = failure(502, `An error has occurred: ${outcome.error}`);
  } else {
    if (!ALLOW_CONCURRENT && !rehearsing) {
      setStatus('ready');
    }
    if (isObject(outcome.result)) {
      // Serialised here, before the sentinels: a result JSON cannot carry is this activation's
      // failure, and its log line is this activation's (counted, and before its sentinels).
      let text;
      try {
        text = JSON.stringify(outcome.result);
        if (typeof text !== 'string') throw new Error('its toJSON() returned nothing');
      } catch (err) {
        console.error('Cannot serialize the action result:', err);
        text = undefined;
        response = failure(502, `The action result is not serializable to JSON: ${err.message}`);
      }
      if (text !== undefined) response = { code: 200, text };
    } else {
      const type = outcome.result === null ? 'null' : typeof outcome.result;
      console.error(`Result must be of type object but has type "${type}":`, outcome.result);
      response = failure(502, 'The action did not return a dictionary.');
    }
  }
  if (countable) {
    response.headers = { 'X-Leon-Log-Bytes': String(logBytes) };
    if (ifWritten && logBytes === 0 && response.code === 200 && !rehearsing) {
      response.headers['X-Leon-Sentinels'] = 'none';
      return response;
    }
  }
  // A rehearsal writes nothing: its zero-length writes take the streams' path all the same.
  await writeSentinels(rehearsing ? '' : SENTINEL);
  return response;
}

/** Writes a reply: `text` when the body is serialised already (an activation's result), else `body` as JSON. */
function send(res, { code, body, text, headers }) {
  if (text === undefined) text = JSON.stringify(body);
  res.writeHead(code, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const BAD_REQUEST = failure(500, 'Bad request.');
const FROM_A_BROWSER = failure(403, 'Requests from a web browser are refused.');
const NOT_JSON = failure(415, 'The request body must be application/json.');

/**
 * A web page in the user's browser can reach a container's loopback port (a form post or a no-cors
 * fetch needs no preflight) and could /init a stem cell, which waits for its action for minutes,
 * with code of its own. Browsers mark their requests (Origin on every cross-site POST,
 * Sec-Fetch-Site on all in current ones) and can send a JSON content type only after a preflight
 * this server never answers; the node sends neither mark and always application/json.
 */
function refusal(req) {
  const h = req.headers;
  if (h.origin !== undefined || h['sec-fetch-site'] !== undefined || h['sec-fetch-mode'] !== undefined) {
    return FROM_A_BROWSER;
  }
  const type = String(h['content-type'] || '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  return type === 'application/json' ? undefined : NOT_JSON;
}

/** Reads a JSON object (or array) body; resolves undefined when it is too large or unparsable. */
function readJson(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        console.error(`Request body larger than ${BODY_LIMIT} bytes rejected.`);
        chunks.length = 0;
        req.removeAllListeners('data');
        req.resume(); // drain and discard the rest
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve({});
        return;
      }
      try {
        const parsed = JSON.parse(text);
        resolve(isObject(parsed) ? parsed : undefined);
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', () => resolve(undefined));
  });
}

const routes = { '/init': init, '/run': run, '/warm-up': warmUp };

const server = http.createServer(async (req, res) => {
  const handler = req.method === 'POST' ? routes[req.url.split('?')[0]] : undefined;
  if (!handler) {
    req.resume();
    send(res, BAD_REQUEST);
    return;
  }
  const refused = refusal(req);
  if (refused) {
    req.resume();
    res.setHeader('Connection', 'close');
    send(res, refused);
    return;
  }
  const message = await readJson(req);
  if (message === undefined) {
    res.setHeader('Connection', 'close');
    send(res, BAD_REQUEST);
    return;
  }
  try {
    send(res, await handler(message, req.headers));
  } catch (err) {
    console.error('Internal error:', err);
    send(res, failure(500, 'Internal error.'));
  }
});

// Actions may run for minutes: no socket or request timeouts.
server.timeout = 0;
server.requestTimeout = 0;
// Idle kept-alive connections stay open for 10 minutes (Node's default is 5 s): the engine keeps one
// per container, and a stem cell that waits for its action keeps the one its warm-up opened, so
// the /init that hands it over needs no new connection.
server.keepAliveTimeout = 10 * 60 * 1000;
// Silent start: anything written before the first activation would end up in its logs.
server.listen(PORT);

// As PID 1 in a container node has no default signal handlers: exit promptly on docker stop.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
