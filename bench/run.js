#!/usr/bin/env node
'use strict';
// `npm run bench`: every scenario in three variants, interleaved (A B C A B C …) after a warm-up
// round, each app in its own process and its load in another:
//   A  no agent
//   B  node --require resetwatch, every output on (Prometheus endpoint scraped every second during
//      the run, OTLP export to the receiver in this process, reset log lines to a file)
//   C  OpenTelemetry sdk-node + instrumentation-net + instrumentation-http, OTLP to the same receiver
// The app measures its own CPU time (process.cpuUsage) over each window; throughput comes from the
// load generator. Results: a table on stdout and bench/results/<date>.json. See docs/benchmarks.md.
//
// Options: --quick (smoke run, < 1 min)  --rounds=N  --only=id[,id]  --profile (one extra
// profiled window per scenario for every variant, analysed into the result)  --no-save
// --agent=DIR (B preloads DIR/dist/agent/index.js instead of this checkout's build: compare a
// change against a build of the previous commit, or measure while the tree is being edited)
// --calibrate (B runs with no agent at all: an A/A' run that shows the noise floor of B−A)
// --b-env=K=V[,K=V] (extra environment for B, e.g. RESETWATCH_PORT=off to switch an output off)
// --scrape-ms=N (Prometheus scrape interval for B, default 1000; 0 = no scraping)
// --no-pin (by default, with 2+ cores, the app runs on CPU 0 and everything else on CPU 1)
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const net = require('node:net');
const { analyseProfile } = require('./lib/profile');

