'use strict';
// A loopback HTTP server for unit tests that count connections: `handler(req, res)` answers each
// request; `connections` are the open ones, `accepted()` how many were ever made.
const http = require('node:http');

function loopbackServer(handler) {
  const server = http.createServer(handler);
  const connections = new Set();
  let accepted = 0;
  server.on('connection', (s) => {
    accepted++;
    connections.add(s);
    s.on('close', () => connections.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        connections,
        accepted: () => accepted,
        stop: () =>
          new Promise((r) => {
            for (const s of connections) s.destroy();
            server.close(() => r());
          }),
      });
    }),
  );
}

module.exports = { loopbackServer };
