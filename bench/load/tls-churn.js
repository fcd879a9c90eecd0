'use strict';
// Scenario 4 load: full TLS handshake (no session reuse), echo one byte, close; `count` times.
const tls = require('node:tls');
const { args, closedLoop, done } = require('./lib');

const a = args();

function once() {
  return new Promise((resolve) => {
    const s = tls.connect({ port: a.port, host: '127.0.0.1', rejectUnauthorized: false }, () => s.write('x'));
    let ok = false;
    s.on('data', () => {
      ok = true;
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(ok));
  });
}

closedLoop(a.count, a.concurrency || 8, once).then(done);
