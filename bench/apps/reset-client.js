'use strict';
// Scenario 5: reset storm. The app dials a server (bench/load/reset-server.js, another process)
// that resets every connection as soon as it reads the first byte. The app paces its attempts at
// `rate` per second for `durationMs` (a batch every 10 ms, at most `maxInflight` open at once) and
// handles every error, as a well-behaved client would. The agent sees one reset per connection.
// `client`: 'net' (the default: a raw socket writes one byte), 'http' (node:http's GET, a fresh
// connection each) or 'fetch' (undici's, Node's global fetch): the same reset met by an HTTP client.
const net = require('node:net');
const http = require('node:http');
const { control } = require('../lib/app-control');

const counters = { attempts: 0, resets: 0, otherErrors: 0, skipped: 0 };
const X = Buffer.from('x');
let inflight = 0;

function onError(err) {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') counters.resets++;
  else counters.otherErrors++;
}
function onClose() {
  inflight--;
}
function onConnect() {
  this.write(X);
}

function attempt(port) {
  counters.attempts++;
  inflight++;
  const socket = net.connect(port, '127.0.0.1', onConnect);
  socket.on('error', onError);
  socket.on('close', onClose);
}

const noKeepAlive = new http.Agent({ keepAlive: false });

function attemptHttp(port) {
  counters.attempts++;
  inflight++;
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent: noKeepAlive });
  req.on('error', (err) => {
    onError(err);
    inflight--;
  });
  req.on('response', (res) => {
    res.resume();
    inflight--;
  });
}

function attemptFetch(port) {
  counters.attempts++;
  inflight++;
  fetch(`http://127.0.0.1:${port}/`).then(
    (res) => {
      inflight--;
      return res.arrayBuffer();
    },
    (err) => {
      // undici: TypeError('fetch failed') with the socket's error (or its SocketError) as cause.
      onError(err.cause?.code === 'UND_ERR_SOCKET' ? { code: 'ECONNRESET' } : (err.cause ?? err));
      inflight--;
    },
  );
}

const ATTEMPTS = { net: attempt, http: attemptHttp, fetch: attemptFetch };

function run({ port, rate, durationMs, maxInflight = 2000, tick = 10, client = 'net' }) {
  const dial = ATTEMPTS[client];
  return new Promise((resolve) => {
    const perTick = (rate * tick) / 1000;
    const start = Date.now();
    let due = 0;
    const timer = setInterval(() => {
      const elapsed = Date.now() - start;
      if (elapsed >= durationMs) {
        clearInterval(timer);
        // Let the last resets arrive before the window closes.
        const wait = setInterval(() => {
          if (inflight === 0 || Date.now() - start > durationMs + 2000) {
            clearInterval(wait);
            resolve();
          }
        }, 5);
        return;
      }
      // Catch up on ticks the event loop was too busy to run: the attempted rate stays `rate`.
      const target = Math.floor((elapsed * rate) / 1000) + perTick;
      while (due < target) {
        due++;
        if (inflight >= maxInflight) {
          counters.skipped++;
          continue;
        }
        dial(port);
      }
    }, tick);
  });
}

// Run by the harness; bench/reset-rate.js requires it for the same pacing.
if (require.main === module) control({ counters, run, eld: true }).ready({});

module.exports = { run, counters };
