// A process that serves its own metrics alone serves the text it rendered last while nothing it is
// made of changed (exporters/prometheus/unchanged.ts). Each way its exposition can change must
// make the next scrape render again: after each one, what is served must equal a fresh render,
// in both formats. And while nothing changed, nothing is collected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { ROOT, NODE, rawRequest, parseExposition, sumOf } from './helpers/prometheus.mjs';
import { freePort } from './helpers/ports.mjs';

const require = createRequire(import.meta.url);
const collect = require('../dist/exporters/prometheus/collect.js');
const { render } = require('../dist/exporters/prometheus/render.js');
const { stats, countDropped } = require('../dist/agent/stats.js');
const { threadCounts } = require('../dist/exporters/prometheus/threads.js');
const { setConstantLabels } = require('../dist/exporters/shared/labels.js');
const { Counter } = require('prom-client');

const SETTINGS = { maxPeers: 3, serverPeers: false, recent: 10 };

function sample(peer, traced = false) {
  const s = {
    direction: 'client',
    phase: 'response',
    errorType: 'ECONNRESET',
    tls: false,
    protocol: 'http/1.1',
    peer,
    bytesReceived: 100,
    bytesSent: 10,
    connectionAgeMs: 1500,
  };
  if (traced) {
    s.traceId = 'c'.repeat(32);
    s.spanId = 'd'.repeat(16);
  }
  return s;
}

/** Calls of get() on the registry's metrics: a scrape served again collects nothing. */
let gets = 0;
for (const m of collect.registry.getMetricsAsArray()) {
  const get = m.get;
  m.get = function (...args) {
    gets++;
    return get.apply(this, args);
  };
}

/** What the endpoint serves now, in both formats, checked against a fresh render of the same state. */
async function served(what) {
  const out = [];
  for (const om of [false, true]) {
    const text = await collect.exposition(om);
    const fresh = await render((await collect.ownSnapshot()).metrics, om);
    assert.equal(text, fresh, `${what}: ${om ? 'OpenMetrics' : 'text'} served is not what a fresh render gives`);
    out.push(text);
  }
  return out;
}

test('every kind of change renders again; no change serves the last text without collecting', async () => {
  collect.configure(SETTINGS);
  const changes = [
    ['a reset recorded', () => collect.record(sample('db1:5432'), undefined)],
    ['a reset with an exemplar', () => collect.record(sample('db1:5432', true), undefined)],
    [
      'a reset whose peer is folded',
      () => {
        for (const p of ['db2:1', 'db3:1', 'db4:1', 'db5:1']) collect.record(sample(p), undefined);
      },
    ],
    ['a connection', () => stats.connections.client.plain++],
    ['a TLS server connection', () => stats.connections.server.tls++],
    ["a worker thread's connection", () => threadCounts.connections.client.tls++],
    // A socket the app upgrades to TLS itself (STARTTLS) moves from plain to TLS: the sum stays.
    [
      'a connection upgraded to TLS',
      () => {
        stats.connections.client.plain--;
        stats.connections.client.tls++;
      },
    ],
    [
      "a worker thread's connection upgraded",
      () => {
        threadCounts.connections.client.tls--;
        threadCounts.connections.client.plain++;
      },
    ],
    ['an agent error', () => stats.agentErrors++],
    ["a worker thread's agent error", () => threadCounts.agentErrors++],
    ['a drop', () => countDropped('otel')],
    ['a new kind of drop, counted 0', () => countDropped('test-output', 0)],
    ["a worker thread's drop", () => (threadCounts.dropped.log = (threadCounts.dropped.log ?? 0) + 1)],
    // Without a family nothing sums this process's part, so its peers already counted stay as they are.
    ['settings applied (a lower peer bound)', () => collect.configure({ ...SETTINGS, maxPeers: 1 }), 'same'],
    ['constant labels', () => setConstantLabels(Object.freeze({ cluster: 'eu-1' }))],
    // Every metric is read at collection: nothing served changes.
    ["the app's resetMetrics() on resetwatch's registry", () => collect.registry.resetMetrics(), 'same'],
    // …and an app's write into one of resetwatch's metrics is overwritten there.
    [
      "the app's writes into resetwatch's own metrics",
      () => {
        collect.registry.getSingleMetric('resetwatch_info').set({ version: 'x', node_version: 'y' }, 1);
        collect.registry.getSingleMetric('resetwatch_peers_folded_total').inc(5);
        collect.registry
          .getSingleMetric('resetwatch_connections_total')
          .inc({ resetwatch_direction: 'client', resetwatch_tls: 'false' }, 7);
      },
      'same',
    ],
  ];
  let last = await served('at first');
  for (const [what, change, same] of changes) {
    change();
    const now = await served(what);
    if (same) assert.deepEqual(now, last, `${what}: the served text changed`);
    else assert.notDeepEqual(now, last, `${what}: the served text did not change`);
    last = now;
    const before = gets;
    for (const om of [false, true]) assert.equal(await collect.exposition(om), last[om ? 1 : 0], `${what}: served again`);
    assert.equal(gets, before, `${what}: nothing changed since, yet the metrics were collected again`);
  }
});

