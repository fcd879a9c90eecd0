'use strict';
// Scenario 6 load: opens `count` connections (at most 256 connecting at once) and keeps them open
// and silent. Prints {connected, errors} once all are up; exits when the harness closes its stdin.
const net = require('node:net');
const { args } = require('./lib');

const a = args();
const sockets = [];
let started = 0;
let connected = 0;
let errors = 0;
let pending = 0;

function more() {
  while (pending < 256 && started < a.count) {
    started++;
    pending++;
    let up = false;
    const s = net.connect(a.port, '127.0.0.1', () => {
      up = true;
      pending--;
      connected++;
      more();
      if (connected + errors === a.count) process.stdout.write(`${JSON.stringify({ connected, errors })}\n`);
    });
    s.on('error', () => {
      if (!up) pending--;
      errors++;
      more();
      if (connected + errors === a.count) process.stdout.write(`${JSON.stringify({ connected, errors })}\n`);
    });
    sockets.push(s);
  }
}
more();
process.stdin.on('end', () => process.exit(0)).resume();
