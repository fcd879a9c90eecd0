// pg_terminate_backend while a query runs: the server sends FATAL and closes (FIN). That FIN,
// with the query in flight, is the event (peer_closed, postgres); whatever this side writes after
// it and the RST that draws are not a second one. A FIN after the app's own end() is no event.
import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { loadAgent, capture, delay } from './helpers/resets.mjs';
import { checkEvent, any } from './helpers/check-event.mjs';
import { startPostgres, pgPool } from './helpers/servers.mjs';

const require = createRequire(import.meta.url);
const pg = require('pg');

let cap;
let server;
before(async () => {
  const { onReset } = await loadAgent();
  cap = capture(onReset);
  server = await startPostgres();
});
beforeEach(() => cap.clear());
after(async () => {
  cap.stop();
  await server?.stop();
});

const connect = async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  await c.connect();
  return c;
};
const client = (port) => (e) => e.direction === 'client' && e.localPort === port;

/** The fields of a query cut off on the client connection from `localPort` to postgres on `port`. */
const queryCutOff = (port, localPort) => ({
  time: any.recent,
  direction: 'client',
  errorType: 'peer_closed',
  code: 'peer_closed',
  message: 'the server closed the connection while a query was in flight',
  syscall: undefined,
  phase: 'established',
  protocol: 'postgres',
  peerAddress: '127.0.0.1',
  peerPort: port,
  serverAddress: '127.0.0.1',
  serverPort: port,
  localAddress: '127.0.0.1',
  localPort,
  tls: false,
  bytesReceived: any.positive,
  bytesSent: any.positive,
});

test('pg_terminate_backend mid-query: one peer_closed event, the query in flight', async () => {
  const admin = await connect();
  const victim = await connect();
  const errors = [];
  victim.on('error', (err) => errors.push(err.message));
  try {
    const port = victim.connection.stream.localPort;
    const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid;
    await delay(50); // the query below goes out in a later clock step than the answer above was read
    const failed = assert.rejects(victim.query('select pg_sleep(30)'), { code: '57P01' });
    await delay(300);
    await admin.query('select pg_terminate_backend($1)', [pid]);
    await failed;
    const e = await cap.next(client(port), 10000);
    checkEvent(e, {
      ...queryCutOff(server.port, port),
      connectionAgeMs: (v) => v >= 300,
      // Since the FATAL message when it was read in an earlier clock step than the FIN; since the
      // query went out (about 300 ms before) when both came in the FIN's step, which is left out.
      idleMs: (v) => v <= 100 || (v >= 250 && v < e.connectionAgeMs),
      retry: 'unknown',
      fatal: false,
    });
    await delay(300);
    assert.equal(cap.events.filter(client(port)).length, 1, 'one event for the connection');
  } finally {
    await admin.end();
  }
});

test('pg_terminate_backend on a pg Pool query 1 s in: the query cut off, never an idle connection', async (t) => {
  const admin = await connect();
  const pool = pgPool(server.port);
  try {
    const c = await pool.connect();
    const stream = c.connection.stream;
    const port = stream.localPort;
    let finRead = false;
    stream.once('end', () => (finRead = true));
    const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid;
    c.release();
    const failed = assert.rejects(pool.query('select pg_sleep(30)'), { code: '57P01' });
    await delay(1000);
    await admin.query('select pg_terminate_backend($1)', [pid]);
    await failed;
    await delay(300);
    const events = cap.events.filter(client(port));
    // The server sends FATAL and closes; the pool answers the FATAL with its Terminate. Mostly that
    // reaches the backend before it closes, which then answers with an RST (it closed with the
    // Terminate unread): the query cut off is the event, the RST not a second one. When the
    // server's FIN came first, it reads the same as the answer to the app's own end(): no event.
    t.diagnostic(finRead ? 'the FIN came before the Terminate' : 'the backend reset the connection');
    if (finRead) {
      assert.deepEqual(events, [], 'a FIN after this side ended');
      return;
    }
    assert.equal(events.length, 1, 'one event for the connection');
    const [e] = events;
    checkEvent(e, {
      ...queryCutOff(server.port, port),
      connectionAgeMs: (v) => v >= 1000,
      // Since the query went out: the FATAL, the Terminate and the RST come in one clock step.
      idleMs: (v) => v >= 0 && v <= e.connectionAgeMs,
      retry: 'unknown',
      fatal: false,
      // No hint: above all not pool_idle_reset, the connection was waiting for an answer.
    });
  } finally {
    await pool.end().catch(() => {});
    await admin.end();
  }
});

test("a FIN answering the app's own end() right after a slow query is no event", async () => {
  const c = await connect();
  const port = c.connection.stream.localPort;
  await c.query('select pg_sleep(0.2)');
  await c.end();
  await delay(300);
  assert.deepEqual(cap.events.filter(client(port)), []);
});

test("a FIN answering the app's own end() after a query is no event", async () => {
  const c = await connect();
  const port = c.connection.stream.localPort;
  await c.query('select 1');
  await c.end();
  await delay(300);
  assert.deepEqual(cap.events.filter(client(port)), []);
});

test('an idle pg client whose server closes it for idleness: a FIN, not a reset', async () => {
  const c = await connect();
  c.on('error', () => {});
  const port = c.connection.stream.localPort;
  await c.query("set idle_session_timeout = '500ms'");
  await delay(1200);
  assert.deepEqual(cap.events.filter(client(port)), []);
});
