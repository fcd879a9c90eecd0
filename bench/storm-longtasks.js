'use strict';
// What blocks the event loop during a reset storm, and for how long (docs/benchmarks.md "The
// 10,000/s storm's event-loop delay"). Whole-process wall figures move with the neighbours on a
// shared machine; this looks inside the app instead: a 1 ms timer in the app notes every gap
// longer than --gap ms between its ticks (a long task), and a V8 CPU profile of the app (--prof)
// says what ran in each gap (self time by function, GC included).
//
//   node bench/storm-longtasks.js [--variant=A|B|Bo] [--agent=DIR] [--rate=10000] [--warm=5000]
//        [--quiet=20000] [--storm=5000] [--cycles=3] [--gap=8] [--prof] [--interval=250] [--keep=FILE]
//
// Per window: resets, event-loop delay (monitorEventLoopDelay, 1 ms), the OTLP requests that
// arrived; with --prof also the sampled time per reset by where the code lives (agent, OpenTelemetry
// SDK, node, GC, idle), the span serialiser's tasks (runs of consecutive samples under
// @opentelemetry/otlp-transformer) and, for each gap, what ran in it. --keep copies the profile.
//
// The app storms like bench/apps/reset-client.js (a batch of attempts every 10 ms against
// bench/load/reset-server.js in another process), as the bench does per round: a quiet spell,
// then a storm (the bench's two 2.5 s windows back to back); `cycles` times after a warm-up storm.
// OTLP goes to a receiver in this process that answers 200 and notes each request's arrival.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

function parseArgs(argv) {
  const a = {
    variant: 'Bo',
    agent: path.resolve(__dirname, '..'),
    rate: 10000,
    warm: 5000,
    quiet: 20000,
    storm: 5000,
    cycles: 3,
    keep: '',
    gap: 8,
    prof: false,
    interval: 250,
    app: false,
    port: 0,
    out: '',
  };
  for (const arg of argv) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1] in a)) throw new Error(`bad argument ${arg}`);
    const [, k, v] = m;
    a[k] = typeof a[k] === 'number' ? Number(v) : typeof a[k] === 'boolean' ? true : (v ?? '');
  }
  return a;
}

// ---- the app ----

function app(a) {
  const { monitorEventLoopDelay, PerformanceObserver, performance } = require('node:perf_hooks');
  const X = Buffer.from('x');
  let inflight = 0;
  let resets = 0;
  const onError = () => resets++;
  const onClose = () => inflight--;
  function onConnect() {
    this.write(X);
  }
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  // GC entries: startTime is performance.now(); the profile and the gaps use hrtime (µs).
  const perfToUs = nowUs() - performance.now() * 1000;
  const gcs = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      gcs.push({ at: Math.round(perfToUs + e.startTime * 1000), ms: +e.duration.toFixed(2), kind: e.detail?.kind });
  }).observe({ entryTypes: ['gc'] });

  function storm(ms) {
    return new Promise((resolve) => {
      const perTick = a.rate / 100;
      const start = Date.now();
      let due = 0;
      const timer = setInterval(() => {
        const elapsed = Date.now() - start;
        if (elapsed >= ms) {
          clearInterval(timer);
          const wait = setInterval(() => {
            if (inflight === 0) {
              clearInterval(wait);
              resolve();
            }
          }, 5);
          return;
        }
        const target = Math.floor((elapsed * a.rate) / 1000) + perTick;
        while (due < target) {
          due++;
          if (inflight >= 2000) continue;
          inflight++;
          const s = net.connect(a.port, '127.0.0.1', onConnect);
          s.on('error', onError);
          s.on('close', onClose);
        }
      }, 10);
    });
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  (async () => {
    await storm(a.warm);
    const windows = [];
    for (let c = 0; c < a.cycles; c++) {
      await sleep(a.quiet);
      const gaps = [];
      let last = nowUs();
      const tick = setInterval(() => {
        const t = nowUs();
        if (t - last > a.gap * 1000) gaps.push({ from: last, to: t, ms: +((t - last) / 1000).toFixed(1) });
        last = t;
      }, 1);
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const r0 = resets;
      const t0 = nowUs();
      await storm(a.storm);
      h.disable();
      clearInterval(tick);
      windows.push({
        from: t0,
        to: nowUs(),
        resets: resets - r0,
        p50: h.percentile(50) / 1e6,
        p99: h.percentile(99) / 1e6,
        max: h.max / 1e6,
        gaps,
      });
    }
    fs.writeFileSync(a.out, JSON.stringify({ windows, gcs }));
  })();
}

// ---- the driver ----

