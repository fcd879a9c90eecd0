// resetwatch_connections_total never goes down. A connection the app upgrades to TLS itself
// (STARTTLS, as pg does with ssl) is counted as plain when it connects and moves to TLS when the
// TLSSocket takes it over (agent/sockets.ts uncount()). A scrape between the two has served it as
// plain; taking it back then would be a counter decrease, which Prometheus reads as a counter reset
// (rate() counts the whole counter again). So it stays counted as plain, and the TLSSocket is not
// counted again; without a scrape in between it moves. Against the Debian PostgreSQL with SSL on,
// and the pg client from npm; and a one-port HTTP/HTTPS server (httpolyglot's shape).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startApp, rawRequest, parseExposition, sumOf, ROOT } from './helpers/prometheus.mjs';
import { startPostgresTls } from './helpers/servers.mjs';
import { runNode } from './helpers/subprocess.mjs';

let db;
before(async () => {
  db = await startPostgresTls();
});
after(() => db?.stop());

/** The fixture app and its steps (test/fixtures/starttls-steps.cjs): `step(line, name)` resolves with the step's report. */
async function stepsApp() {
  const app = startApp('starttls-steps.cjs');
  const { port } = await app.ready;
  const lines = [];
  app.child.stdout.on('data', (d) =>
    lines.push(
      ...String(d)
        .split('\n')
        .filter((l) => l.startsWith('{"step"')),
    ),
  );
  const step = async (line, name) => {
    const from = lines.length;
    app.child.stdin.write(`${line}\n`);
    const until = Date.now() + 15000;
    for (;;) {
      const found = lines
        .slice(from)
        .map((l) => JSON.parse(l))
        .find((o) => o.step === name);
      if (found) {
        assert.equal(found.error, undefined, `step ${name}: ${found.error}`);
        return found;
      }
      if (Date.now() > until) throw new Error(`step ${name} did not finish\nstderr: ${app.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { app, port, step };
}

test('a STARTTLS connection scraped in its plain round trip stays counted as plain, once; one not scraped moves to TLS', async () => {
  const { app, port, step } = await stepsApp();
  try {
    const counts = async () => {
      const res = await rawRequest(port);
      assert.equal(res.status, 200);
      const samples = parseExposition(res.body);
      const of = (tls) => sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'client', resetwatch_tls: tls });
      return { plain: of('false'), tls: of('true') };
    };

    assert.equal((await step(`plain ${db.port}`, 'plain')).answer, 'S', 'PostgreSQL agreed to TLS');
    assert.deepEqual(await counts(), { plain: 1, tls: 0 }, 'scraped in the plain round trip');
    await step('tls', 'tls');
    assert.deepEqual(await counts(), { plain: 1, tls: 0 }, 'after the upgrade: plain must not go down, and TLS does not count it again');

    // pg with ssl does the same in one go, with no scrape in between: one connection, TLS.
    assert.equal((await step(`pg ${db.port}`, 'pg')).ssl, true, 'the pg connection used TLS');
    assert.deepEqual(await counts(), { plain: 1, tls: 1 }, 'a STARTTLS connection not scraped in between counts once, as TLS');
  } finally {
    await app.stop();
  }
});

test('a count read a fraction of a microsecond after it was made is never taken back', async () => {
  // SocketState keeps its start to the rounded microsecond, up to 0.5 µs after the clock reading
  // taken before the count: a read that close must still keep it (agent/sockets.ts uncount()).
  const require = createRequire(import.meta.url);
  const { watch, supersede } = require('../dist/agent/sockets.js');
  const { SocketState } = require('../dist/agent/internal-types.js');
  const { readConnections } = require('../dist/agent/stats.js');
  const { now } = require('../dist/agent/clock.js');
  let lower = 0;
  for (let i = 0; i < 20000; i++) {
    const socket = new net.Socket();
    watch(socket, new SocketState('client', now(), false));
    const seen = readConnections().client.plain;
    supersede(socket);
    if (readConnections().client.plain < seen) lower++;
  }
  assert.equal(lower, 0, `${lower} of 20000 reads were followed by a lower count`);
});

test("the app's own read of require('resetwatch').agent.stats is a read too: the plain count it saw stays", async () => {
  const { app, step } = await stepsApp();
  try {
    await step(`plain ${db.port}`, 'plain');
    assert.deepEqual(await step('stats', 'stats'), { step: 'stats', plain: 1, tls: 0 });
    await step('tls', 'tls');
    assert.deepEqual(await step('stats', 'stats'), { step: 'stats', plain: 1, tls: 0 }, 'after the upgrade: plain must not go down');
  } finally {
    await app.stop();
  }
});

test("a one-port HTTP/HTTPS server (httpolyglot's shape: a net server peeks at a connection's first bytes, then hands it to a TLS server in the same process) counts each connection once, whether or not the counts were read in between", async () => {
  const app = `const fs = require('node:fs');
    const net = require('node:net');
    const tls = require('node:tls');
    const { agent } = require('resetwatch');
    const pem = (f) => fs.readFileSync(${JSON.stringify(path.join(ROOT, 'test/fixtures/tls'))} + '/' + f);
    const server = () => agent.stats.connections.server;
    const tlsServer = tls.createServer({ key: pem('key.pem'), cert: pem('cert.pem') }, (s) => s.end('hi'));
    let read = true;
    const front = net.createServer((socket) =>
      socket.once('readable', () => {
        socket.unshift(socket.read(1));
        // The counts read between the accept and the hand-over (the first connection): a scrape's read.
        if (read) console.log('between', JSON.stringify(server()));
        read = false;
        tlsServer.emit('connection', socket);
      }),
    );
    const dial = () => new Promise((resolve) => {
      const c = tls.connect({ port: front.address().port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('data', () => {}).on('end', resolve);
    });
    front.listen(0, '127.0.0.1', async () => {
      await dial();
      await dial();
      console.log('after', JSON.stringify(server()));
      front.close();
    });`;
  const r = await runNode(['--require', ROOT, '-e', app], { env: { RESETWATCH_PORT: 'off' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /between \{"tls":0,"plain":1\}/);
  // The first stays plain (read as such), the second moves to TLS: two connections, each once.
  assert.match(r.stdout, /after \{"tls":1,"plain":1\}/);
});

test("a server that speaks first (a greeting written in its 'connection' listener, before Node reports the accept) counts each of its connections", async () => {
  // The write met the socket before net.server.socket did: it was taken for a connection handed
  // over by another process, which this one does not count (tools trial: SMTP's, FTP's shape).
  const r = await runNode(['--require', ROOT, path.join(ROOT, 'test/fixtures/greeting-server.cjs')], { env: { RESETWATCH_PORT: 'off' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'server 3, client 3\n');
});