test("an app's own metric on resetwatch's registry is served as it changes; once removed, the cache serves again", async () => {
  const mine = new Counter({ name: 'app_jobs_total', help: 'jobs', registers: [collect.registry] });
  const a = await served('app metric at 0');
  mine.inc();
  const b = await served('app metric at 1');
  assert.notDeepEqual(a, b);
  assert.match(b[0], /^app_jobs_total(\{[^}]*\})? 1$/m);
  collect.registry.removeSingleMetric('app_jobs_total');
  await served('app metric removed');
  const before = gets;
  await collect.exposition(false);
  assert.equal(gets, before, 'served again once only resetwatch metrics are left');
});

test('a /resets collection under way when a reset is recorded does not leave a stale text behind', async () => {
  await served('before');
  // /resets starts a collection; a reset is recorded before /metrics joins that collection.
  const resets = collect.recentResets(5);
  collect.record(sample('db1:5432'), undefined);
  const joined = await collect.exposition(false);
  await resets;
  const [text] = await served('after the shared collection');
  assert.notEqual(text, joined, 'the reset recorded after the shared collection began is served');
});

/** The client connections the endpoint on `port` serves (retried while it is not up yet). */
async function clientConnections(port, who) {
  for (let i = 0; i < 50; i++) {
    const res = await rawRequest(port).catch(() => undefined);
    if (res?.status === 200) return sumOf(parseExposition(res.body), 'resetwatch_connections_total', { resetwatch_direction: 'client' });
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the ${who} never served`);
}

// A family leader serves from its cache only while it has never had a member: a member's counts
// (here, its connections) appear in the next scrape, and stay after it exits.
test('a family leader alone serves again; once a member joined, its counts are in every scrape, also after it left', async () => {
  const port = await freePort();
  const env = { ...process.env, RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' };
  const spawnApp = (code) => spawn(NODE, ['--require', 'resetwatch', '-e', code], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const leader = spawnApp("setInterval(() => {}, 1000); process.stdout.write('up\\n')");
  try {
    await new Promise((r) => leader.stdout.once('data', r));
    const scrape = () => clientConnections(port, 'leader');
    const alone = await scrape();
    assert.equal(await scrape(), alone);
    // A member that opens 3 client connections and exits.
    const server = net.createServer((s) => s.end()).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const member = spawnApp(`
      const net = require('node:net');
      let n = 0;
      const one = () => net.connect(${server.address().port}, '127.0.0.1').on('close', () => (++n < 3 ? one() : setTimeout(() => {}, 1500)));
      one();`);
    const exited = new Promise((r) => member.on('exit', r));
    let seen = alone;
    for (let i = 0; i < 100 && seen < alone + 3; i++) {
      seen = await scrape();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(seen, alone + 3, "the member's connections are served");
    await exited;
    server.close();
    assert.equal(await scrape(), alone + 3, "a departed member's connections stay");
    assert.equal(await scrape(), alone + 3);
  } finally {
    leader.kill();
  }
});

// A cluster primary serves from its cache only while it has no worker (live or gone): a worker's
// counts appear in the next scrape.
test("a cluster primary's worker forked after a cached scrape is in the next scrape", async () => {
  const port = await freePort();
  const target = net.createServer((s) => s.end()).listen(0, '127.0.0.1');
  await new Promise((r) => target.once('listening', r));
  const app = `
    const cluster = require('node:cluster');
    const net = require('node:net');
    if (cluster.isPrimary) {
      setInterval(() => {}, 1000);
      process.stdin.on('data', () => cluster.fork().on('message', (m) => process.stdout.write(m + '\\n')));
      process.stdout.write('up\\n');
    } else {
      let n = 0;
      const one = () => net.connect(${target.address().port}, '127.0.0.1').on('close', () => (++n < 2 ? one() : process.send('connected')));
      one();
      setInterval(() => {}, 1000);
    }`;
  // A file: cluster.fork() runs the primary's script again, and `-e` has none.
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'rw-unchanged-')), 'app.js');
  writeFileSync(file, app);
  const primary = spawn(NODE, ['--require', 'resetwatch', file], {
    cwd: ROOT,
    env: { ...process.env, RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines = [];
  primary.stdout.setEncoding('utf8').on('data', (d) => lines.push(...d.split('\n').filter(Boolean)));
  const until = async (line) => {
    for (let i = 0; i < 200 && !lines.includes(line); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(lines.includes(line), `no '${line}' from the app`);
  };
  try {
    await until('up');
    const scrape = () => clientConnections(port, 'primary');
    const alone = await scrape();
    assert.equal(await scrape(), alone);
    primary.stdin.write('fork\n');
    await until('connected');
    assert.equal(await scrape(), alone + 2, "the worker's connections are served");
  } finally {
    primary.kill();
    target.close();
  }
});
