'use strict';
// A hostile action proxy on port 8080 (test image only). /init answers 200, or a huge reply when
// the init parameter HOSTILE_INIT is "huge". /run does what value.mode says:
//   ok            {ok: true, n}
//   huge          a JSON reply of value.bytes bytes (default 1 GiB), chunked, or with a
//                 Content-Length when value.declared is true
//   endless-line  value.bytes of 'a' on stdout with no newline, then {ok: true}
//   big-lines     value.lines lines of value.lineBytes bytes each on stdout, then {ok: true}
//   deep          a small reply nested value.depth levels deep (default 10000)
//   probe         tries a TCP connection to value.host:value.port (1 s), answers {reachable}
//   hang          never answers
//   noisy-fail    value.lines long lines on stderr, then HTTP 502 {error}
// Like a real proxy it ends every activation's output with the sentinel on both streams.
const http = require('node:http');

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const CHUNK = 64 * 1024;
let initMode = '';

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8') || '{}'));
      } catch {
        resolve({});
      }
    });
  });
}

/** Write `total` bytes of `fill` to a stream, waiting for drain; stops when the stream breaks. */
function pour(stream, total, fill) {
  return new Promise((resolve) => {
    const block = Buffer.alloc(CHUNK, fill);
    let left = total;
    let broken = false;
    stream.once('error', () => {
      broken = true;
      resolve(false);
    });
    stream.once('close', () => {
      broken = true;
      resolve(false);
    });
    const step = () => {
      while (!broken && left > 0) {
        const n = Math.min(CHUNK, left);
        left -= n;
        if (!stream.write(n === CHUNK ? block : block.subarray(0, n))) {
          stream.once('drain', step);
          return;
        }
      }
      if (!broken) resolve(true);
    };
    step();
  });
}

function sentinels() {
  process.stdout.write(`${SENTINEL}\n`);
  process.stderr.write(`${SENTINEL}\n`);
}

async function hugeReply(res, bytes, declared) {
  const head = '{"x":"';
  const tail = '"}';
  const fill = Math.max(0, bytes - head.length - tail.length);
  res.writeHead(200, declared ? { 'Content-Type': 'application/json', 'Content-Length': bytes } : { 'Content-Type': 'application/json' });
  res.write(head);
  if (await pour(res, fill, 'a')) res.end(tail);
}

const server = http.createServer(async (req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(404).end();
    return;
  }
  const body = await readBody(req);
  if (req.url === '/init') {
    initMode = String(body.value?.env?.HOSTILE_INIT ?? '');
    if (initMode === 'huge') {
      await hugeReply(res, 64 * 1024 * 1024, false);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    return;
  }
  if (req.url !== '/run') {
    res.writeHead(404).end();
    return;
  }
  const v = body.value ?? {};
  const bytes = Number(v.bytes) || 1024 * 1024 * 1024;
  switch (v.mode) {
    case 'huge':
      await hugeReply(res, bytes, v.declared === true);
      sentinels();
      return;
    case 'endless-line':
      await pour(process.stdout, bytes, 'a');
      break;
    case 'big-lines':
      for (let i = 0; i < (Number(v.lines) || 150); i++) {
        await pour(process.stdout, Number(v.lineBytes) || 4 * 1024 * 1024, 'b');
        process.stdout.write('\n');
      }
      break;
    case 'hang':
      return;
    case 'probe': {
      const reachable = await new Promise((resolve) => {
        const sock = require('node:net').connect({ host: String(v.host), port: Number(v.port) || 8080, timeout: 1000 });
        sock.once('connect', () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('timeout', () => {
          sock.destroy();
          resolve(false);
        });
        sock.once('error', () => resolve(false));
      });
      sentinels();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ reachable }));
      return;
    }
    case 'deep': {
      const depth = Number(v.depth) || 10000;
      sentinels();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
      return;
    }
    case 'noisy-fail':
      for (let i = 0; i < (Number(v.lines) || 50); i++) process.stderr.write(`${'e'.repeat(Number(v.lineBytes) || 10000)}\n`);
      sentinels();
      res.writeHead(502, { 'Content-Type': 'application/json' }).end('{"error":"noisy failure"}');
      return;
    default:
      break;
  }
  console.log(`hostile: ${v.mode || 'ok'} done`);
  sentinels();
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: true, n: v.n ?? null }));
});
server.keepAliveTimeout = 0;
server.listen(8080);
