'use strict';
// Scenario 3: raw TCP churn. Server role (default): accept, echo, close when the client does.
// Client role (`run` with `port`): the app itself dials an echo server `count` times,
// `concurrency` at once: connect, write 6 bytes, read them back, close.
const net = require('node:net');
const { control } = require('../lib/app-control');

const counters = { connections: 0, errors: 0 };
const server = net.createServer((socket) => {
  counters.connections++;
  socket.on('data', (d) => socket.write(d));
  socket.on('end', () => socket.end());
  socket.on('error', () => {
    counters.errors++;
  });
});

const PING = Buffer.from('ping!\n');

function once(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = 0;
    socket.on('connect', () => socket.write(PING));
    socket.on('data', (d) => {
      got += d.length;
      if (got >= PING.length) socket.end();
    });
    socket.on('error', () => {
      counters.errors++;
    });
    socket.on('close', () => {
      counters.connections++;
      resolve();
    });
  });
}

async function run({ port, count, concurrency }) {
  let left = count;
  async function worker() {
    while (left > 0) {
      left--;
      await once(port);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const ctl = control({ counters, run });
server.listen(0, '127.0.0.1', 4096, () => ctl.ready({ port: server.address().port }));