const ROOT = path.resolve(__dirname, '..');
const opts = parseArgs(process.argv.slice(2));
// Pinned by default where there are two cores or more (see node() below); `--no-pin` to let the scheduler place.
if (opts.pin === undefined) opts.pin = os.cpus().length >= 2;
if (opts.pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
const Q = opts.quick;
const ROUNDS = opts.rounds || (Q ? 2 : 5);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-bench-'));
const VARIANTS = ['A', 'B', 'C'];
const AGENT_ROOT = opts.agent ? path.resolve(opts.agent) : ROOT;
const AGENT_REQUIRE = opts.agent ? path.join(AGENT_ROOT, 'dist', 'agent', 'index.js') : 'resetwatch';

/**
 * kind: 'passive' (load generator drives the app), 'active' (the app drives a peer process),
 * 'memory' (idle sockets). opsKey: the app counter one operation increments.
 */
const SCENARIOS = [
  {
    id: 'background', title: '0. Background: app idle, outputs on (B scraped every second, OTLP export every 1–2 s)', kind: 'idle',
    app: 'http-server.js', durationMs: Q ? 500 : 4000,
  },
  {
    id: 'http-keepalive', title: '1. HTTP keep-alive, saturating (autocannon, 16 connections, pipelining 8)', kind: 'passive',
    app: 'http-server.js', opsKey: 'requests', op: 'request',
    load: (port) => ['http-keepalive.js', `--port=${port}`, `--duration=${Q ? 1 : 4}`, '--connections=16', '--pipelining=8'],
  },
  {
    id: 'http-close', title: '2. HTTP, new TCP connection per request (16 at once)', kind: 'passive',
    app: 'http-server.js', opsKey: 'requests', op: 'request',
    load: (port) => ['http-close.js', `--port=${port}`, `--count=${Q ? 2000 : 25000}`, '--concurrency=16'],
  },
  {
    id: 'tcp-churn-server', title: '3a. Raw TCP churn, app accepts: connect, echo 6 bytes, close', kind: 'passive',
    app: 'tcp-echo.js', opsKey: 'connections', op: 'connection',
    load: (port) => ['tcp-churn.js', `--port=${port}`, `--count=${Q ? 3000 : 30000}`, '--concurrency=16'],
  },
  {
    id: 'tcp-churn-client', title: '3b. Raw TCP churn, app dials: connect, echo 6 bytes, close', kind: 'active',
    app: 'tcp-echo.js', opsKey: 'connections', op: 'connection', peer: 'echo-server.js',
    params: (peerPort) => ({ port: peerPort, count: Q ? 3000 : 30000, concurrency: 16 }),
  },
  {
    id: 'tls-churn', title: '4. TLS churn: full handshake (RSA 2048), echo, close', kind: 'passive',
    app: 'tls-server.js', opsKey: 'handshakes', op: 'handshake',
    load: (port) => ['tls-churn.js', `--port=${port}`, `--count=${Q ? 200 : 2500}`, '--concurrency=8'],
  },
  {
    id: 'reset-storm-1k', title: '5a. Reset storm, ~1,000 attempted resets/s (peer resets every connection)', kind: 'active',
    app: 'reset-client.js', opsKey: 'resets', op: 'reset', peer: 'reset-server.js', eld: true,
    params: (peerPort) => ({ port: peerPort, rate: 1000, durationMs: Q ? 600 : 4000 }),
  },
  {
    id: 'reset-storm-10k', title: '5b. Reset storm, ~10,000 attempted resets/s', kind: 'active',
    app: 'reset-client.js', opsKey: 'resets', op: 'reset', peer: 'reset-server.js', eld: true,
    params: (peerPort) => ({ port: peerPort, rate: 10000, durationMs: Q ? 600 : 3000 }),
  },
  {
    id: 'idle-sockets', title: `6. ${Q ? '2,000' : '10,000'} idle open sockets (server side)`, kind: 'memory',
    app: 'idle-server.js', count: Q ? 2000 : 10000, warm: Q ? 200 : 500,
  },
];

// ---------------------------------------------------------------------------------------------
// OTLP receiver (in this process) and the Prometheus scraper for variant B.

const received = { B: { traces: 0, metrics: 0, other: 0, bytes: 0 }, C: { traces: 0, metrics: 0, other: 0, bytes: 0 }, unknown: { traces: 0, metrics: 0, other: 0, bytes: 0 } };
const TAG = { B: Buffer.from('bench-B'), C: Buffer.from('bench-C') };
const receiver = http.createServer((req, res) => {
  let who = 'unknown';
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    if (who === 'unknown') {
      if (chunk.indexOf(TAG.B) !== -1) who = 'B';
      else if (chunk.indexOf(TAG.C) !== -1) who = 'C';
    }
  });
  req.on('end', () => {
    const r = received[who];
    r.bytes += bytes;
    if (req.url.startsWith('/v1/traces')) r.traces++;
    else if (req.url.startsWith('/v1/metrics')) r.metrics++;
    else r.other++;
    // An empty ExportServiceResponse: zero bytes in protobuf, {} in JSON.
    const proto = req.headers['content-type'] === 'application/x-protobuf';
    const body = proto ? '' : '{}';
    res.writeHead(200, { 'content-type': proto ? 'application/x-protobuf' : 'application/json', 'content-length': body.length });
    res.end(body);
  });
});

const scrapes = { ok: 0, failed: 0, lastStatus: null, lastError: null, lastSeries: 0, lastBytes: 0 };
function scrapeOnce(port, standInScrape) {
  const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 2000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => {
      if (standInScrape) return;
      scrapes.lastStatus = res.statusCode;
      if (res.statusCode === 200) {
        scrapes.ok++;
        scrapes.lastBytes = body.length;
        scrapes.lastSeries = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
      } else scrapes.failed++;
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => { if (!standInScrape) { scrapes.failed++; scrapes.lastError = err.code || err.message; } });
}
function startScraper(port, standInScrape = false) {
  if (opts.scrapeMs === 0) return () => {};
  scrapeOnce(port, standInScrape);
  const t = setInterval(() => scrapeOnce(port, standInScrape), opts.scrapeMs || 1000);
  return () => clearInterval(t);
}

