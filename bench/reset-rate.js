'use strict';
// Whole-process CPU per reset at a steady reset rate, no agent (A) against one or more agent builds
// in alternating pairs, without the bench's harness (docs/benchmarks.md "Twelfth pass"): what the
// storm scenarios measure, in 10 s windows after a warm-up, with the per-thread split and the GC
// count beside it, to ask how the agent's extra CPU scales with the rate.
//
//   node bench/reset-rate.js [--rate=1000] [--seconds=10] [--warm=30] [--tick=10] [--pairs=3]
//                            [--pin] [--together] [--agent=DIR[,DIR…]] [--node-flags=F[,F…]]
//                            [--client=net|http|fetch]
//
// The peer (bench/load/reset-server.js, its own process) resets every connection at its first
// byte. The app (this file with --app) paces its dials as the storm scenarios' app does
// (bench/apps/reset-client.js: `rate` a second in batches every `tick` ms, at most 2,000 open),
// handles each ECONNRESET, and prints one JSON line for the window.
// --pin: the app on CPU 0 and the peer on CPU 1, as bench/run.js places them.
// --together: A and every agent build of a round run at the same time (one peer for all), so that
// what the host does meanwhile (steal, frequency, other tenants) falls on all of them alike; run
// one after the other, A itself moved by ±8 % between 10 s windows (docs/benchmarks.md). An agent
// named `none` is a second process without the agent (A′: what the method reads for nothing);
// `DIR?NAME=VALUE&…` runs that build with those environment variables.
// --node-flags: flags for every app's node, the agent's and the others' alike (V8's tiering flags:
// docs/benchmarks.md "Fifteenth pass").
const { spawn, execFile, execFileSync } = require('node:child_process');
const path = require('node:path');

const arg = (name, dflt) => {
  const m = process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (m === undefined) return dflt;
  return m.includes('=') ? m.slice(m.indexOf('=') + 1) : true;
};

if (arg('app', false)) app();
else main();

function app() {
  // The storm scenarios' own app (bench/apps/reset-client.js), its pacing and counters.
  const { run, counters } = require('./apps/reset-client');
  const { threadCpu } = require('./lib/app-control');
  const { PerformanceObserver, constants } = require('node:perf_hooks');
  const pace = (seconds) =>
    run({
      port: Number(arg('port')),
      rate: Number(arg('rate')),
      durationMs: seconds * 1000,
      tick: Number(arg('tick')),
      client: arg('client'),
    });
  let minor = 0;
  let major = 0;
  let measuring = false;
  new PerformanceObserver((list) => {
    if (!measuring) return;
    for (const e of list.getEntries()) {
      // Mark-compacts only: V8 also reports incremental marking steps and weak callbacks.
      if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
      else if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    }
  }).observe({ entryTypes: ['gc'] });
  // CPU µs of the main thread and of all others (the harness's per-thread reading).
  const threads = () => {
    const byName = threadCpu();
    let other = 0;
    for (const [name, us] of Object.entries(byName)) if (name !== 'main') other += us;
    return { main: byName.main, other };
  };
  (async () => {
    await pace(Number(arg('warm')));
    const r0 = counters.resets;
    const c0 = process.cpuUsage();
    const t0 = threads();
    measuring = true;
    await pace(Number(arg('seconds')));
    measuring = false;
    const n = counters.resets - r0;
    const c = process.cpuUsage(c0);
    const t1 = threads();
    const per = (us) => +(us / n).toFixed(1);
    const row = {
      resets: n,
      usPerReset: per(c.user + c.system),
      user: per(c.user),
      system: per(c.system),
      mainUs: per(t1.main - t0.main),
      otherUs: per(t1.other - t0.other),
      minorGc: minor,
      majorGc: major,
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    process.exit(0);
  })();
}

async function main() {
  const pin = arg('pin', false) === true;
  const agents = String(arg('agent', path.resolve(__dirname, '..'))).split(',');
  const peer = spawn(...cmd(pin, 1, [process.execPath, path.join(__dirname, 'load/reset-server.js')]), {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve) => peer.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port)));
  const common = [
    '--app',
    `--port=${port}`,
    `--rate=${arg('rate', 1000)}`,
    `--seconds=${arg('seconds', 10)}`,
    // 30 s: with OTLP on, V8 compiles the OpenTelemetry SDK's paths until ~15 s after the first
    // reset (its first exports); a 5 s warm-up counted that in the window (docs/benchmarks.md
    // "Eighteenth pass").
    `--warm=${arg('warm', 30)}`,
    `--tick=${arg('tick', 10)}`,
    // --client: the same reset met by a raw socket (net), node:http's GET (http) or fetch (undici).
    `--client=${arg('client', 'net')}`,
  ];
  const together = arg('together', false) === true;
  if (together && pin) {
    console.error('reset-rate: --together and --pin: the apps would share CPU 0; use one or the other');
    process.exit(2);
  }
  // DIR?NAME=VALUE&…: that build with those variables (e.g. RESETWATCH_DISABLED_OUTPUTS=log).
  const withAgent = (entry) => {
    if (entry === 'none') return [[], {}];
    const [dir, query = ''] = entry.split('?');
    const env = { RESETWATCH_PORT: '0', RESETWATCH_LOG: '/dev/null', ...Object.fromEntries(new URLSearchParams(query)) };
    return [['--require', dir], env];
  };
  for (let pair = 0; pair < Number(arg('pairs', 3)); pair++) {
    let a;
    let bs;
    if (together) {
      [a, ...bs] = await Promise.all([run(pin, [], {}, common, true), ...agents.map((dir) => run(pin, ...withAgent(dir), common, true))]);
    } else {
      a = run(pin, [], {}, common);
      bs = agents.map((dir) => run(pin, ...withAgent(dir), common));
    }
    for (const [i, dir] of agents.entries()) {
      const b = bs[i];
      const row = {
        pair,
        agent: dir,
        A: a.usPerReset,
        B: b.usPerReset,
        diff: +(b.usPerReset - a.usPerReset).toFixed(1),
        userDiff: +(b.user - a.user).toFixed(1),
        mainDiff: +(b.mainUs - a.mainUs).toFixed(1),
        gcMinor: [a.minorGc, b.minorGc],
        gcMajor: [a.majorGc, b.majorGc],
      };
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
  }
  peer.stdin.end();
}

function cmd(pin, cpu, argv) {
  return pin ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0], argv.slice(1)];
}

/** One app's window: its JSON line; with `concurrent`, a promise of it. */
function run(pin, flags, env, common, concurrent = false) {
  const nodeFlags = String(arg('node-flags', '')).split(',').filter(Boolean);
  const [file, args] = cmd(pin, 0, [process.execPath, ...nodeFlags, ...flags, __filename, ...common]);
  const options = { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] };
  const last = (out) => JSON.parse(String(out).trim().split('\n').pop());
  if (!concurrent) return last(execFileSync(file, args, options));
  return new Promise((resolve, reject) => execFile(file, args, options, (err, out) => (err ? reject(err) : resolve(last(out)))));
}
