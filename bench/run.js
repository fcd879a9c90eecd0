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
//
// Layout: this file holds the options, the scenarios and the run; bench/lib/harness.js starts and
// drives the processes, bench/lib/receiver.js is what B exports to, bench/lib/statistics.js and
// bench/lib/report.js turn rounds into the tables, targets and the saved JSON.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { analyseProfile } = require('./lib/profile');
const { received, receiver, scrapes, standIn } = require('./lib/receiver');
const { createHarness } = require('./lib/harness');
const { VARIANTS, summarise } = require('./lib/statistics');
const { printSummary, printProfile, targets, machine } = require('./lib/report');
const { fmt } = require('./lib/format');

const ROOT = path.resolve(__dirname, '..');
const opts = parseArgs(process.argv.slice(2));
// Pinned by default where there are two cores or more (see node() below); `--no-pin` to let the scheduler place.
if (opts.pin === undefined) opts.pin = os.cpus().length >= 2;
if (opts.pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
const Q = opts.quick;
const ROUNDS = opts.rounds || (Q ? 2 : 5);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-bench-'));
const AGENT_ROOT = opts.agent ? path.resolve(opts.agent) : ROOT;
const AGENT_REQUIRE = opts.agent ? path.join(AGENT_ROOT, 'dist', 'agent', 'index.js') : 'resetwatch';
const { App, startPeer, measure, memoryRun, setReceiverPort } = createHarness({ opts, root: ROOT, tmp: TMP, agentRequire: AGENT_REQUIRE });
/** Scenario 0's median ms/s per variant, once it ran: per-operation CPU is also given net of it. */
let background = null;

/**
 * kind: 'passive' (load generator drives the app), 'active' (the app drives a peer process),
 * 'memory' (idle sockets). opsKey: the app counter one operation increments.
 */
const SCENARIOS = [
  {
    id: 'background',
    title: '0. Background: app idle, outputs on (B scraped every second, OTLP export every 1–2 s)',
    kind: 'idle',
    app: 'http-server.js',
    durationMs: Q ? 500 : 4000,
  },
  {
    id: 'http-keepalive',
    title: '1. HTTP keep-alive, saturating (autocannon, 16 connections, pipelining 8)',
    kind: 'passive',
    app: 'http-server.js',
    opsKey: 'requests',
    op: 'request',
    load: (port) => ['http-keepalive.js', `--port=${port}`, `--duration=${Q ? 1 : 4}`, '--connections=16', '--pipelining=8'],
  },
  {
    id: 'http-close',
    title: '2. HTTP, new TCP connection per request (16 at once)',
    kind: 'passive',
    app: 'http-server.js',
    opsKey: 'requests',
    op: 'request',
    load: (port) => ['http-close.js', `--port=${port}`, `--count=${Q ? 2000 : 25000}`, '--concurrency=16'],
  },
  {
    id: 'tcp-churn-server',
    title: '3a. Raw TCP churn, app accepts: connect, echo 6 bytes, close',
    kind: 'passive',
    app: 'tcp-echo.js',
    opsKey: 'connections',
    op: 'connection',
    load: (port) => ['tcp-churn.js', `--port=${port}`, `--count=${Q ? 3000 : 30000}`, '--concurrency=16'],
  },
  {
    id: 'tcp-churn-client',
    title: '3b. Raw TCP churn, app dials: connect, echo 6 bytes, close',
    kind: 'active',
    app: 'tcp-echo.js',
    opsKey: 'connections',
    op: 'connection',
    peer: 'echo-server.js',
    params: (peerPort) => ({ port: peerPort, count: Q ? 3000 : 30000, concurrency: 16 }),
  },
  {
    id: 'tls-churn',
    title: '4. TLS churn: full handshake (RSA 2048), echo, close',
    kind: 'passive',
    app: 'tls-server.js',
    opsKey: 'handshakes',
    op: 'handshake',
    load: (port) => ['tls-churn.js', `--port=${port}`, `--count=${Q ? 200 : 2500}`, '--concurrency=8'],
  },
  {
    id: 'reset-storm-1k',
    title: '5a. Reset storm, ~1,000 attempted resets/s (peer resets every connection)',
    kind: 'active',
    app: 'reset-client.js',
    opsKey: 'resets',
    op: 'reset',
    peer: 'reset-server.js',
    eld: true,
    params: (peerPort) => ({ port: peerPort, rate: 1000, durationMs: Q ? 600 : 4000 }),
  },
  {
    id: 'reset-storm-10k',
    title: '5b. Reset storm, ~10,000 attempted resets/s',
    kind: 'active',
    app: 'reset-client.js',
    opsKey: 'resets',
    op: 'reset',
    peer: 'reset-server.js',
    eld: true,
    params: (peerPort) => ({ port: peerPort, rate: 10000, durationMs: Q ? 600 : 3000 }),
  },
  {
    id: 'idle-sockets',
    title: `6. ${Q ? '2,000' : '10,000'} idle open sockets (server side)`,
    kind: 'memory',
    app: 'idle-server.js',
    count: Q ? 2000 : 10000,
    warm: Q ? 200 : 500,
  },
];

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
      console.log(
        `  round ${round + 1}: ${VARIANTS.map((v) => `${v} ${fmt(r[v].rssPerSocket)} B/socket (heap ${fmt(r[v].heapPerSocket)})`).join(', ')}`,
      );
    }
    return { title: scenario.title, rounds, summary: summarise(scenario, rounds, background), seconds: (Date.now() - t0) / 1000 };
  }
  const peer = scenario.peer ? await startPeer(scenario.peer) : null;
  const apps = {};
  try {
    await Promise.all(
      VARIANTS.map(async (v) => {
        apps[v] = await App.start(v, scenario);
      }),
    );
    if (!Q) for (const v of VARIANTS) await measure(scenario, apps[v], peer); // warm-up, not recorded
    for (let round = 0; round < ROUNDS; round++) {
      const r = {};
      for (const v of VARIANTS) r[v] = await measure(scenario, apps[v], peer);
      rounds.push(r);
      console.log(
        `  round ${round + 1}: ${VARIANTS.map((v) =>
          scenario.kind === 'idle'
            ? `${v} ${fmt(r[v].cpuMsPerS)} ms/s`
            : `${v} ${fmt(r[v].rate)}/s ${fmt(r[v].cpuPerOp)} µs${r[v].eld ? ` p99 ${fmt(r[v].eldP99)} ms` : ''}`,
        ).join(', ')}`,
      );
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
    return { title: scenario.title, rounds, summary: summarise(scenario, rounds, background), profiles, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await Promise.all(Object.values(apps).map((a) => a.stop()));
    if (peer) await peer.stop();
  }
}

async function main() {
  const started = new Date();
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  await new Promise((r) => standIn.listen(0, '127.0.0.1', r));
  setReceiverPort(receiver.address().port);
  const selected = SCENARIOS.filter((s) => !opts.only || opts.only.some((o) => s.id.includes(o)));
  const mach = machine(opts, ROOT, AGENT_ROOT);
  console.log(
    `resetwatch bench${Q ? ' --quick' : ''}: ${mach.cpu}, ${mach.cores} cores, Node ${mach.node}, load ${mach.loadavg.map((x) => x.toFixed(2)).join(' ')}`,
  );
  const results = {};
  for (const s of selected) {
    results[s.id] = await runScenario(s);
    printSummary(s, results[s.id].summary);
    if (s.kind === 'idle') {
      const sum = results[s.id].summary.cpuMsPerS;
      background = { A: sum.A.median, B: sum.B.median, C: sum.C.median };
    }
  }
  const logLines = fs
    .readdirSync(TMP)
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + fs.readFileSync(path.join(TMP, f), 'utf8').split('\n').filter(Boolean).length, 0);
  const outputs = { prometheusScrapes: scrapes, otlpReceived: received, resetLogLines: logLines };
  const tgt = targets(results);
  console.log('\nTargets (median of per-round pairs):');
  for (const t of tgt) console.log(`  ${t.met === null ? '  ?' : t.met ? 'met ' : 'MISS'}  ${t.name}: ${fmt(t.value)}`);
  console.log(
    `\nOutputs of B: ${scrapes.ok} scrapes ok, ${scrapes.failed} failed (last: ${scrapes.lastStatus ?? scrapes.lastError}, ${scrapes.lastSeries} series); ` +
      `OTLP requests from B: ${received.B.traces} traces, ${received.B.metrics} metrics; from C: ${received.C.traces} traces, ${received.C.metrics} metrics; ` +
      `unattributed ${received.unknown.traces + received.unknown.metrics}; ${logLines} reset log lines`,
  );
  const doc = {
    date: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    quick: !!Q,
    rounds: ROUNDS,
    machine: mach,
    loadavgEnd: os.loadavg(),
    method:
      'Variants A (no agent), B (--require resetwatch, all outputs), C (OpenTelemetry sdk-node + net + http instrumentations) ' +
      'run interleaved A B C per round after a warm-up; app CPU from process.cpuUsage() in the app over the window; ratios and differences are per round pair.',
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
        `bench: unknown option ${a} (known: --quick --rounds=N --only=id,… --profile --no-save --agent=DIR --calibrate --pin --no-pin --b-env=K=V,… --scrape-ms=N)`,
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
