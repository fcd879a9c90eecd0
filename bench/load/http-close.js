'use strict';
// Scenario 2 load: one new TCP connection per HTTP request (`Connection: close`). A raw socket
// writer, so that the generator stays much cheaper than the server it loads.
const net = require('node:net');
const { args, closedLoop, done } = require('./lib');

const a = args();
const REQ = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');

function once() {
  return new Promise((resolve) => {
    const s = net.connect(a.port, '127.0.0.1', () => s.write(REQ));
    let head = '';
    s.setEncoding('latin1');
    s.on('data', (d) => {
      if (head.length < 12) head += d;
    });
    s.on('error', () => {});
    s.on('close', () => resolve(head.startsWith('HTTP/1.1 200')));
  });
}

closedLoop(a.count, a.concurrency || 16, once).then(done);
