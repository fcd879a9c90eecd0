#!/usr/bin/env node
'use strict';
// `npm run bench`: every scenario in the variants of bench/lib/variants.js, interleaved per round
// (A B Bo … A B Bo …) after a warm-up, each app in its own process and its load in another:
//   A no agent · B resetwatch at default settings (endpoint scraped every 15 s, no OTLP) · Bo B with
//   OTLP traces and metrics at the SDK's default intervals · Bs the stress settings (1 s scrapes,
//   1–2 s exports) · Bd RESETWATCH_DISABLED=1 (startup only) · C OpenTelemetry SDK + net + http ·
//   D @opentelemetry/auto-instrumentations-node · E dd-trace (D and E from bench/peers, a cache).
// The headline is whole-process CPU: process.cpuUsage() in the app over the window (getrusage,
// every thread), split per thread from /proc as the explanation; startup CPU is the children's
// rusage (bash `times`). Results: tables on stdout and bench/results/<date>.json. See docs/benchmarks.md.
//
// Options: --quick (smoke run, < 2 min)  --rounds=N  --only=id[,id]  --variants=B,Bo,… (A always)  --profile (one extra
// profiled window per scenario for every variant, analysed into the result)  --no-save
// --agent=DIR (B preloads DIR/dist/agent/index.js instead of this checkout's build: compare a
// change against a build of the previous commit, or measure while the tree is being edited)
// --calibrate (B runs with no agent at all: an A/A' run that shows the noise floor of B−A)
// --b-env=K=V[,K=V] (extra environment for every resetwatch variant, e.g. RESETWATCH_PORT=off)
// --scrape-ms=N (scrape interval for B and Bo, default 15000; 0 = no scraping; Bs keeps 1000)
// --no-pin (by default, with 2+ cores, the app runs on CPU 0 and everything else on CPU 1)
//
// Layout: this file holds the options, the scenarios and the run; bench/lib/harness.js starts and
// drives the processes, bench/lib/receiver.js is what B exports to, bench/lib/statistics.js and
// bench/lib/report.js turn rounds into the tables, targets and the saved JSON.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { analyseProfile } = require('./lib/profile');
const { received, receiver, scrapes } = require('./lib/receiver');
const { createHarness } = require('./lib/harness');
const { summarise } = require('./lib/statistics');
const { VARIANT_DEFS } = require('./lib/variants');
const { peersDir } = require('./lib/peers');
const { printSummary, printProfile, targets, machine } = require('./lib/report');
const { fmt, fmtTarget } = require('./lib/format');

