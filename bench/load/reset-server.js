'use strict';
// Peer for scenario 5: resets every connection (RST, not FIN) as soon as it reads the first byte.
// Prints {port}; exits when the harness closes its stdin.
const net = require('node:net');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.once('data', () => s.resetAndDestroy());
});
server.listen(0, '127.0.0.1', 4096, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.stdin.on('end', () => process.exit(0)).resume();
