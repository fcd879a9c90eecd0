// The demo's service and clients (started by ./demo.js under `node --require resetwatch`).
'use strict';
const path = require('node:path');
const net = require('node:net');
const tls = require('node:tls');
const http = require('node:http');
const fs = require('node:fs');
const { onReset, agent } = require('resetwatch');
const { table } = require('./table');

const TLS_OPTS = {
  key: fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'tls', 'key.pem')),
  cert: fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'tls', 'cert.pem')),
};
const HOLD_MS = process.argv.includes('--no-hold') || process.env.CI ? 0 : process.argv.includes('--hold') ? Infinity : 20000;

const seen = [];
onReset((e) => seen.push(e));

const delay = (ms) => new Promise((r) => setTimeout(r, ms));
const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
const quiet = (emitter) => {
  emitter.on('error', () => {});
  return emitter;
};

/** Each scenario provokes one kind of reset; `expect` is what the agent should call it. */
const scenarios = [
  [
    'client',
    'connect',
    'dial a port where nothing listens',
    async () => {
      const probe = net.createServer();
      const port = await listen(probe);
      await new Promise((r) => probe.close(r));
      await new Promise((r) => quiet(net.connect(port, '127.0.0.1')).on('close', r));
    },
  ],
  [
    'client',
    'tls_handshake',
    'TLS client; the server resets its ClientHello',
    async () => {
      const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
      const port = await listen(server);
      await new Promise((r) => quiet(tls.connect({ port, host: '127.0.0.1', servername: 'tls.demo' })).on('close', r));
      server.close();
    },
  ],
  [
    'client',
    'request',
    'POST whose body is cut off by a reset',
    async () => {
      const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
      const port = await listen(server);
      const req = quiet(http.request({ port, host: 'localhost', method: 'POST' }));
      req.write('half a body');
      await new Promise((r) => req.on('close', r));
      server.close();
    },
  ],
  [
    'client',
    'response',
    'GET; the server resets in the middle of the body',
    async () => {
      const server = http.createServer((req, res) => {
        res.write('partial');
        setTimeout(() => req.socket.resetAndDestroy(), 20);
      });
      const port = await listen(server);
      await new Promise((r) => quiet(http.get({ port, host: 'localhost', path: '/orders' }, (res) => quiet(res).resume())).on('close', r));
      server.close();
    },
  ],
  [
    'client',
    'response',
    'keep-alive race: the server closes a pooled socket as it is reused',
    async () => {
      const server = net.createServer((s) => {
        quiet(s).once('data', () => {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          setTimeout(() => s.destroy(), 200);
        });
      });
      const port = await listen(server);
      const pool = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 8; i++) {
        await new Promise((r) =>
          quiet(
            http.get({ port, host: 'localhost', agent: pool }, (res) => {
              res.resume();
              res.on('end', r);
            }),
          ).on('error', r),
        );
        await delay(200);
      }
      pool.destroy();
      server.close();
    },
  ],
  [
    'client',
    'idle',
    'a pooled keep-alive socket reset while idle',
    async () => {
      const server = http.createServer((req, res) => {
        res.end('ok');
        const s = req.socket;
        setTimeout(() => s.resetAndDestroy(), 30);
      });
      const port = await listen(server);
      const pool = new http.Agent({ keepAlive: true });
      await new Promise((r) =>
        http.get({ port, host: 'localhost', agent: pool }, (res) => {
          res.resume();
          res.on('end', r);
        }),
      );
      await delay(100);
      pool.destroy();
      server.close();
    },
  ],
  [
    'client',
    'established',
    'raw TCP; the server resets after a few bytes',
    async () => {
      const server = net.createServer((s) =>
        s.once('data', () => {
          s.write('pong');
          setTimeout(() => s.resetAndDestroy(), 20);
        }),
      );
      const port = await listen(server);
      const sock = quiet(net.connect(port, '127.0.0.1', () => sock.write('ping')));
      sock.resume();
      await new Promise((r) => sock.on('close', r));
      server.close();
    },
  ],
  [
    'client',
    'response',
    'fetch(); the server resets the request',
    async () => {
      const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
      const port = await listen(server);
      await fetch(`http://127.0.0.1:${port}/api`).catch(() => {});
      server.close();
    },
  ],
  [
    'server',
    'tls_handshake',
    'a client gives up in the middle of its ClientHello',
    async () => {
      const server = tls.createServer(TLS_OPTS, (s) => s.end());
      server.on('tlsClientError', () => {});
      const port = await listen(server);
      const sock = quiet(
        net.connect(port, '127.0.0.1', () => {
          sock.write(Buffer.from('160301', 'hex'));
          setTimeout(() => sock.resetAndDestroy(), 50);
        }),
      );
      await new Promise((r) => sock.on('close', r));
      await delay(20);
      server.close();
    },
  ],
  ...[
    ['request', 'a client resets halfway through its request headers', 'GET / HTTP/1.1\r\nHost: demo\r\n'],
    ['response', 'a client gives up while the handler is slow', 'GET /slow HTTP/1.1\r\nHost: demo\r\n\r\n'],
    ['idle', 'a client resets its keep-alive connection after the response', 'GET / HTTP/1.1\r\nHost: demo\r\n\r\n'],
  ].map(([phase, what, request]) => [
    'server',
    phase,
    what,
    async () => {
      const server = http.createServer((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('late'), 300) : res.end('ok')));
      const port = await listen(server);
      const sock = quiet(
        net.connect(port, '127.0.0.1', () => {
          sock.write(request);
          setTimeout(() => sock.resetAndDestroy(), 80);
        }),
      );
      sock.resume();
      await new Promise((r) => sock.on('close', r));
      await delay(phase === 'response' ? 300 : 20);
      server.close();
    },
  ]),
  [
    'server',
    'established',
    'raw TCP server; the client resets',
    async () => {
      const server = net.createServer((s) => quiet(s).resume());
      const port = await listen(server);
      const sock = quiet(
        net.connect(port, '127.0.0.1', () => {
          sock.write('hello');
          setTimeout(() => sock.resetAndDestroy(), 20);
        }),
      );
      await new Promise((r) => sock.on('close', r));
      await delay(20);
      server.close();
    },
  ],
];

async function main() {
  console.log(`resetwatch demo: provoking ${scenarios.length} kinds of reset on loopback…\n`);
  for (const [direction, phase, what, run] of scenarios) {
    const before = seen.length;
    await run();
    await delay(30);
    const got = seen.slice(before);
    const hit = got.some((e) => e.direction === direction && e.phase === phase);
    console.log(`  ${hit ? '✔' : '✘'} ${direction.padEnd(6)} ${phase.padEnd(13)} ${what}  → ${got.length} event(s)`);
  }
  console.log(`\nWhat the agent saw (${seen.length} resets):\n`);
  console.log(table(seen));
  const endpoint = agent.config.port === 'off' ? undefined : `http://${agent.config.host}:${agent.config.port}`;
  console.log(`\nLog lines: ${agent.config.log}`);
  if (endpoint && HOLD_MS > 0) {
    const secs = HOLD_MS === Infinity ? 'until Ctrl-C' : `for ${HOLD_MS / 1000} s`;
    console.log(`Metrics: ${endpoint}/metrics   Recent resets: ${endpoint}/resets   (up ${secs})`);
    const hold = setTimeout(() => {}, HOLD_MS === Infinity ? 2 ** 31 - 1 : HOLD_MS);
    void hold;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
