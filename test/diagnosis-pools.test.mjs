// Pooled database connections that the server (or a middlebox) closes for idleness, with real
// servers (test/helpers/servers.mjs) and their real client libraries: the event names the
// protocol, how long the connection had been quiet, and the pool hint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createRequire } from 'node:module';
import { captureEach, listen, closeServer, delay, UV_HIDES_RST } from './helpers/resets.mjs';
import { checkEvent, any, dialled, readReset } from './helpers/check-event.mjs';
import { startPostgres, startMariadb, startRedis, pgPool } from './helpers/servers.mjs';
import { withAndWithout, fixture, resetLines, withoutAgentLines, describeRun } from './helpers/subprocess.mjs';

const require = createRequire(import.meta.url);
const mysql = require('mysql2/promise');
const Redis = require('ioredis');
const { createClient } = require('redis');

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
  h.id === 'pool_idle_reset' &&
  h.text.startsWith(`pooled ${protocol} connection`) &&
  /idle \d+\.\d s/.test(h.text) &&
  // A pooler in front of the server closes idle clients too (PgBouncer trial).
  h.text.includes('PgBouncer client_idle_timeout') &&
  // A connection kept open (ioredis, a subscriber) is not a pool's: its remedy is named too (BullMQ trial).
  h.text.endsWith('a connection kept open on purpose (ioredis, a subscriber, a LISTEN) needs TCP keep-alive probes more often than that');
/** Blocks the event loop, as a busy app does: the pool hands out a connection the server has closed meanwhile. */
const blockFor = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const MYSQL_POOLS = {
  mysql2: (port) => mysql.createPool({ host: '127.0.0.1', port, user: 'root', connectionLimit: 1, idleTimeout: 60000 }),
  // Its rows come without the driver's fields array: [rows] as mysql2's promise API gives them.
  'the mariadb connector': (port) => {
    const pool = require('mariadb').createPool({ host: '127.0.0.1', port, user: 'root', connectionLimit: 1, idleTimeout: 60 });
    return { query: async (q) => [[...(await pool.query(q))]], end: () => pool.end() };
  },
};