/** Self time by function name within [from, to] (µs), the top `n`. */
function attribute(profile, from, to, n = 6) {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i];
    t += dt;
    if (t < from || t > to) continue;
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    const file = f.url ? path.basename(f.url) : '';
    const key = `${f.functionName || '(anon)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const top = [...self]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, us]) => `${k} ${(us / 1000).toFixed(1)}`);
  return { sampledMs: +(total / 1000).toFixed(1), top };
}

/**
 * The span exports' tasks within [from, to] (µs): runs of consecutive samples under the OTLP
 * serialiser (@opentelemetry/otlp-transformer), GC samples between two of them included; each
 * run's length in ms (the profile's resolution: --interval).
 */
function exportTasks(profile, from, to) {
  const parent = new Map();
  for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const kind = new Map();
  const kindOf = (id) => {
    if (kind.has(id)) return kind.get(id);
    const f = byId.get(id).callFrame;
    let k = f.functionName === '(garbage collector)' ? 'gc' : f.url.includes('otlp-transformer') ? 'ser' : 'other';
    if (k === 'other' && parent.has(id) && kindOf(parent.get(id)) === 'ser') k = 'ser';
    kind.set(id, k);
    return k;
  };
  const runs = [];
  let t = profile.startTime;
  let cur = null;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i];
    t += dt;
    if (t < from || t > to) continue;
    const k = kindOf(profile.samples[i]);
    if (k === 'ser') {
      if (cur === null) cur = { start: t - dt, end: t };
      else cur.end = t;
    } else if (k === 'other' && cur !== null) {
      runs.push(cur);
      cur = null;
    }
  }
  if (cur !== null) runs.push(cur);
  return runs.map((r) => +((r.end - r.start) / 1000).toFixed(2));
}

/** Sampled time within [from, to] (µs) by where the sampled frame's code lives, in ms. */
function byOrigin(profile, from, to) {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const out = {};
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i];
    t += dt;
    if (t < from || t > to) continue;
    const f = byId.get(profile.samples[i]).callFrame;
    const u = f.url;
    const k = u.includes('@opentelemetry')
      ? 'otel-sdk'
      : /dist[\\/]agent/.test(u)
        ? 'agent'
        : u.startsWith('node:')
          ? 'node'
          : u === ''
            ? f.functionName
            : 'app';
    out[k] = (out[k] ?? 0) + dt / 1000;
  }
  return out;
}

async function driver(a) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'storm-lt-'));
  const posts = [];
  const receiver = http.createServer((req, res) => {
    const at = Number(process.hrtime.bigint() / 1000n);
    let bytes = 0;
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      posts.push({ at, url: req.url, bytes });
      res.end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const peer = spawn(process.execPath, [path.join(__dirname, 'load', 'reset-server.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise((r) => peer.stdout.once('data', (d) => r(JSON.parse(String(d)).port)));
  const out = path.join(tmp, 'app.json');
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  const flags = [];
  if (a.variant !== 'A') {
    flags.push('--require', path.join(path.resolve(a.agent), 'dist', 'agent', 'index.js'));
    Object.assign(env, { RESETWATCH_PORT: '0', RESETWATCH_LOG: path.join(tmp, 'resets.log') });
  }
  if (a.variant === 'Bo') {
    Object.assign(env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.address().port}`,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_SERVICE_NAME: 'bench-Bo',
    });
  }
  if (a.prof) flags.push('--cpu-prof', `--cpu-prof-dir=${tmp}`, `--cpu-prof-interval=${a.interval}`);
  const args = [...flags, __filename, '--app', `--port=${port}`, `--out=${out}`];
  for (const k of ['rate', 'warm', 'quiet', 'storm', 'cycles', 'gap']) args.push(`--${k}=${a[k]}`);
  const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
  await new Promise((r) => child.on('exit', r));
  peer.stdin.end();
  receiver.close();
  const res = JSON.parse(fs.readFileSync(out, 'utf8'));
  const profFile = a.prof ? fs.readdirSync(tmp).find((f) => f.endsWith('.cpuprofile')) : undefined;
  const profile = profFile ? JSON.parse(fs.readFileSync(path.join(tmp, profFile), 'utf8')) : undefined;
  console.log(`${a.variant} at ${a.rate}/s, ${a.cycles} storms of ${a.storm} ms after ${a.quiet} ms quiet; gaps > ${a.gap} ms`);
  for (const [i, w] of res.windows.entries()) {
    const inWin = (x) => x.at >= w.from && x.at <= w.to;
    const exp = posts.filter(inWin).map((p) => `${p.url.replace('/v1/', '')} ${((p.at - w.from) / 1e6).toFixed(2)}s ${p.bytes}B`);
    console.log(
      `window ${i + 1}: ${w.resets} resets, eld p50 ${w.p50.toFixed(1)} p99 ${w.p99.toFixed(1)} max ${w.max.toFixed(1)} ms; exports: ${exp.join(', ') || 'none'}`,
    );
    if (profile) {
      const o = byOrigin(profile, w.from, w.to);
      const per = (ms) => ((ms * 1000) / w.resets).toFixed(2);
      console.log(
        `  sampled µs per reset: ${Object.entries(o)
          .sort((x, y) => y[1] - x[1])
          .map(([k, ms]) => `${k} ${per(ms)}`)
          .join(', ')}`,
      );
      const runs = exportTasks(profile, w.from, w.to);
      if (runs.length)
        console.log(
          `  serialiser tasks (ms): ${runs.length > 12 ? `${runs.length}, longest ${Math.max(...runs)}, total ${runs.reduce((x, y) => x + y, 0).toFixed(1)}` : runs.join(' ')}`,
        );
    }
    for (const g of w.gaps) {
      const gc = res.gcs
        .filter((x) => x.at >= g.from && x.at <= g.to)
        .map((x) => `${x.kind === 4 ? 'MARK' : x.kind === 1 ? 'scav' : `k${x.kind}`} ${x.ms}`);
      const attr = profile ? attribute(profile, g.from, g.to) : undefined;
      console.log(
        `  +${((g.from - w.from) / 1e6).toFixed(2)}s gap ${g.ms} ms; gc: ${gc.join(' ') || '-'}${attr ? `; profile ${attr.sampledMs} ms: ${attr.top.join(' | ')}` : ''}`,
      );
    }
  }
  if (a.keep && profFile) fs.copyFileSync(path.join(tmp, profFile), a.keep);
  fs.rmSync(tmp, { recursive: true, force: true });
}

const opts = parseArgs(process.argv.slice(2));
if (opts.app) app(opts);
else driver(opts);