// During A's and C's windows the harness scrapes this stand-in instead, so that the harness does
// the same work in every window (on 2 cores a scrape wakes the harness, which competes with the app
// and the load generator); only the serving of the scrape differs between variants.
const standInBody = Buffer.from((`# TYPE stand_in_total counter\n${'stand_in_total{label="value"} 1\n'.repeat(60)}`));
const standIn = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': standInBody.length });
  res.end(standInBody);
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Processes.

function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(RESETWATCH_|OTEL_|NODE_OPTIONS$)/.test(k)) delete env[k];
  return env;
}

const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
process.on('SIGINT', () => process.exit(130));

let receiverPort = 0;

async function appEnv(variant, scenario) {
  const env = cleanEnv();
  const flags = ['--expose-gc'];
  const info = {};
  if (variant === 'B' || variant === 'C') {
    Object.assign(env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_SERVICE_NAME: `bench-${variant}`,
      OTEL_METRIC_EXPORT_INTERVAL: '2000',
      OTEL_BSP_SCHEDULE_DELAY: '1000',
    });
  }
  if (variant === 'B') {
    info.metricsPort = await freePort();
    info.logFile = path.join(TMP, `${scenario.id}-B-${info.metricsPort}.log`);
    Object.assign(env, { RESETWATCH_PORT: String(info.metricsPort), RESETWATCH_LOG: info.logFile }, opts.bEnv);
    if (!opts.calibrate) flags.push('--require', AGENT_REQUIRE);
  } else if (variant === 'C') {
    flags.push('--require', path.join(__dirname, 'otel-preload.js'));
  }
  return { env, flags, info };
}

class App {
  static async start(variant, scenario) {
    const { env, flags, info } = await appEnv(variant, scenario);
    const app = new App(variant, info);
    app.child = track(spawn(...node([...flags, path.join(__dirname, 'apps', scenario.app)], 0), {
      cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }));
    app.child.on('message', (m) => app.onMessage(m));
    app.child.on('exit', (code, signal) => {
      app.exited = true;
      const w = app.waiting;
      app.waiting = null;
      if (w) w.reject(new Error(`${variant} ${scenario.app} exited (${code ?? signal}) while waiting for ${w.type}`));
    });
    const ready = await app.wait('ready', 60000);
    app.port = ready.port;
    return app;
  }

  constructor(variant, info) {
    this.variant = variant;
    this.info = info;
    this.waiting = null;
    this.exited = false;
  }

  onMessage(m) {
    const w = this.waiting;
    if (!w) return;
    if (m.type === 'error') { this.waiting = null; w.reject(new Error(`${this.variant}: ${m.message}`)); return; }
    if (m.type !== w.type) return;
    this.waiting = null;
    clearTimeout(w.timer);
    w.resolve(m);
  }

  wait(type, ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting = null; reject(new Error(`${this.variant}: no '${type}' within ${ms} ms`)); }, ms);
      this.waiting = { type, resolve, reject: (e) => { clearTimeout(timer); reject(e); }, timer };
    });
  }

  call(msg, type, ms = 180000) {
    const p = this.wait(type, ms);
    this.child.send(msg);
    return p;
  }

  async stop() {
    if (this.exited) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/**
 * Pinned (the default with 2+ cores): the app on CPU 0, its load generator, peers and this harness
 * on CPU 1 (taskset), so that every variant is placed alike. Unpinned, the scheduler sometimes puts
 * an app on the core of its load generator and it pays for the context switches: B−A keep-alive
 * ranged 0.90–1.42 µs/request over 5 rounds unpinned, 0.60–0.77 pinned.
 */
function node(args, cpu) {
  return opts.pin ? ['taskset', ['-c', String(cpu), process.execPath, ...args]] : [process.execPath, args];
}

/** A load generator: runs to completion and prints one JSON line. */
function runLoad(argv, ms = 180000) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(...node([path.join(__dirname, 'load', argv[0]), ...argv.slice(1)], 1), {
      cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'],
    }));
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop();
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line));
      } catch (err) {
        reject(new Error(`load ${argv[0]} failed (${err.message}): ${out.slice(-500)}`));
      }
    });
  });
}

