'use strict';
// Peer for scenario 3 in the client role: an echo server in its own process. Prints {port}.
const net = require('node:net');

const server = net.createServer((s) => {
  s.on('data', (d) => s.write(d));
  s.on('end', () => s.end());
  s.on('error', () => {});
});
server.listen(0, '127.0.0.1', 4096, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.stdin.on('end', () => process.exit(0)).resume();
