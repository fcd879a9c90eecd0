#!/usr/bin/env node
'use strict';
// Attribution experiments for the keep-alive and new-connection-per-request scenarios
// (docs/benchmarks.md "Keep-alive attribution"): the bench's own apps, load generators, scraper and
// OTLP receiver (bench/lib), with variants the bench does not have, interleaved per round after two
// warm-up windows each, whole-process CPU per request. Variants (see VARIANTS below):
//   A B Bo       as in the bench
//   Bna          B with RESETWATCH_DISABLED_HOOKS=activity (no per-chunk wrapper)
//   Bnh          B with every hook off (the process still loads the agent, endpoint on)
//   Bnp          B with RESETWATCH_PORT=off (no endpoint, no scrapes)
//   Bns          B, endpoint on but never scraped
//   As           A + a plain second http server in the process, scraped every 15 s like B's endpoint
//   Ap           A + an in-process http POST of 1 KB to the receiver every 5 s
//   Asp          both
//   Bot / Bom    Bo with OTEL_TRACES_EXPORTER=none / OTEL_METRICS_EXPORTER=none
//   Bon          Bo with both none (the OTLP env set, nothing exported)
//   Bold Boold   B and Bo with the build in --old=DIR
//
//   node bench/micro-ka.js --variants=A,B,Bna --rounds=5 [--scenario=keepalive|close] [--duration=3]
//     [--agent=DIR] [--old=DIR] [--scrape-ms=N] [--profile-dir=DIR] [--node-flags=--a,--b (every variant)] [--json=FILE]
// A is always run. Prints per round, then per variant: median CPU µs/request (min–max), the
// median of the per-round X−A and X/A, main thread and other threads, GC pauses.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { receiver, received } = require('./lib/receiver');
const { createHarness } = require('./lib/harness');
const { VARIANT_DEFS } = require('./lib/variants');