/** A long-lived peer (echo/reset server, idle clients): resolves with its first JSON line. */
function startPeer(file, argv = [], ms = 60000) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(...node([path.join(__dirname, 'load', file), ...argv], 1), {
      cwd: ROOT, env: cleanEnv(), stdio: ['pipe', 'pipe', 'inherit'],
    }));
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${file}: no output within ${ms} ms`)); }, ms);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        const info = JSON.parse(out.slice(0, nl));
        resolve({ ...info, stop: () => new Promise((r) => { if (child.exitCode !== null) r(); else { child.once('exit', r); child.stdin.end(); } }) });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${file} exited ${code}`)); });
  });
}

// ---------------------------------------------------------------------------------------------
// One measured window.

async function measure(scenario, app, peer, profile) {
  const stopScrape = app.variant === 'B' ? startScraper(app.info.metricsPort) : startScraper(standIn.address().port, true);
  try {
    if (scenario.kind === 'idle') {
      await app.call({ cmd: 'start', profile }, 'started');
      await sleep(scenario.durationMs);
      const res = await app.call({ cmd: 'stop' }, 'result');
      return { variant: app.variant, ops: res.wallUs / 1e6, cpuUs: res.cpuUs, wallMs: res.wallUs / 1000, cpuMsPerS: res.cpuUs / res.wallUs * 1000, profile: res.profile };
    }
    if (scenario.kind === 'active') {
      const res = await app.call({ cmd: 'run', profile, ...scenario.params(peer.port) }, 'result');
      return record(scenario, app, res, null);
    }
    await app.call({ cmd: 'start', profile }, 'started');
    const load = await runLoad(scenario.load(app.port));
    const res = await app.call({ cmd: 'stop' }, 'result');
    return record(scenario, app, res, load);
  } finally {
    stopScrape();
  }
}

function record(scenario, app, res, load) {
  const ops = res.counters[scenario.opsKey];
  const r = {
    variant: app.variant,
    ops,
    cpuUs: res.cpuUs,
    cpuUserUs: res.cpuUserUs,
    cpuSystemUs: res.cpuSystemUs,
    wallMs: res.wallUs / 1000,
    counters: res.counters,
    rss: res.rss,
    rate: load ? load.rate : ops / (res.wallUs / 1e6),
    appRate: ops / (res.wallUs / 1e6),
    cpuPerOp: ops > 0 ? res.cpuUs / ops : NaN,
  };
  if (load) r.load = load;
  if (res.eld) {
    r.eld = res.eld;
    r.eldP99 = res.eld.p99;
    r.attemptRate = res.counters.attempts / (res.wallUs / 1e6);
  }
  if (res.profile) r.profile = res.profile;
  return r;
}

async function memoryRun(scenario, variant) {
  const spawned = Date.now();
  const app = await App.start(variant, scenario);
  try {
    // Warm the accept path (JIT, heap growth) with a few connections, then close them.
    const warm = await startPeer('idle-clients.js', [`--port=${app.port}`, `--count=${scenario.warm}`]);
    await warm.stop();
    await waitFor(async () => (await app.call({ cmd: 'mem' }, 'mem')).counters.connections >= scenario.warm, 20000);
    // The agent loads the OpenTelemetry SDK ~1 s after start (exporters/otel.ts): a one-off
    // that must not land between the two readings. Same wait for every variant.
    await sleep(Math.max(200, spawned + 1800 - Date.now()));
    const m0 = await app.call({ cmd: 'mem' }, 'mem');
    const load = await startPeer('idle-clients.js', [`--port=${app.port}`, `--count=${scenario.count}`], 120000);
    let m1;
    await waitFor(async () => {
      m1 = await app.call({ cmd: 'mem' }, 'mem');
      return m1.counters.connections >= scenario.warm + scenario.count;
    }, 60000);
    await sleep(200);
    m1 = await app.call({ cmd: 'mem' }, 'mem');
    await load.stop();
    return {
      variant,
      sockets: scenario.count,
      connected: load.connected,
      rss0: m0.rss, rss1: m1.rss, heap0: m0.heapUsed, heap1: m1.heapUsed,
      rssPerSocket: (m1.rss - m0.rss) / scenario.count,
      heapPerSocket: (m1.heapUsed - m0.heapUsed) / scenario.count,
    };
  } finally {
    await app.stop();
  }
}

