'use strict';
// Scenarios 1 and 2: a plain HTTP server answering 12 bytes. The load generator decides between
// keep-alive (autocannon) and a new TCP connection per request (`Connection: close`).
const http = require('node:http');
const { control } = require('../lib/app-control');

const counters = { requests: 0, connections: 0 };
const body = Buffer.from('hello world\n');
const server = http.createServer((_req, res) => {
  counters.requests++;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.on('connection', () => {
  counters.connections++;
});
server.keepAliveTimeout = 30000;
const ctl = control({ counters });
server.listen(0, '127.0.0.1', 4096, () => ctl.ready({ port: server.address().port }));
