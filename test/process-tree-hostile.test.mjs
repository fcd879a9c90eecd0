// A process family (exporters/prometheus/family.ts) talks over an abstract unix socket any local process can
// reach. Hostile or broken peers must never hurt the app: a leader drops what is not resetwatch's
// (and counts it), a member neither floods nor spins when its "leader" misbehaves. A family is one
// user's session: two sessions on one port are two families, and the second says "in use" once.
// Real processes, real refused connections on loopback, real abstract sockets.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import { ROOT, fixture, cleanEnv, diagLines } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree, killTrees } from './helpers/tree.mjs';

const APP = fixture('tree-app.cjs');
const NODE = process.execPath;
const { familyName } = createRequire(import.meta.url)(`${ROOT}/dist/exporters/prometheus/family.js`);

const started = [];
const cleanups = [];
afterEach(() => {
  killTrees();
  for (const c of started.splice(0)) {
    try {
      process.kill(c.detached ? -c.pid : c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const f of cleanups.splice(0)) f();
});

/** tree-app.cjs under the agent; `session`: a session of its own (setsid), else this test's. */
const startApp = (args, env, { session = false } = {}) => startTree(NODE, [APP, ...args], { env, session });

async function scrape(port) {
  const r = await rawRequest(port);
  assert.equal(r.status, 200, r.body);
  const samples = parseExposition(r.body);
  return { body: r.body, resets: sumOf(samples, 'resetwatch_resets_total'), errors: sumOf(samples, 'resetwatch_agent_errors_total') };
}

/**
 * A connection to the family socket, once it exists: the election starts with the app's outputs, in
 * its event loop's first turn, a moment after it said it was ready (fails after 5 s).
 */
async function connectFamily(name) {
  for (let i = 0; ; i++) {
    const s = net.connect({ path: name });
    const ok = await new Promise((resolve) => {
      s.once('connect', () => resolve(true));
      s.once('error', () => resolve(false));
    });
    if (ok) return s;
    assert.ok(i < 100, `no leader listens on ${JSON.stringify(name)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens the family socket and writes `data`; resolves when the leader closed it (or after 2 s). */
function sendRaw(name, data) {
  return new Promise((resolve) => {
    const s = net.connect({ path: name }, () => s.write(data));
    s.on('error', () => {});
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, 2000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('hostile messages to the leader: dropped and counted once; /metrics stays correct; the app exits as always', async () => {
  const port = await freePort();
  const app = startApp(['root', '3'], { RESETWATCH_PORT: String(port) });
  await app.ready();
  const before = await scrape(port);
  assert.equal(before.resets, 3);
  const name = familyName('127.0.0.1', port);

  // The malformed state that made every scrape answer 500.
  await sendRaw(
    name,
    `${JSON.stringify({
      t: 'state',
      id: 'poison',
      pid: 1,
      snap: { metrics: [{ name: 'x', type: 'counter', aggregator: 'sum', values: 5 }], recent: [] },
    })}\n`,
  );
  // 20,000 injected series under a name that is not resetwatch's, and 20,000 under its own reset counter.
  const values = Array.from({ length: 20000 }, (_, i) => ({ value: 1e9, labels: { injected: `x${i}` } }));
  await sendRaw(
    name,
    `${JSON.stringify({
      t: 'state',
      id: 'evil',
      pid: 1,
      snap: { metrics: [{ name: 'evil_total', help: '', type: 'counter', aggregator: 'sum', values }], recent: [] },
    })}\n`,
  );
  const peers = Array.from({ length: 20000 }, (_, i) => ({
    value: 1,
    // Compact, so that the line stays under the size limit and is judged (and counted) on its content.
    labels: { resetwatch_phase: 'connect', server_address: `10.0.${i >> 8}.${i & 255}`, server_port: '1' },
  }));
  await sendRaw(
    name,
    `${JSON.stringify({
      t: 'state',
      id: 'many',
      pid: 1,
      snap: { metrics: [{ name: 'resetwatch_resets_total', help: '', type: 'counter', aggregator: 'sum', values: peers }], recent: [] },
    })}\n`,
  );
  // Negative and non-finite counts; a record that is not an object; not JSON at all.
  await sendRaw(
    name,
    `${JSON.stringify({
      t: 'state',
      id: 'neg',
      pid: 1,
      snap: {
        metrics: [{ name: 'resetwatch_resets_total', help: '', type: 'counter', aggregator: 'sum', values: [{ value: -100, labels: {} }] }],
        recent: [],
      },
    })}\n`,
  );
  await sendRaw(name, `${JSON.stringify({ t: 'state', id: 'rec', pid: 1, snap: { metrics: [], recent: [[1, 2]] } })}\n`);
  await sendRaw(name, '{"t":"state",\n');
  // A line over the limit (5 MB, no newline): the connection is closed, nothing kept.
  await sendRaw(name, 'x'.repeat(5 * 1024 * 1024));
  // An offer without a state first.
  await sendRaw(name, `${JSON.stringify({ t: 'offer', from: 'x', seq: 1e9, snap: { metrics: [], recent: [] }, items: [] })}\n`);

  const after = await scrape(port);
  assert.equal(after.resets, 3, 'nothing injected is served');
  assert.doesNotMatch(after.body, /evil|injected|10\.0\./);
  assert.ok(after.errors >= 7, `dropped messages counted: ${after.errors}`);
  assert.equal((await rawRequest(port, { path: '/resets' })).status, 200);

  const r = await app.stop('SIGTERM');
  assert.equal(r.signal, 'SIGTERM', 'the app dies of SIGTERM, as without the agent');
  assert.equal(r.stdout.split('\n').filter(Boolean).length, 1, r.stdout);
  const lines = diagLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /dropped .* from another local process/);
});

/** A fake leader on the family name of this session: `onDown(socket)` for each leader → member connection. */
async function fakeLeader(port, { close = false, onDown, onUp } = {}) {
  let connects = 0;
  const server = net.createServer((s) => {
    connects++;
    s.on('error', () => {});
    if (close) return s.destroy();
    let buf = '';
    s.setEncoding('utf8').on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('{"t":"listen"')) onDown?.(s);
        else onUp?.(line);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: familyName('127.0.0.1', port) }, resolve);
  });
  cleanups.push(() => server.close());
  return { connects: () => connects, server };
}

test('a leader that accepts and closes at once: the member backs off (bounded connects), the app runs on', async () => {
  const port = await freePort();
  const leader = await fakeLeader(port, { close: true });
  const app = startApp(['root', '0'], { RESETWATCH_PORT: String(port) });
  await app.ready();
  const from = leader.connects();
  await new Promise((r) => setTimeout(r, 3000));
  const n = leader.connects() - from;
  assert.ok(n < 50, `connections to the fake leader in 3 s: ${n}`);
  const r = await app.stop('SIGTERM');
  assert.equal(r.signal, 'SIGTERM');
  assert.deepEqual(diagLines(r.stderr), [], r.stderr);
});

test('a pull flood from the leader: the member answers a bounded number of states', async () => {
  const port = await freePort();
  let states = 0;
  let down;
  await fakeLeader(port, {
    onDown: (s) => {
      down = s;
    },
    onUp: (line) => {
      if (line.startsWith('{"t":"state"')) states++;
    },
  });
  const app = startApp(['root', '1'], { RESETWATCH_PORT: String(port) });
  await app.ready();
  const deadline = Date.now() + 10000;
  while ((down === undefined || states === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(down !== undefined && states === 1, `the member joined and sent its state (${states})`);
  let pulls = '';
  for (let n = 0; n < 20000; n++) pulls += `{"t":"pull","n":${n}}\n`;
  down.write(pulls);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(states >= 2 && states < 200, `states answered to 20,000 pulls: ${states}`);
  const r = await app.stop('SIGTERM');
  assert.equal(r.signal, 'SIGTERM');
  assert.deepEqual(diagLines(r.stderr), [], r.stderr);
});

test('two sessions on one port: two families; the second says "already in use" once', async () => {
  const port = await freePort();
  const env = { RESETWATCH_PORT: String(port) };
  const first = startApp(['one', '1', 'one-child:1'], env, { session: true });
  await first.ready(2);
  const s = await scrape(port);
  assert.equal(s.resets, 2);
  const second = startApp(['two', '4', 'two-child:1'], env, { session: true });
  await second.ready(2);
  await second.stderrUntil((e) => e.includes('already in use'), 'the "in use" line');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await scrape(port)).resets, 2, 'the other session is not summed in');
  const r1 = await first.stop('SIGTERM');
  const r2 = await second.stop('SIGTERM');
  assert.deepEqual(diagLines(r1.stderr), [], r1.stderr);
  const lines = diagLines(r2.stderr);
  assert.equal(lines.length, 1, r2.stderr);
  assert.match(lines[0], new RegExp(`${port} is already in use`));
});

test("another metrics token, same session and port: two families; the token-less one never serves the other's resets", async () => {
  const port = await freePort();
  const token = 's3cret-token';
  const guarded = startApp(['guarded', '2'], { RESETWATCH_PORT: String(port), RESETWATCH_METRICS_TOKEN: token });
  await guarded.ready();
  const open = startApp(['open', '3'], { RESETWATCH_PORT: String(port) });
  await open.ready();
  await open.stderrUntil((e) => e.includes('already in use'), 'the "in use" line');
  assert.equal((await rawRequest(port)).status, 401, 'the endpoint still wants the token');
  const withToken = await rawRequest(port, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(sumOf(parseExposition(withToken.body), 'resetwatch_resets_total'), 2, 'only the guarded process is summed');
  // The guarded leader leaves: the token-less process does not take its resets over.
  await guarded.stop('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  const after = await rawRequest(port).catch((err) => ({ status: 0, body: String(err) }));
  if (after.status === 200) assert.equal(sumOf(parseExposition(after.body), 'resetwatch_resets_total'), 3, 'only its own resets');
  await open.stop('SIGTERM');
});

test('the leader exits while a member is busy: the total never goes backwards during the takeover', async () => {
  const port = await freePort();
  const env = { RESETWATCH_PORT: String(port) };
  const leader = startApp(['leader', '5'], env);
  await leader.ready();
  await scrapeWhile(port, (x) => x.resets !== 5);
  const busy = spawn(NODE, [fixture('tree-busy.cjs'), '4'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: cleanEnv({ NODE_OPTIONS: `--require ${ROOT}`, ...env }),
  });
  started.push(busy);
  const other = startApp(['other', '2'], env);
  await other.ready();
  await scrapeWhile(port, (x) => x.resets !== 11);
  await new Promise((r) => setTimeout(r, 1000)); // hand-overs with every member's part have gone out
  await scrapeWhile(port, (x) => x.resets !== 11);
  process.kill(leader.child.pid, 'SIGTERM');
  // Scrapes for 6 s (the busy member may be the one that takes over: its scrapes are slow).
  const seen = [];
  const end = Date.now() + 6000;
  while (Date.now() < end || seen.length < 2) {
    if (Date.now() > end + 20000) break;
    try {
      const r = await rawRequest(port, { timeoutMs: 10000 });
      if (r.status === 200) seen.push(sumOf(parseExposition(r.body), 'resetwatch_resets_total'));
    } catch {
      /* the port changes hands: a refused scrape, as during any restart */
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(seen.length >= 2, `scrapes after the takeover: ${seen.length}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `totals ${[...new Set(seen)].join(' → ')}`);
  assert.equal(seen.at(-1), 11, `totals ${[...new Set(seen)].join(' → ')}`);
  await other.stop('SIGTERM');
});

async function scrapeWhile(port, pred) {
  const deadline = Date.now() + 15000;
  let last;
  for (;;) {
    try {
      last = await scrape(port);
      if (!pred(last)) return last;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) assert.fail(`last scrape ${JSON.stringify(last?.resets ?? last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('samples from another local process: a protocol outside the closed set is not served as a label value', async () => {
  const port = await freePort();
  const app = startApp(['root', '0'], { RESETWATCH_PORT: String(port) });
  await app.ready();
  const name = familyName('127.0.0.1', port);
  const sample = (protocol) => [
    {
      direction: 'client',
      phase: 'request',
      errorType: 'ECONNRESET',
      peer: '',
      tls: false,
      bytesReceived: 0,
      bytesSent: 0,
      connectionAgeMs: 1,
      protocol,
    },
    null,
  ];
  const items = [sample('postgres'), ...Array.from({ length: 50 }, (_, i) => sample(`evil-${i}`))];
  // One connection: a member's state, then its samples; kept open until the scrape.
  const s = await connectFamily(name);
  s.write(`${JSON.stringify({ t: 'state', id: 'm1', pid: 1, snap: { metrics: [], recent: [] } })}\n`);
  s.write(`${JSON.stringify({ t: 'samples', items })}\n`);
  let body = '';
  for (let i = 0; i < 100 && !/resetwatch_protocol="postgres"/.test(body); i++) {
    await new Promise((r) => setTimeout(r, 100));
    body = (await scrape(port)).body;
  }
  s.destroy();
  assert.match(body, /resetwatch_protocol="postgres"/, 'a well-formed sample is served');
  assert.doesNotMatch(body, /evil-/, 'a protocol outside PROTOCOLS never becomes a label value');
  await app.stop('SIGTERM');
});
