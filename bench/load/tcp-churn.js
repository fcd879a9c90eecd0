'use strict';
// Scenario 3 load (server role): connect, write 6 bytes, read the echo, close; `count` times.
const net = require('node:net');
const { args, closedLoop, done } = require('./lib');

const a = args();
const PING = Buffer.from('ping!\n');

function once() {
  return new Promise((resolve) => {
    const s = net.connect(a.port, '127.0.0.1', () => s.write(PING));
    let got = 0;
    let ok = false;
    s.on('data', (d) => {
      got += d.length;
      if (got >= PING.length) {
        ok = true;
        s.end();
      }
    });
    s.on('error', () => {});
    s.on('close', () => resolve(ok));
  });
}

closedLoop(a.count, a.concurrency || 16, once).then(done);
