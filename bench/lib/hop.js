'use strict';
// The floor of any gateway: one HTTP hop in another Node process and nothing else. A plain
// node:http server that reads a JSON body, sends it as the value of a /run to a container (the
// direct side's client, bench/lib/direct.js) and answers with the result. No auth, no store, no
// logs, no Node-RED. bench/gateway.js starts it as a child process and measures it beside the API:
// what the API adds beyond this hop is what this package could still remove.
//
//   node bench/lib/hop.js <container port>   (prints the port it listens on, then serves)

const http = require('node:http');
const { createAgent, runDirect } = require('./direct');

const containerPort = Number(process.argv[2]);
const action = { namespace: 'guest', qualified: '/guest/bench/noop' };
const agent = createAgent();

const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    runDirect(agent, containerPort, JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'), action).then(
      (result) => {
        const body = JSON.stringify(result);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(err.message));
      },
    );
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
// Ends with its parent.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
