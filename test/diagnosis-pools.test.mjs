// Pooled database connections that the server (or a middlebox) closes for idleness, with real
// servers (test/helpers/servers.mjs) and their real client libraries: the event names the
// protocol, how long the connection had been quiet, and the pool hint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createRequire } from 'node:module';
import { captureEach, listen, closeServer, delay } from './helpers/resets.mjs';
import { checkEvent, any, dialled, readReset } from './helpers/check-event.mjs';
import { startPostgres, startMariadb, startRedis, pgPool } from './helpers/servers.mjs';
import { withAndWithout, fixture, resetLines, withoutAgentLines, describeRun } from './helpers/subprocess.mjs';

const require = createRequire(import.meta.url);
const mysql = require('mysql2/promise');
const Redis = require('ioredis');

const cap = captureEach();

const client = (port) => (e) => e.direction === 'client' && e.serverPort === port;
/** The event's fields that do not depend on the library. */
const connection = (port) => ({
  time: any.recent,
  direction: 'client',
  phase: 'established',
  ...dialled(port),
  tls: false,
  bytesReceived: any.positive,
  bytesSent: any.positive,
  retry: 'unknown',
  fatal: false,
});
const poolHint = (protocol) => (h) =>
  h.id === 'pool_idle_reset' && h.text.startsWith(`pooled ${protocol} connection`) && /idle \d+\.\d s/.test(h.text);
/** Blocks the event loop, as a busy app does: the pool hands out a connection the server has closed meanwhile. */
const blockFor = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

test('mariadb wait_timeout resets an idle mysql2 pool connection', async () => {
  const server = await startMariadb({ wait_timeout: 1 });
  const pool = mysql.createPool({ host: '127.0.0.1', port: server.port, user: 'root', connectionLimit: 1, idleTimeout: 60000 });
  try {
    await pool.query('select 1');
    const e = await cap.next(client(server.port), 10000);
    checkEvent(e, {
      ...connection(server.port),
      ...readReset,
      protocol: 'mysql',
      connectionAgeMs: (v) => v >= 900,
      // MariaDB resets it after wait_timeout (1 s) of silence: the RST itself does not count.
      idleMs: (v) => v >= 900 && v <= e.connectionAgeMs,
      hint: poolHint('mysql'),
    });
    assert.deepEqual((await pool.query('select 2 as x'))[0], [{ x: 2 }], 'the pool replaced the connection');
  } finally {
    await pool.end().catch(() => {});
    await server.stop();
  }
});

test('postgres idle_session_timeout: a pg Pool query sent on the closed connection fails', async () => {
  const server = await startPostgres({ idle_session_timeout: '1s' });
  const pool = pgPool(server.port);
  try {
    await pool.query('select 1');
    blockFor(1500);
    await assert.rejects(pool.query('select 2'), { code: '57P05' });
    const e = await cap.next(client(server.port), 10000);
    checkEvent(e, {
      ...connection(server.port),
      // The server sent FATAL and closed; pg's next write met its RST.
      errorType: 'EPIPE',
      code: 'EPIPE',
      message: 'write EPIPE',
      syscall: 'write',
      protocol: 'postgres',
      connectionAgeMs: (v) => v >= 1400,
      idleMs: (v) => v >= 900 && v <= e.connectionAgeMs,
      hint: poolHint('postgres'),
    });
  } finally {
    await pool.end().catch(() => {});
    await server.stop();
  }
});

test('redis timeout: ioredis sees an orderly close, reconnects, and no reset is recorded', async () => {
  const server = await startRedis({ timeout: 1 });
  const redis = new Redis({ host: '127.0.0.1', port: server.port });
  redis.on('error', () => {});
  try {
    await redis.set('k', 'v');
    await delay(2500); // redis checks idle clients 10 times a second
    assert.equal(await redis.get('k'), 'v');
    assert.deepEqual(cap.events.filter(client(server.port)), [], 'a FIN is not a reset');
  } finally {
    redis.disconnect();
    await server.stop();
  }
});