for (const [name, createPool] of Object.entries(MYSQL_POOLS))
  test(`mariadb wait_timeout resets an idle pool connection (${name})`, async () => {
    // 2 s, not 1: the pool hint starts at 1 s of quiet, and a 1 s timeout measured from this side
    // read just under it once on a loaded CI (no hint).
    const server = await startMariadb({ wait_timeout: 2 });
    const pool = createPool(server.port);
    try {
      await pool.query('select 1');
      const e = await cap.next(client(server.port), 10000);
      checkEvent(e, {
        ...connection(server.port),
        ...readReset,
        protocol: 'mysql',
        connectionAgeMs: (v) => v >= 1900,
        // MariaDB resets it after wait_timeout (2 s) of silence: the RST itself does not count.
        idleMs: (v) => v >= 1900 && v <= e.connectionAgeMs,
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
    // An answer read more than ANSWERED_MS (50 ms, agent/hooks/activity.ts) after its command was
    // waited for, and a close that soon after cuts it off (README Limits): a loaded host can
    // stretch a round trip that far, so a try whose INCR took over 40 ms is run again (3 at most).
    const slow = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = await startRedis();
      const redis = new Redis({ host: '127.0.0.1', port: server.port });
      const admin = new Redis({ host: '127.0.0.1', port: server.port });
      redis.on('error', () => {});
      admin.on('error', () => {});
      try {
        await admin.ping();
        await redis.ping();
        await delay(100); // the next command goes out after a quiet spell, as a web request's does
        const asked = performance.now();
        assert.equal(await redis.incr('n'), 1);
        const took = performance.now() - asked;
        await delay(gap);
        assert.equal(await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'), 1);
        assert.equal(await redis.incr('n'), 2, 'ioredis reconnected');
        await delay(300);
        if (took > 40) {
          slow.push(Math.round(took));
          continue;
        }
        assert.deepEqual(cap.events.filter(client(server.port)), [], 'the command had been answered');
        return;
      } finally {
        redis.disconnect();
        admin.disconnect();
        await server.stop();
      }
    }
    assert.fail(`INCR took over 40 ms in each of 3 tries (${slow.join(', ')} ms): too loaded to tell`);
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

/**
 * A proxy that closes abortively, as HAProxy with `option nolinger` does: when the client ends its
 * side, the client's connection is reset rather than closed with a FIN.
 */
function noLingerProxy(port) {
  return net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    down.pipe(up, { end: false }).pipe(down);
    up.on('error', () => {});
    down.on('error', () => {});
    down.on('end', () => {
      down.resetAndDestroy();
      up.destroy();
    });
  });
}

test("pool.end() through a proxy that answers the client's close with an RST (HAProxy option nolinger): pg's goodbye lost nothing, no event", async () => {
  const server = await startPostgres();
  const proxy = noLingerProxy(server.port);
  const port = await listen(proxy);
  const pool = pgPool(port);
  try {
    await pool.query('select 1');
    await pool.end();
    await delay(300);
    assert.deepEqual(cap.events.filter(client(port)), []);
  } finally {
    await closeServer(proxy);
    await server.stop();
  }
});

/** The event of a redis connection through `port` (idleResettingProxy) reset after idling 1 s. */
async function idleRedisReset(port) {
  const e = await cap.next(client(port), 10000);
  checkEvent(e, {
    ...connection(port),
    ...readReset,
    protocol: 'redis',
    connectionAgeMs: (v) => v >= 900,
    idleMs: (v) => v >= 900 && v <= e.connectionAgeMs,
    hint: poolHint('redis'),
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
    await idleRedisReset(port);
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

test("a pg Client with no error listener whose query the server cuts off (pg_terminate_backend: its FATAL, then a FIN): pg's own error crashes the app the same way, the event fatal and written first", async () => {
  // No socket error: pg makes "Connection terminated unexpectedly" in the socket's 'close' (trial
  // of database clients: the line said fatal: false for a crash; node-redis does the same).
  const server = await startPostgres();
  try {
    const { plain, agent } = await withAndWithout([fixture('app-pg-crash.cjs'), String(server.port), 'inflight']);
    assert.equal(plain.code, 1, `the fixture must crash without the agent\n${describeRun(plain)}`);
    assert.match(plain.stderr, /Error: Connection terminated unexpectedly/);
    assert.equal(agent.code, plain.code, describeRun(agent));
    assert.equal(agent.signal, plain.signal);
    assert.equal(agent.stdout, plain.stdout);
    assert.match(agent.stdout, /query failed: terminating connection due to administrator command/);
    assert.equal(withoutAgentLines(agent.stderr), plain.stderr, "stderr apart from the agent's line");
    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, agent.stderr);
    const [line] = lines;
    assert.deepEqual(
      [line['resetwatch.fatal'], line['resetwatch.protocol'], line['error.type'], line['resetwatch.message']],
      [true, 'postgres', 'peer_closed', 'the server closed the connection while a query was in flight'],
    );
    assert.ok(agent.stderr.indexOf('{') < agent.stderr.indexOf('Error: Connection terminated unexpectedly'), agent.stderr);
  } finally {
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

// The server's last bytes and its RST both waiting when the client's event loop next polls (here:
// sent in one tick of this process): libuv before 1.52 (Node 20, 22) reads the bytes and reports
// an end of input, which database clients report as a lost connection; newer libuv reads on to the
// RST. Either way the event is the RST: ECONNRESET. Bytes and a FIN stay what they were.

/**
 * A loopback TCP proxy to `port`; `arm(close)` forwards half of the next chunk from the server, and
 * 50 ms later a quarter more, then closes the client's connection with `close` ('resetAndDestroy'
 * or 'end') in the same tick. The answer begun in an earlier poll is what lets the agent tell an
 * RST there: an end of input read in the first poll after a write may be a FIN whose RST that write
 * drew (classify.ts noteResetBehindEnd).
 */
function armedProxy(port) {
  let armed;
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    down.on('data', (d) => up.write(d));
    up.on('data', (d) => {
      if (armed === undefined) return down.write(d);
      const close = armed;
      armed = undefined;
      up.destroy();
      down.write(d.subarray(0, d.length >> 1));
      setTimeout(() => {
        down.write(d.subarray(d.length >> 1, (d.length * 3) >> 2));
        down[close]();
      }, 50);
    });
    up.on('error', () => {});
    down.on('error', () => {});
  });
  return { server, arm: (close) => (armed = close) };
}

const verdict = (e) => [e.errorType, e.code, e.message, e.syscall, e.phase, e.protocol];
const queryCutOff = (protocol) => [
  'peer_closed',
  'peer_closed',
  'the server closed the connection while a query was in flight',
  undefined,
  'established',
  protocol,
];
const hiddenReset = (protocol) => ['ECONNRESET', 'ECONNRESET', 'read ECONNRESET', 'read', 'established', protocol];

/** postgres.js (3 or 4, `load()`): one connection to `port`, a query answered after 300 ms, and its end. */
const postgresJs = (load) => async (port) => {
  const sql = (await load())({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => {} });
  await sql`select 1`;
  return { slow: () => sql.unsafe("select pg_sleep(0.3), repeat('x', 2000)").then((r) => r), close: () => sql.end({ timeout: 0 }) };
};

/** Each library: the protocol it speaks, a connection to `port`, a query answered after 300 ms, and its end. */
const LIBRARIES = {
  pg: {
    protocol: 'postgres',
    start: startPostgres,
    async connect(port) {
      const c = new (require('pg').Client)({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      c.on('error', () => {});
      await c.connect();
      await c.query('select 1');
      return { slow: () => c.query("select pg_sleep(0.3), repeat('x', 2000)"), close: () => c.end() };
    },
  },
  'postgres.js 4': { protocol: 'postgres', start: startPostgres, connect: postgresJs(async () => (await import('postgres')).default) },
  'postgres.js 3': { protocol: 'postgres', start: startPostgres, connect: postgresJs(async () => require('postgres3')) },
  mysql2: {
    protocol: 'mysql',
    start: startMariadb,
    async connect(port) {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
      c.on('error', () => {});
      await c.query('select 1');
      return { slow: () => c.query("select sleep(0.3), repeat('x', 2000)"), close: async () => c.destroy() };
    },
  },
  'the mariadb connector': {
    protocol: 'mysql',
    start: startMariadb,
    async connect(port) {
      const c = await require('mariadb').createConnection({ host: '127.0.0.1', port, user: 'root' });
      c.on('error', () => {});
      await c.query('select 1');
      return { slow: () => c.query("select sleep(0.3), repeat('x', 2000)"), close: async () => c.destroy() };
    },
  },
  ioredis: {
    protocol: 'redis',
    start: startRedis,
    async connect(port) {
      const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      await r.set('big', 'x'.repeat(2000));
      // Pipelined: the server answers both at once when the first ends.
      const slow = () =>
        r
          .pipeline()
          .blpop('none', 0.3)
          .get('big')
          .exec()
          .then((results) => {
            for (const [err] of results) assert.ifError(err);
          });
      return { slow, close: async () => r.disconnect() };
    },
  },
};

for (const [name, { protocol, ...lib }] of Object.entries(LIBRARIES)) {
  test(`${name}: the rest of a query's answer and an RST read in one poll are ECONNRESET; with a FIN, the query cut off`, async () => {
    const server = await lib.start();
    const proxy = armedProxy(server.port);
    const port = await listen(proxy.server);
    try {
      for (const close of ['resetAndDestroy', 'end']) {
        cap.clear();
        const c = await lib.connect(port);
        await delay(50); // the query goes out in a later clock step than the answers before it were read
        proxy.arm(close);
        await assert.rejects(c.slow());
        const e = await cap.next(client(port));
        assert.deepEqual(verdict(e), close === 'end' ? queryCutOff(protocol) : hiddenReset(protocol), close);
        await delay(100);
        assert.equal(cap.events.filter(client(port)).length, 1, `${close}: one event`);
        await c.close().catch(() => {});
      }
    } finally {
      await closeServer(proxy.server);
      await server.stop();
    }
  });
}

test('an ioredis subscriber: the rest of a message and an RST read in one poll are ECONNRESET; with a FIN, no event', async () => {
  const server = await startRedis();
  const proxy = armedProxy(server.port);
  const port = await listen(proxy.server);
  const publisher = new Redis({ host: '127.0.0.1', port: server.port });
  try {
    for (const close of ['resetAndDestroy', 'end']) {
      cap.clear();
      const sub = new Redis({ host: '127.0.0.1', port, retryStrategy: () => null });
      const seen = [];
      sub.on('error', (err) => seen.push(err.message));
      await sub.subscribe('news');
      const ended = new Promise((r) => sub.once('end', r));
      await delay(100); // quiet, then the server speaks unprompted
      proxy.arm(close);
      await publisher.publish('news', 'x'.repeat(200));
      await ended;
      assert.deepEqual(seen, close === 'resetAndDestroy' && !UV_HIDES_RST ? ['read ECONNRESET'] : [], `${close}: what ioredis reports`);
      if (close === 'end') {
        await delay(200);
        assert.deepEqual(cap.events.filter(client(port)), [], 'a FIN is no event');
      } else {
        const e = await cap.next(client(port));
        checkEvent(e, {
          ...connection(port),
          ...readReset,
          protocol: 'redis',
          connectionAgeMs: (v) => v >= 95,
          idleMs: (v) => v >= 50 && v <= e.connectionAgeMs,
        });
      }
      sub.disconnect();
    }
  } finally {
    publisher.disconnect();
    await closeServer(proxy.server);
    await server.stop();
  }
});

// ioredis sends every command down one connection: one made while a BLPOP blocks waits behind it.
// The wait counts from the BLPOP (hooks/activity.ts): timed from the PING, the answer looked
// prompt, so the kill had no event and the RST read as an idle pooled connection's (BullMQ trial).
test('ioredis: a PING pipelined behind a blocked BLPOP does not hide it: CLIENT KILL cuts off the BLPOP; a middlebox RST is no idle pool reset', async () => {
  const server = await startRedis();
  let downstream;
  const proxy = net.createServer((down) => {
    downstream = down;
    const up = net.connect(server.port, '127.0.0.1');
    down.pipe(up).pipe(down);
    up.on('error', () => {});
    down.on('error', () => {});
  });
  const port = await listen(proxy);
  const options = { host: '127.0.0.1', retryStrategy: () => null, maxRetriesPerRequest: 0 };
  const admin = new Redis({ host: '127.0.0.1', port: server.port });
  const killed = new Redis({ ...options, port: server.port });
  const reset = new Redis({ ...options, port });
  for (const c of [admin, killed, reset]) c.on('error', () => {});
  /** A BLPOP, 300 ms later a PING behind it, 10 ms later `cut`: both commands fail. */
  const blockedThenCut = async (redis, cut) => {
    await redis.ping();
    const pop = assert.rejects(redis.blpop('none', 0));
    await delay(300);
    const ping = assert.rejects(redis.ping());
    await delay(10);
    await cut();
    await pop;
    await ping;
  };
  try {
    const id = await killed.client('ID');
    await blockedThenCut(killed, () => admin.client('KILL', 'ID', String(id)));
    assert.deepEqual(verdict(await cap.next(client(server.port))), queryCutOff('redis'));

    await blockedThenCut(reset, () => downstream.resetAndDestroy());
    const e = await cap.next(client(port));
    checkEvent(e, {
      ...connection(port),
      ...readReset,
      protocol: 'redis',
      connectionAgeMs: (v) => v >= 300,
      idleMs: any.nonNegative,
      // No hint: the BLPOP waited for its answer, the connection was not idle in a pool.
    });
  } finally {
    for (const c of [admin, killed, reset]) c.disconnect();
    await closeServer(proxy);
    await server.stop();
  }
});

// node-redis (`redis`), told from ioredis by its own 'close' listener (agent/protocol.ts): without
// it the idle reset had no protocol or pool hint, and the killed BLPOP no event at all.
test('node-redis: a middlebox resets an idle connection; CLIENT KILL cuts off a BLPOP', async () => {
  const server = await startRedis();
  const proxy = idleResettingProxy(server.port, 1000);
  const port = await listen(proxy);
  const idle = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  const blocked = createClient({ socket: { host: '127.0.0.1', port: server.port, reconnectStrategy: false } });
  const admin = createClient({ socket: { host: '127.0.0.1', port: server.port } });
  for (const c of [idle, blocked, admin]) c.on('error', () => {});
  try {
    await idle.connect();
    await idle.set('k', 'v');
    await idleRedisReset(port);

    await admin.connect();
    await blocked.connect();
    const id = await blocked.clientId();
    // Rejected as the kill lands, maybe before clientKill() resolves: handled from the start.
    const pop = assert.rejects(blocked.blPop('none', 0), /Socket closed unexpectedly/);
    await delay(300);
    await admin.clientKill({ filter: 'ID', id });
    await pop;
    const cut = await cap.next(client(server.port));
    assert.deepEqual(verdict(cut), queryCutOff('redis'));
  } finally {
    for (const c of [idle, blocked, admin]) c.destroy();
    await closeServer(proxy);
    await server.stop();
  }
});
