'use strict';
// A plain HTTP call for tests that talk to action containers directly: a fresh connection each
// time (no keep-alive), a JSON body, and the reply's status with its body parsed when it is JSON.
const http = require('node:http');

/**
 * The reply: status, body, and its headers (to read, not enumerable).
 * @typedef {{ status: number, body: any, headers: import('node:http').IncomingHttpHeaders }} Reply
 */

/**
 * `headers` are added to (or replace) the JSON content type and length.
 * @returns {Promise<Reply>}
 */
function request(url, body, method = 'POST', headers = {}) {
  const data = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          // The headers are there to read, not enumerable: tests compare {status, body} whole.
          resolve(/** @type {Reply} */ (Object.defineProperty({ status: res.statusCode, body: parsed }, 'headers', { value: res.headers })));
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

module.exports = { request };
