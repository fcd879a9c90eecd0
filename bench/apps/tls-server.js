'use strict';
// Scenario 4: TLS churn. A TLS echo server (RSA 2048 test certificate); every client does a full
// handshake (no session resumption), one echo, close.
const tls = require('node:tls');
const fs = require('node:fs');
const path = require('node:path');
const { control } = require('../lib/app-control');

const dir = path.join(__dirname, '..', '..', 'test', 'fixtures', 'tls');
const counters = { handshakes: 0, errors: 0 };
const server = tls.createServer(
  { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) },
  (socket) => {
    counters.handshakes++;
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => {
      counters.errors++;
    });
  },
);
server.on('tlsClientError', () => {
  counters.errors++;
});
const ctl = control({ counters });
server.listen(0, '127.0.0.1', 4096, () => ctl.ready({ port: server.address().port }));