const ROOT = path.resolve(__dirname, '..');
const opts = parseArgs(process.argv.slice(2));
// Pinned by default where there are two cores or more (see node() below); `--no-pin` to let the scheduler place.
if (opts.pin === undefined) opts.pin = os.cpus().length >= 2;
if (opts.pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
const Q = opts.quick;
const ROUNDS = opts.rounds || (Q ? 1 : 5);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-bench-'));
const AGENT_ROOT = opts.agent ? path.resolve(opts.agent) : ROOT;
const AGENT_REQUIRE = opts.agent ? path.join(AGENT_ROOT, 'dist', 'agent', 'index.js') : 'resetwatch';
const { App, startPeer, measure, memoryRun, idleWindow, startupRun, sleep, setReceiverPort } = createHarness({
  opts,
  root: ROOT,
  tmp: TMP,
  agentRequire: AGENT_REQUIRE,
});
/** Scenario 0's median ms/s per variant, once it ran: per-operation CPU is also given net of it. */
let background = null;

/**
 * kind: 'passive' (load generator drives the app), 'active' (the app drives a peer process),
 * 'memory' (idle sockets). opsKey: the app counter one operation increments.
 */
// Which variants run where (bench/lib/variants.js). The peers only where they do something: C, D
// and E instrument sockets the app dials and HTTP servers, not accepted raw sockets or TLS.
const ALL = ['A', 'B', 'Bo', 'Bs', 'C', 'D', 'E'];
const DEFAULTS = ['A', 'B', 'Bo', 'C', 'D', 'E'];
const OWN = ['A', 'B', 'Bo'];

const SCENARIOS = [
  {
    id: 'startup-e1',
    title: 'S1. Startup: `node -e 1` with the preload, one run after another (CPU of all threads, wall)',
    kind: 'startup',
    variants: ['A', 'B', 'Bd', 'Bo', 'C', 'D', 'E'],
    runs: Q ? 3 : 8,
    rounds: Q ? 1 : 7, // every variant once in each place
    argv: () => ['-e', '1'],
  },
  {
    id: 'startup-app200',
    title: 'S2. Startup: an app of 200 CommonJS modules that loads and exits',
    kind: 'startup',
    variants: ['A', 'B', 'Bd', 'C', 'D', 'E'],
    runs: Q ? 3 : 6,
    argv: (tmp) => [app200(tmp)],
  },
  {
    id: 'background',
    title: `0. Background: app idle, every variant at once over ${Q ? 3 : 60} s windows (B, Bo scraped every 15 s, Bs every 1 s)`,
    kind: 'idle',
    app: 'http-server.js',
    variants: ALL,
    rounds: Q ? 1 : 3,
    // A whole number of every period in each window: four 15 s scrapes, one 60 s OTLP metric
    // export (Bo, C, D), so that no window holds one cold wake-up more than another (a scrape
    // is ~2–3 ms of CPU cold: ±0.07 ms/s in a 40 s window).
    durationMs: Q ? 3000 : 60000,
    // From 60 s after start: the first scrapes load and compile the endpoint's path (14, 4, then
    // ~3 ms each, ~2.3 after 3 minutes: docs/benchmarks.md "Sixteenth pass").
    settleMs: Q ? 1500 : 60000,
  },
  {
    id: 'http-keepalive',
    title: '1. HTTP keep-alive, saturating (autocannon, 16 connections, pipelining 8)',
    kind: 'passive',
    app: 'http-server.js',
    variants: ALL,
    opsKey: 'requests',
    op: 'request',
    load: (port) => ['http-keepalive.js', `--port=${port}`, `--duration=${Q ? 1 : 3}`, '--connections=16', '--pipelining=8'],
  },
  {
    id: 'http-close',
    title: '2. HTTP, new TCP connection per request (16 at once)',
    kind: 'passive',
    app: 'http-server.js',
    variants: DEFAULTS,
    opsKey: 'requests',
    op: 'request',
    load: (port) => ['http-close.js', `--port=${port}`, `--count=${Q ? 2000 : 15000}`, '--concurrency=16'],
  },
  {
    id: 'tcp-churn-server',
    title: '3a. Raw TCP churn, app accepts: connect, echo 6 bytes, close',
    kind: 'passive',
    app: 'tcp-echo.js',
    variants: OWN,
    opsKey: 'connections',
    op: 'connection',
    load: (port) => ['tcp-churn.js', `--port=${port}`, `--count=${Q ? 3000 : 20000}`, '--concurrency=16'],
  },
  {
    id: 'tcp-churn-client',
    title: '3b. Raw TCP churn, app dials: connect, echo 6 bytes, close',
    kind: 'active',
    app: 'tcp-echo.js',
    variants: DEFAULTS,
    opsKey: 'connections',
    op: 'connection',
    peer: 'echo-server.js',
    params: (peerPort) => ({ port: peerPort, count: Q ? 3000 : 20000, concurrency: 16 }),
  },
  {
    id: 'tls-churn',
    title: '4. TLS churn: full handshake (RSA 2048), echo, close',
    kind: 'passive',
    app: 'tls-server.js',
    variants: OWN,
    opsKey: 'handshakes',
    op: 'handshake',
    load: (port) => ['tls-churn.js', `--port=${port}`, `--count=${Q ? 200 : 2000}`, '--concurrency=8'],
  },
  {
    id: 'reset-storm-1k',
    title: '5a. Reset storm, ~1,000 attempted resets/s (peer resets every connection)',
    kind: 'active',
    app: 'reset-client.js',
    variants: DEFAULTS,
    opsKey: 'resets',
    op: 'reset',
    peer: 'reset-server.js',
    eld: true,
    // 10 s windows: two of Bo's span exports (every 5 s) in every window, so that the periodic
    // work is sampled evenly (a 3 s window held zero or one at random); 3 rounds instead of 5.
    params: (peerPort) => ({ port: peerPort, rate: 1000, durationMs: Q ? 600 : 10000 }),
    rounds: Q ? 1 : 3,
    storm: true,
  },
  {
    id: 'reset-storm-10k',
    title: '5b. Reset storm, ~10,000 attempted resets/s',
    kind: 'active',
    app: 'reset-client.js',
    variants: ALL,
    opsKey: 'resets',
    op: 'reset',
    peer: 'reset-server.js',
    eld: true,
    params: (peerPort) => ({ port: peerPort, rate: 10000, durationMs: Q ? 600 : 2500 }),
    storm: true,
  },
  {
    id: 'idle-sockets',
    title: `6. ${Q ? '2,000' : '10,000'} idle open sockets (server side)`,
    kind: 'memory',
    app: 'idle-server.js',
    variants: DEFAULTS,
    rounds: Q ? 1 : 3,
    count: Q ? 2000 : 10000,
    warm: Q ? 200 : 500,
  },
];

/**
 * The variants in the order of round `round`, rotated by one place each round (every scenario that
 * measures them in turn; the idle one measures them all at once). In
 * a fixed order a variant's place moved its figure more than its own work did: the agent switched
 * off read slower than the agent on at startup, and in A/A′ runs of keep-alive (--calibrate, two
 * processes without an agent) the second of the pair read 0.91–0.97× the first in six runs of six.
 */
function rotated(variants, round) {
  const shift = round % variants.length;
  return [...variants.slice(shift), ...variants.slice(0, shift)];
}

/** Writes (once) an app of 200 small CommonJS modules, each with a class and a few functions, that loads and exits. */
function app200(tmp) {
  const dir = path.join(tmp, 'app200');
  const main = path.join(dir, 'index.js');
  if (fs.existsSync(main)) return main;
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  for (let i = 0; i < 200; i++) {
    const dep = i % 10 === 0 || i === 0 ? '' : `const prev = require('./m${i - 1}');\n`;
    fs.writeFileSync(
      path.join(dir, 'lib', `m${i}.js`),
      `'use strict';\n${dep}class Thing${i} {\n  constructor(x) { this.x = x; this.items = []; }\n  add(v) { this.items.push(v * ${i}); return this; }\n  sum() { return this.items.reduce((a, b) => a + b, 0); }\n}\n` +
        `function make${i}(n) { const t = new Thing${i}(n); for (let k = 0; k < 3; k++) t.add(k); return t; }\n` +
        `const table = Object.freeze({ id: ${i}, name: 'module-${i}', tags: ['a', 'b', 'c'] });\n` +
        `module.exports = { Thing${i}, make${i}, table${dep ? ', prev' : ''} };\n`,
    );
  }
  const requires = Array.from({ length: 20 }, (_, k) => `require('./lib/m${k * 10 + 9}');`).join('\n');
  fs.writeFileSync(main, `'use strict';\nrequire('node:http');\nrequire('node:net');\n${requires}\n`);
  return main;
}

// ---------------------------------------------------------------------------------------------

async function runScenario(scenario) {
  const t0 = Date.now();
  const variants = scenario.variants;
  const rounds = [];
  const nRounds = opts.rounds || scenario.rounds || ROUNDS;
  console.log(`\n== ${scenario.title}  (${variants.join(' ')}; ${nRounds} rounds${Q ? ', no warm-up (--quick)' : ' after a warm-up'})`);
  const done = () => ({
    title: scenario.title,
    variants,
    rounds,
    summary: summarise(scenario, rounds, background),
    seconds: (Date.now() - t0) / 1000,
  });
  if (scenario.kind === 'startup') {
    // One run of each first (disk cache, the peers' first compile); then rounds of `runs` each, interleaved.
    if (!Q) for (const v of variants) await startupRun(scenario, v, 1);
    for (let round = 0; round < nRounds; round++) {
      const r = {};
      for (const v of rotated(variants, round)) r[v] = await startupRun(scenario, v, scenario.runs);
      rounds.push(r);
      console.log(
        `  round ${round + 1}: ${variants.map((v) => `${v} ${fmt(r[v].cpuMsPerRun)} ms CPU ${fmt(r[v].wallMsPerRun)} ms wall`).join(', ')}`,
      );
    }
    return done();
  }
  if (scenario.kind === 'memory') {
    for (let round = 0; round < nRounds; round++) {
      const r = {};
      for (const v of rotated(variants, round)) r[v] = await memoryRun(scenario, v);
      rounds.push(r);
      console.log(
        `  round ${round + 1}: ${variants.map((v) => `${v} ${fmt(r[v].rssPerSocket)} B/socket (heap ${fmt(r[v].heapPerSocket)})`).join(', ')}`,
      );
    }
    return done();
  }
  const peer = scenario.peer ? await startPeer(scenario.peer) : null;
  const apps = {};
  try {
    await Promise.all(
      variants.map(async (v) => {
        apps[v] = await App.start(v, scenario);
      }),
    );
    if (scenario.kind === 'idle') {
      // Steady state: past start-up work (the OpenTelemetry SDK loads ~1 s after start), past
      // V8's memory reducer, which runs a few full GCs in the first ~30 s of idleness after a
      // process's start-up allocations (0.75 ms/s of B from 5 to 50 s after start, 0.32 from 35 to 95),
      // and past the first scrapes (scenario.settleMs).
      await sleep(scenario.settleMs);
      for (let round = 0; round < nRounds; round++) {
        const r = await idleWindow(scenario, apps);
        rounds.push(r);
        console.log(`  round ${round + 1}: ${variants.map((v) => `${v} ${fmt(r[v].cpuMsPerS)} ms/s`).join(', ')}`);
      }
      return done();
    }
    // Warm-up, not recorded: long enough for V8 to optimise the hot paths (two windows each).
    if (!Q) for (let w = 0; w < 2; w++) for (const v of variants) await measure(scenario, apps[v], peer);
    for (let round = 0; round < nRounds; round++) {
      const r = {};
      for (const v of rotated(variants, round)) {
        // A storm's rounds: each app has been quiet while the others stormed (a minute at 1,000/s),
        // and V8 has cooled its code meanwhile. The first window of each round measures that
        // start of a storm (`cpuPerOpFirst`); the window right after it measures the storm
        // after warm-up (`cpuPerOp`, issue 15's reset-path target). docs/benchmarks.md.
        const first = scenario.storm ? await measure(scenario, apps[v], peer) : undefined;
        r[v] = await measure(scenario, apps[v], peer);
        if (first !== undefined) {
          r[v].cpuPerOpFirst = first.cpuPerOp;
          r[v].cpuOtherPerOpFirst = first.cpuOtherPerOp;
        }
      }
      rounds.push(r);
      console.log(
        `  round ${round + 1}: ${variants
          .map((v) => `${v} ${fmt(r[v].rate)}/s ${fmt(r[v].cpuPerOp)} µs${r[v].eld ? ` p99 ${fmt(r[v].eldP99)} ms` : ''}`)
          .join(', ')}`,
      );
    }
    let profiles;
    if (opts.profile) {
      profiles = {};
      fs.mkdirSync(path.join(__dirname, 'results', 'profiles'), { recursive: true });
      for (const v of variants) {
        const file = path.join(__dirname, 'results', 'profiles', `${scenario.id}-${v}.cpuprofile`);
        const r = await measure(scenario, apps[v], peer, file);
        profiles[v] = { ops: r.ops, cpuUs: r.cpuUs, file: path.relative(ROOT, file), ...analyseProfile(file, r.ops, AGENT_ROOT) };
      }
      printProfile(scenario, profiles);
    }
    return { ...done(), profiles };
  } finally {
    await Promise.all(Object.values(apps).map((a) => a.stop()));
    if (peer) await peer.stop();
  }
}

async function main() {
  const started = new Date();
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  setReceiverPort(receiver.address().port);
  const selected = SCENARIOS.filter((s) => !opts.only || opts.only.some((o) => s.id.includes(o)));
  if (opts.variants) for (const s of selected) s.variants = s.variants.filter((v) => v === 'A' || opts.variants.includes(v));
  // The peers' install (a cache outside the repository) before anything is timed.
  if (selected.some((s) => s.variants.some((v) => VARIANT_DEFS[v].peer))) peersDir();
  const mach = machine(opts, ROOT, AGENT_ROOT);
  console.log(
    `resetwatch bench${Q ? ' --quick' : ''}: ${mach.cpu}, ${mach.cores} cores, Node ${mach.node}, load ${mach.loadavg.map((x) => x.toFixed(2)).join(' ')}`,
  );
  const results = {};
  for (const s of selected) {
    results[s.id] = await runScenario(s);
    printSummary(s, results[s.id].summary);
    console.log(`  (${Math.round(results[s.id].seconds)} s)`);
    if (s.kind === 'idle') {
      const sum = results[s.id].summary.cpuMsPerS;
      background = Object.fromEntries(s.variants.map((v) => [v, sum[v].median]));
    }
  }
  const logLines = fs
    .readdirSync(TMP)
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + fs.readFileSync(path.join(TMP, f), 'utf8').split('\n').filter(Boolean).length, 0);
  const outputs = { prometheusScrapes: scrapes, otlpReceived: received, resetLogLines: logLines };
  const tgt = targets(results);
  console.log('\nTargets (median of per-round pairs):');
  for (const t of tgt)
    console.log(`  ${t.info ? 'info' : t.met === null ? '  ?' : t.met ? 'met ' : 'MISS'}  ${t.name}: ${fmtTarget(t.value)}`);
  console.log(
    `\nOutputs: ${scrapes.ok} Prometheus scrapes ok, ${scrapes.failed} failed (last: ${scrapes.lastStatus ?? scrapes.lastError}, ${scrapes.lastSeries} series); ` +
      `exports received (traces/metrics/other): ${Object.entries(received)
        .map(([v, r]) => `${v} ${r.traces}/${r.metrics}/${r.other}`)
        .join(', ')}; ${logLines} reset log lines`,
  );
  const doc = {
    date: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    quick: !!Q,
    rounds: ROUNDS,
    machine: mach,
    loadavgEnd: os.loadavg(),
    method:
      'Variants (bench/lib/variants.js) run interleaved per round after a warm-up; app CPU is whole-process (process.cpuUsage(), every thread) over the window, ' +
      'split per thread from /proc/self/task; startup CPU is the rusage of the child processes; ratios and differences are per round pair.',
    variants: Object.fromEntries(Object.entries(VARIANT_DEFS).map(([k, d]) => [k, { label: d.label, note: d.note, scrapeMs: d.scrapeMs }])),
    outputs,
    targets: tgt,
    scenarios: results,
  };
  if (!opts.noSave) {
    const stamp = started
      .toISOString()
      .replace(/:\d\d\.\d+Z$/, 'Z')
      .replace(':', '');
    const file = path.join(__dirname, 'results', `${stamp}${Q ? '-quick' : ''}${opts.only ? '-partial' : ''}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`\nwritten ${path.relative(ROOT, file)} (${Math.round(doc.durationSeconds)} s)`);
  }
  receiver.close();
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
    else if (a.startsWith('--variants=')) o.variants = a.slice(11).split(',').filter(Boolean);
    else if (a.startsWith('--agent=')) o.agent = a.slice(8);
    else if (a === '--calibrate') o.calibrate = true;
    else if (a === '--pin') o.pin = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a.startsWith('--scrape-ms=')) o.scrapeMs = Math.max(0, Number(a.slice(12)) | 0);
    else if (a.startsWith('--b-env='))
      o.bEnv = Object.fromEntries(
        a
          .slice(8)
          .split(',')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
    else {
      console.error(
        `bench: unknown option ${a} (known: --quick --rounds=N --only=id,… --variants=B,… --profile --no-save --agent=DIR --calibrate --pin --no-pin --b-env=K=V,… --scrape-ms=N)`,
      );
      process.exit(2);
    }
  }
  return o;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${err.stack || err}`);
    process.exit(1);
  },
);