async function waitFor(fn, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(50);
  }
  throw new Error(`condition not met within ${ms} ms`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Statistics and the table.

function stats(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

function metricsFor(scenario) {
  if (scenario.kind === 'idle') return [{ key: 'cpuMsPerS', label: 'app CPU ms/s', added: true }];
  if (scenario.kind === 'memory') {
    return [
      { key: 'rssPerSocket', label: 'RSS bytes/socket', added: true },
      { key: 'heapPerSocket', label: 'heap bytes/socket', added: true },
    ];
  }
  const m = [
    { key: 'rate', label: scenario.kind === 'active' ? `${scenario.op}s/s (app wall)` : `${scenario.op}s/s`, ratio: true },
    { key: 'cpuPerOp', label: `app CPU µs/${scenario.op}`, ratio: true, added: true },
  ];
  if (background) m.push({ key: 'cpuPerOpNet', label: `app CPU µs/${scenario.op} net of background`, added: true });
  if (scenario.eld) {
    m.push({ key: 'attemptRate', label: 'attempts/s' });
    m.push({ key: 'eldP99', label: 'event-loop delay p99 ms', ratio: true });
  }
  return m;
}

/**
 * Per-operation CPU net of the variant's fixed background cost (scenario 0, median ms/s beyond
 * A's): what one more operation costs, apart from scrapes and periodic exports.
 */
let background = null;
function addNet(scenario, rounds) {
  if (!background || scenario.kind === 'idle' || scenario.kind === 'memory') return;
  for (const r of rounds) {
    for (const v of VARIANTS) {
      const extraUsPerS = (background[v] - background.A) * 1000;
      r[v].cpuPerOpNet = r[v].cpuPerOp - extraUsPerS / r[v].appRate;
    }
  }
}

function summarise(scenario, rounds) {
  addNet(scenario, rounds);
  const out = {};
  for (const metric of metricsFor(scenario)) {
    const s = { label: metric.label };
    for (const v of VARIANTS) s[v] = { ...stats(rounds.map((r) => r[v][metric.key])), values: rounds.map((r) => r[v][metric.key]) };
    if (metric.ratio || metric.added) {
      for (const v of ['B', 'C']) {
        s[`${v}/A`] = stats(rounds.map((r) => r[v][metric.key] / r.A[metric.key]));
        if (metric.added) s[`${v}-A`] = stats(rounds.map((r) => r[v][metric.key] - r.A[metric.key]));
      }
    }
    out[metric.key] = s;
  }
  return out;
}

const { fmt } = require('./lib/format');
const cell = (s) => (s?.n ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : '–');

function printSummary(scenario, summary) {
  console.log(`\n${scenario.title}`);
  const rows = [['metric', 'A', 'B', 'C', 'B/A', 'C/A', 'B−A', 'C−A']];
  for (const s of Object.values(summary)) {
    rows.push([s.label, cell(s.A), cell(s.B), cell(s.C), cell(s['B/A']), cell(s['C/A']), cell(s['B-A']), cell(s['C-A'])]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`);
}

// ---------------------------------------------------------------------------------------------
// Targets (docs/benchmarks.md): evaluated on medians of the per-round pairs.

function targets(results) {
  const get = (id, key, col) => results[id]?.summary[key]?.[col]?.median;
  const t = [];
  const add = (name, value, ok, detail) => t.push({ name, value, met: Number.isFinite(value) ? ok(value) : null, detail });
  add('keep-alive requests/s B/A ≥ 0.99 (throughput)', get('http-keepalive', 'rate', 'B/A'), (v) => v >= 0.99);
  add('keep-alive capacity A/B CPU per request ≥ 0.99', 1 / get('http-keepalive', 'cpuPerOp', 'B/A'), (v) => v >= 0.99);
  add('connection-churn requests/s B/A ≥ 0.98 (throughput)', get('http-close', 'rate', 'B/A'), (v) => v >= 0.98);
  add('connection-churn capacity A/B CPU per request ≥ 0.98', 1 / get('http-close', 'cpuPerOp', 'B/A'), (v) => v >= 0.98);
  for (const id of ['tcp-churn-server', 'tcp-churn-client']) {
    const b = get(id, 'cpuPerOp', 'B-A');
    const c = get(id, 'cpuPerOp', 'C-A');
    add(`${id}: added CPU µs/connection (B−A) ≤ 0.5`, b, (v) => v <= 0.5);
    add(`${id}: added CPU µs/connection net of background (B−A) ≤ 0.5`, get(id, 'cpuPerOpNet', 'B-A'), (v) => v <= 0.5);
    // C's instrumentation-net traces only sockets the app dials: on accepted sockets C adds nothing.
    if (id === 'tcp-churn-client') add(`${id}: (C−A)/(B−A) added CPU ≥ 5`, b > 0 ? c / b : (c > 0 ? Infinity : NaN), (v) => v >= 5);
    const p = results[id]?.profiles;
    if (p) {
      add(`${id}: agent CPU µs/connection by profile ≤ 0.5`, p.B.agentUsPerOp, (v) => v <= 0.5);
      if (id === 'tcp-churn-client') add(`${id}: C OpenTelemetry self time / B agent time, by profile ≥ 5`, p.C.otelSelfUsPerOp / p.B.agentUsPerOp, (v) => v >= 5);
    }
  }
  for (const id of ['reset-storm-1k', 'reset-storm-10k']) {
    add(`${id}: all outputs CPU µs/reset (B−A) ≤ 10`, get(id, 'cpuPerOp', 'B-A'), (v) => v <= 10);
  }
  add('reset-storm-10k: event-loop delay p99 B/A ≤ 2', get('reset-storm-10k', 'eldP99', 'B/A'), (v) => v <= 2);
  add('idle sockets: added RSS bytes/socket (B−A) ≤ 200', get('idle-sockets', 'rssPerSocket', 'B-A'), (v) => v <= 200);
  add('idle sockets: added heap bytes/socket (B−A) ≤ 200 (the part of RSS the agent allocates)', get('idle-sockets', 'heapPerSocket', 'B-A'), (v) => v <= 200);
  add('background (informational): B−A app CPU ms/s, idle app, all outputs on', get('background', 'cpuMsPerS', 'B-A'), () => true);
  return t.filter((x) => x.value !== undefined);
}

// ---------------------------------------------------------------------------------------------

async function runScenario(scenario) {
  const t0 = Date.now();
  console.log(`\n== ${scenario.title}  (${ROUNDS} rounds${Q ? ', no warm-up (--quick)' : ' after a warm-up'})`);
  const rounds = [];
  if (scenario.kind === 'memory') {
    for (let round = 0; round < ROUNDS; round++) {
      const r = {};
      for (const v of VARIANTS) r[v] = await memoryRun(scenario, v);
      rounds.push(r);
      console.log(`  round ${round + 1}: ${VARIANTS.map((v) => `${v} ${fmt(r[v].rssPerSocket)} B/socket (heap ${fmt(r[v].heapPerSocket)})`).join(', ')}`);
    }
    return { title: scenario.title, rounds, summary: summarise(scenario, rounds), seconds: (Date.now() - t0) / 1000 };
  }
  const peer = scenario.peer ? await startPeer(scenario.peer) : null;
  const apps = {};
  try {
    await Promise.all(VARIANTS.map(async (v) => { apps[v] = await App.start(v, scenario); }));
    if (!Q) for (const v of VARIANTS) await measure(scenario, apps[v], peer); // warm-up, not recorded
    for (let round = 0; round < ROUNDS; round++) {
      const r = {};
      for (const v of VARIANTS) r[v] = await measure(scenario, apps[v], peer);
      rounds.push(r);
      console.log(`  round ${round + 1}: ${VARIANTS.map((v) => (scenario.kind === 'idle' ? `${v} ${fmt(r[v].cpuMsPerS)} ms/s`
        : `${v} ${fmt(r[v].rate)}/s ${fmt(r[v].cpuPerOp)} µs${r[v].eld ? ` p99 ${fmt(r[v].eldP99)} ms` : ''}`)).join(', ')}`);
    }
    let profiles;
    if (opts.profile) {
      profiles = {};
      fs.mkdirSync(path.join(__dirname, 'results', 'profiles'), { recursive: true });
      for (const v of ['A', 'B', 'C']) {
        const file = path.join(__dirname, 'results', 'profiles', `${scenario.id}-${v}.cpuprofile`);
        const r = await measure(scenario, apps[v], peer, file);
        profiles[v] = { ops: r.ops, cpuUs: r.cpuUs, file: path.relative(ROOT, file), ...analyseProfile(file, r.ops, AGENT_ROOT) };
      }
      printProfile(scenario, profiles);
    }
    return { title: scenario.title, rounds, summary: summarise(scenario, rounds), profiles, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await Promise.all(Object.values(apps).map((a) => a.stop()));
    if (peer) await peer.stop();
  }
}

function printProfile(scenario, profiles) {
  const p = profiles.B;
  if (scenario.kind === 'idle') {
    console.log(`  profile B: agent ${fmt(p.agentUsPerOp / 1000)} ms/s inclusive; by module: ` +
      p.modules.slice(0, 5).map((m) => `${m.module} ${fmt(m.usPerOp / 1000)}`).join(', '));
    return;
  }
  console.log(`  profile B (${p.ops} ${scenario.op}s): agent ${fmt(p.agentUsPerOp)} µs/${scenario.op} inclusive, ` +
    `self ${fmt(p.agentSelfUsPerOp)}; GC ${fmt(p.gcUsPerOp)} µs/${scenario.op} (A: ${fmt(profiles.A.gcUsPerOp)}); ` +
    `C: OpenTelemetry self ${fmt(profiles.C.otelSelfUsPerOp)} µs/${scenario.op}`);
  console.log(`    by module: ${p.modules.slice(0, 6).map((m) => `${m.module} ${fmt(m.usPerOp)}`).join(', ')}`);
  for (const f of p.top.slice(0, 8)) console.log(`    ${fmt(f.usPerOp).padStart(7)} µs  ${f.frame}`);
}

function machine() {
  const cpus = os.cpus();
  let commit = '';
  let dirty = null;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (!opts.agent) dirty = execFileSync('git', ['status', '--porcelain', '--', 'agent', 'exporters'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch { /* not a checkout */ }
  return {
    cpu: cpus[0]?.model, cores: cpus.length, node: process.version, platform: `${os.platform()} ${os.release()}`,
    memoryBytes: os.totalmem(), loadavg: os.loadavg(), commit, calibrate: !!opts.calibrate, pinned: !!opts.pin, bEnv: opts.bEnv, scrapeMs: opts.scrapeMs ?? 1000, agent: opts.agent ? AGENT_ROOT : 'this checkout (dist/)', agentSourcesDirty: dirty,
  };
}

async function main() {
  const started = new Date();
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  await new Promise((r) => standIn.listen(0, '127.0.0.1', r));
  receiverPort = receiver.address().port;
  const selected = SCENARIOS.filter((s) => !opts.only || opts.only.some((o) => s.id.includes(o)));
  const mach = machine();
  console.log(`resetwatch bench${Q ? ' --quick' : ''}: ${mach.cpu}, ${mach.cores} cores, Node ${mach.node}, load ${mach.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
  const results = {};
  for (const s of selected) {
    results[s.id] = await runScenario(s);
    printSummary(s, results[s.id].summary);
    if (s.kind === 'idle') {
      const sum = results[s.id].summary.cpuMsPerS;
      background = { A: sum.A.median, B: sum.B.median, C: sum.C.median };
    }
  }
  const logLines = fs.readdirSync(TMP).filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + fs.readFileSync(path.join(TMP, f), 'utf8').split('\n').filter(Boolean).length, 0);
  const outputs = { prometheusScrapes: scrapes, otlpReceived: received, resetLogLines: logLines };
  const tgt = targets(results);
  console.log('\nTargets (median of per-round pairs):');
  for (const t of tgt) console.log(`  ${t.met === null ? '  ?' : t.met ? 'met ' : 'MISS'}  ${t.name}: ${fmt(t.value)}`);
  console.log(`\nOutputs of B: ${scrapes.ok} scrapes ok, ${scrapes.failed} failed (last: ${scrapes.lastStatus ?? scrapes.lastError}, ${scrapes.lastSeries} series); ` +
    `OTLP requests from B: ${received.B.traces} traces, ${received.B.metrics} metrics; from C: ${received.C.traces} traces, ${received.C.metrics} metrics; ` +
    `unattributed ${received.unknown.traces + received.unknown.metrics}; ${logLines} reset log lines`);
  const doc = {
    date: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    quick: !!Q,
    rounds: ROUNDS,
    machine: mach,
    loadavgEnd: os.loadavg(),
    method: 'Variants A (no agent), B (--require resetwatch, all outputs), C (OpenTelemetry sdk-node + net + http instrumentations) ' +
      'run interleaved A B C per round after a warm-up; app CPU from process.cpuUsage() in the app over the window; ratios and differences are per round pair.',
    outputs,
    targets: tgt,
    scenarios: results,
  };
  if (!opts.noSave) {
    const stamp = started.toISOString().replace(/:\d\d\.\d+Z$/, 'Z').replace(':', '');
    const file = path.join(__dirname, 'results', `${stamp}${Q ? '-quick' : ''}${opts.only ? '-partial' : ''}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`\nwritten ${path.relative(ROOT, file)} (${Math.round(doc.durationSeconds)} s)`);
  }
  receiver.close();
  standIn.close();
  fs.rmSync(TMP, { recursive: true, force: true });
}

function parseArgs(argv) {
  const o = {};
  for (const a of argv) {
    if (a === '--quick') o.quick = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-save') o.noSave = true;
    else if (a.startsWith('--rounds=')) o.rounds = Math.max(1, Number(a.slice(9)) | 0);
    else if (a.startsWith('--only=')) o.only = a.slice(7).split(',').filter(Boolean);
    else if (a.startsWith('--agent=')) o.agent = a.slice(8);
    else if (a === '--calibrate') o.calibrate = true;
    else if (a === '--pin') o.pin = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a.startsWith('--scrape-ms=')) o.scrapeMs = Math.max(0, Number(a.slice(12)) | 0);
    else if (a.startsWith('--b-env=')) o.bEnv = Object.fromEntries(a.slice(8).split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    else { console.error(`bench: unknown option ${a} (known: --quick --rounds=N --only=id,… --profile --no-save --agent=DIR --calibrate --pin --no-pin --b-env=K=V,… --scrape-ms=N)`); process.exit(2); }
  }
  return o;
}

main().then(() => process.exit(0), (err) => {
  console.error(`bench failed: ${err.stack || err}`);
  process.exit(1);
});