const opts = { pin: os.cpus().length >= 2 };
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) throw new Error(`bad option ${a}`);
  opts[m[1].replace(/-(.)/g, (_, c) => c.toUpperCase())] = m[2] ?? true;
}
if (opts.noPin) opts.pin = false;
const ROUNDS = Number(opts.rounds || 5);
const DURATION = Number(opts.duration || 3);
const SCENARIO = opts.scenario || 'keepalive';
if (opts.scrapeMs !== undefined) opts.scrapeMs = Number(opts.scrapeMs);
const extraFlags = opts.nodeFlags ? String(opts.nodeFlags).split(',').filter(Boolean) : [];
if (opts.pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

const NEIGHBOUR = path.join(__dirname, 'micro-ka-neighbour.js');
const B = VARIANT_DEFS.B;
const Bo = VARIANT_DEFS.Bo;
const withEnv = (base, env, extra = {}) => ({ ...base, ...extra, setup: (ctx) => merge(base.setup(ctx), { env }) });
const merge = (s, add) => ({ env: { ...s.env, ...(add.env || {}) }, flags: [...s.flags, ...(add.flags || [])] });
/** A with the neighbour preload; `agent: true` only so that the harness gives it a port to scrape. */
const neighbour = (server, post) => ({
  label: 'A + neighbour',
  scrapeMs: server ? 15000 : 0,
  agent: server,
  setup: (ctx) => ({
    env: {
      ...(server ? { BENCH_NEIGHBOUR_SERVER_PORT: String(ctx.metricsPort) } : {}),
      ...(post ? { BENCH_NEIGHBOUR_POST_URL: `${ctx.receiverUrl}/v1/metrics` } : {}),
    },
    flags: ['--require', NEIGHBOUR],
  }),
});
const VARIANTS = {
  Bna: withEnv(B, { RESETWATCH_DISABLED_HOOKS: 'activity' }),
  Bnh: withEnv(B, { RESETWATCH_DISABLED_HOOKS: 'client,server,tls,destroy,http,undici,activity' }),
  Bnp: withEnv(B, { RESETWATCH_PORT: 'off' }, { scrapeMs: 0 }),
  Bns: { ...B, scrapeMs: 0 },
  As: neighbour(true, false),
  Ap: neighbour(false, true),
  Asp: neighbour(true, true),
  Bot: withEnv(Bo, { OTEL_TRACES_EXPORTER: 'none' }),
  Bom: withEnv(Bo, { OTEL_METRICS_EXPORTER: 'none' }),
  Bon: withEnv(Bo, { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' }),
};
// --old=DIR: Bold and Boold are B and Bo with the build in DIR (dist/agent/index.js), to compare a
// change with the build before it in the same interleaved run.
if (opts.old) {
  const oldEntry = path.join(path.resolve(String(opts.old)), 'dist', 'agent', 'index.js');
  const withBuild = (base) => ({ ...base, setup: (ctx) => base.setup({ ...ctx, agentRequire: oldEntry }) });
  VARIANTS.Bold = withBuild(B);
  VARIANTS.Boold = withBuild(Bo);
}
Object.assign(VARIANT_DEFS, VARIANTS);
if (extraFlags.length)
  for (const [k, d] of Object.entries(VARIANT_DEFS)) {
    const setup = d.setup;
    VARIANT_DEFS[k] = { ...d, setup: (ctx) => merge(setup(ctx), { flags: extraFlags }) };
  }

const variants = [
  'A',
  ...String(opts.variants || 'B')
    .split(',')
    .filter((v) => v && v !== 'A'),
];
for (const v of variants) if (!VARIANT_DEFS[v]) throw new Error(`unknown variant ${v} (known: ${Object.keys(VARIANT_DEFS).join(' ')})`);

const scenario =
  SCENARIO === 'close'
    ? {
        id: 'micro-close',
        kind: 'passive',
        app: 'http-server.js',
        opsKey: 'requests',
        load: (port) => ['http-close.js', `--port=${port}`, `--count=${Number(opts.count || 15000)}`, '--concurrency=16'],
      }
    : {
        id: 'micro-keepalive',
        kind: 'passive',
        app: 'http-server.js',
        opsKey: 'requests',
        load: (port) => ['http-keepalive.js', `--port=${port}`, `--duration=${DURATION}`, '--connections=16', '--pipelining=8'],
      };

const ROOT = path.resolve(__dirname, '..');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-microka-'));
const agentRequire = opts.agent ? path.join(path.resolve(String(opts.agent)), 'dist', 'agent', 'index.js') : 'resetwatch';
const H = createHarness({ opts, root: ROOT, tmp: TMP, agentRequire });

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');

async function main() {
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  H.setReceiverPort(receiver.address().port);
  console.log(
    `micro-ka ${SCENARIO}: ${variants.join(' ')}, ${ROUNDS} rounds, load ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}${extraFlags.length ? `, flags ${extraFlags.join(' ')}` : ''}`,
  );
  const apps = {};
  const rounds = [];
  try {
    for (const v of variants) apps[v] = await H.App.start(v, scenario);
    for (let w = 0; w < 2; w++) for (const v of variants) await H.measure(scenario, apps[v]);
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round: no variant always follows the same one.
      const order = variants.map((_, i) => variants[(i + r) % variants.length]);
      const row = {};
      for (const v of order) {
        // --profile-dir=DIR: a V8 CPU profile of every measured window (DIR/<variant>-<round>.cpuprofile).
        const file = opts.profileDir ? path.join(path.resolve(String(opts.profileDir)), `${v}-${r + 1}.cpuprofile`) : undefined;
        if (file) fs.mkdirSync(path.dirname(file), { recursive: true });
        row[v] = await H.measure(scenario, apps[v], undefined, file);
      }
      rounds.push(row);
      console.log(`  round ${r + 1}: ${variants.map((v) => `${v} ${f(row[v].cpuPerOp)}`).join('  ')}  (load ${f(os.loadavg()[0])})`);
    }
  } finally {
    await Promise.all(Object.values(apps).map((a) => a.stop()));
  }
  const summary = {};
  console.log(`\n  variant  µs/req median (min–max)   X−A median (min–max)   X/A     main    other   user    sys     GC µs/req  req/s`);
  for (const v of variants) {
    const xs = rounds.map((r) => r[v].cpuPerOp);
    const d = rounds.map((r) => r[v].cpuPerOp - r.A.cpuPerOp);
    const q = rounds.map((r) => r[v].cpuPerOp / r.A.cpuPerOp);
    const s = {
      median: median(xs),
      min: Math.min(...xs),
      max: Math.max(...xs),
      diff: median(d),
      diffMin: Math.min(...d),
      diffMax: Math.max(...d),
      ratio: median(q),
      main: median(rounds.map((r) => r[v].cpuMainPerOp)),
      other: median(rounds.map((r) => r[v].cpuOtherPerOp)),
      gc: median(rounds.map((r) => r[v].gcUsPerOp)),
      user: median(rounds.map((r) => r[v].cpuUserUs / r[v].ops)),
      sys: median(rounds.map((r) => r[v].cpuSystemUs / r[v].ops)),
      rate: median(rounds.map((r) => r[v].rate)),
    };
    summary[v] = s;
    console.log(
      `  ${v.padEnd(7)}  ${f(s.median)} (${f(s.min)}–${f(s.max)})`.padEnd(38) +
        `${v === 'A' ? '' : `${f(s.diff)} (${f(s.diffMin)}–${f(s.diffMax)})`}`.padEnd(24) +
        `${f(s.ratio, 3)}   ${f(s.main)}   ${f(s.other)}   ${f(s.user)}   ${f(s.sys)}   ${f(s.gc)}      ${f(s.rate, 0)}`,
    );
  }
  console.log(`  OTLP requests received: ${JSON.stringify(received)}`);
  if (opts.json) fs.writeFileSync(String(opts.json), `${JSON.stringify({ opts, variants, rounds, summary }, null, 1)}\n`);
  receiver.close();
  fs.rmSync(TMP, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err.stack || err);
    process.exit(1);
  },
);
