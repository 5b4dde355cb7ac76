#!/usr/bin/env node
'use strict';
/*
 * How fast the local runtime's log framing (dist/lib/local/logs.js) takes a container's output, for
 * floods that a hostile or chatty action can write: empty lines, 80-character lines, one endless
 * line. Every line is read on Node-RED's event loop, so this is how long a flood can hold it.
 *
 *   npm run build && node bench/logs.js
 */
const path = require('node:path');
const { LogFramer } = require(path.join(__dirname, '..', 'dist', 'lib', 'local', 'logs.js'));

const MiB = 1024 * 1024;
const cases = [
  ['empty lines, activation running', true, Buffer.from('\n'.repeat(64 * 1024))],
  ['empty lines, between activations', false, Buffer.from('\n'.repeat(64 * 1024))],
  ['80-character lines, activation running', true, Buffer.from(`${'y'.repeat(80)}\n`.repeat(800))],
  ['one endless line', true, Buffer.alloc(64 * 1024, 'a')],
];
console.log('| output | MB/s | lines/s |');
console.log('|---|---|---|');
for (const [name, inFrame, chunk] of cases) {
  const f = new LogFramer({ framed: true, limitBytes: 10 * MiB });
  if (inFrame) f.begin();
  const lines = chunk.toString().split('\n').length - 1;
  let n = 0;
  const t0 = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - t0) < 1e9) {
    f.stdout.write(chunk);
    n++;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`| ${name} | ${((n * chunk.length) / MiB / s).toFixed(1)} | ${lines ? `${((n * lines) / s / 1e6).toFixed(2)} M` : '–'} |`);
}
