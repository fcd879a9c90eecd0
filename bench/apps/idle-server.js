'use strict';
// Scenario 6: idle sockets. A TCP server that accepts and holds connections; the harness reads
// RSS and heap (after gc) before and after a load generator opens N idle connections.
const net = require('node:net');
const { control } = require('../lib/app-control');

const counters = { connections: 0, errors: 0 };
function onError() {
  counters.errors++;
}
const server = net.createServer((socket) => {
  counters.connections++;
  socket.on('error', onError);
});
const ctl = control({ counters });
server.listen(0, '127.0.0.1', 4096, () => ctl.ready({ port: server.address().port }));