for (const gap of [200, 10]) {
  test(`redis CLIENT KILL ${gap} ms after an answered command: an orderly close, no event`, async () => {
    const server = await startRedis();
    const redis = new Redis({ host: '127.0.0.1', port: server.port });
    const admin = new Redis({ host: '127.0.0.1', port: server.port });
    redis.on('error', () => {});
    admin.on('error', () => {});
    try {
      await admin.ping();
      await redis.ping();
      await delay(100); // the next command goes out after a quiet spell, as a web request's does
      assert.equal(await redis.incr('n'), 1);
      await delay(gap);
      assert.equal(await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'), 1);
      assert.equal(await redis.incr('n'), 2, 'ioredis reconnected');
      await delay(300);
      assert.deepEqual(cap.events.filter(client(server.port)), [], 'the command had been answered');
    } finally {
      redis.disconnect();
      admin.disconnect();
      await server.stop();
    }
  });
}

/** A loopback TCP proxy to `port` that resets connections idle for `ms`, as load balancers and NATs do. */
function idleResettingProxy(port, ms) {
  return net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    down.pipe(up).pipe(down);
    up.on('error', () => {});
    down.on('error', () => {});
    down.setTimeout(ms, () => {
      down.resetAndDestroy();
      up.destroy();
    });
  });
}

test('a middlebox resets an idle ioredis connection', async () => {
  const server = await startRedis();
  const proxy = idleResettingProxy(server.port, 1000);
  const port = await listen(proxy);
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.set('k', 'v');
    const e = await cap.next(client(port), 10000);
    checkEvent(e, {
      ...connection(port),
      ...readReset,
      protocol: 'redis',
      connectionAgeMs: (v) => v >= 900,
      idleMs: (v) => v >= 900 && v <= e.connectionAgeMs,
      hint: poolHint('redis'),
    });
  } finally {
    redis.disconnect();
    await closeServer(proxy);
    await server.stop();
  }
});

test('a middlebox resets a pg connection while a query runs: ECONNRESET, not an idle pool connection', async () => {
  const server = await startPostgres();
  const proxy = idleResettingProxy(server.port, 1000);
  const port = await listen(proxy);
  const pool = pgPool(port);
  try {
    await pool.query('select 1');
    await delay(100);
    await assert.rejects(pool.query('select pg_sleep(5)'));
    const e = await cap.next(client(port), 10000);
    checkEvent(e, {
      ...connection(port),
      ...readReset,
      protocol: 'postgres',
      connectionAgeMs: (v) => v >= 900,
      // Quiet since the query went out, a second before the RST: it waited for its answer.
      idleMs: (v) => v >= 900 && v <= e.connectionAgeMs,
      // No hint: the connection was busy, not idle in the pool.
    });
  } finally {
    await pool.end().catch(() => {});
    await closeServer(proxy);
    await server.stop();
  }
});

test('a pg Client with no error listener crashes on a reset it re-emits: same crash, event fatal', async () => {
  const server = await startPostgres();
  const proxy = idleResettingProxy(server.port, 500);
  const port = await listen(proxy);
  try {
    const { plain, agent } = await withAndWithout([fixture('app-pg-crash.cjs'), String(port)]);
    assert.equal(plain.code, 1, `the fixture must crash without the agent\n${describeRun(plain)}`);
    assert.match(plain.stderr, /Emitted 'error' event on Client instance/);
    assert.equal(agent.code, plain.code, describeRun(agent));
    assert.equal(agent.signal, plain.signal);
    assert.equal(agent.stdout, plain.stdout);
    assert.equal(withoutAgentLines(agent.stderr), plain.stderr.replaceAll(/pid\b/g, 'pid'), "stderr apart from the agent's line");
    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, agent.stderr);
    const [line] = lines;
    assert.equal(line['resetwatch.fatal'], true, 'marked fatal');
    assert.equal(line['resetwatch.protocol'], 'postgres');
    assert.equal(line['error.type'], 'ECONNRESET');
    assert.equal(line['resetwatch.retry'], 'unknown');
    assert.ok(line['resetwatch.connection.idle'] >= 0.4, `connection.idle ${line['resetwatch.connection.idle']}`);
    // Written before Node's report.
    assert.ok(agent.stderr.indexOf('{') < agent.stderr.indexOf('Error: read ECONNRESET'), agent.stderr);
  } finally {
    await closeServer(proxy);
    await server.stop();
  }
});

test('a pg Client whose error listener exits: same exit, the event is written before the process ends', async () => {
  const server = await startPostgres();
  const proxy = idleResettingProxy(server.port, 500);
  const port = await listen(proxy);
  try {
    const { plain, agent } = await withAndWithout([fixture('app-pg-crash.cjs'), String(port), 'exit']);
    assert.equal(plain.code, 3, describeRun(plain));
    assert.equal(agent.code, 3, describeRun(agent));
    assert.equal(agent.stdout, plain.stdout);
    assert.equal(withoutAgentLines(agent.stderr), plain.stderr);
    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, agent.stderr);
    assert.equal(lines[0]['resetwatch.fatal'], false);
    assert.equal(lines[0]['resetwatch.protocol'], 'postgres');
  } finally {
    await closeServer(proxy);
    await server.stop();
  }
});
