'use strict';
// The app side of the harness protocol, over the IPC channel (never a socket, so it adds no
// connection the agent would watch). The harness sends:
//   {cmd:'start'}   → open a measured window: CPU, wall clock, event-loop delay; with `profile`
//                     a path, a V8 CPU profile of just this window is written there
//   {cmd:'run',...} → active apps only: do the work themselves, then answer like 'stop'
//   {cmd:'stop'}    → close the window, answer CPU µs (user+system, every thread: getrusage of the
//                     process), CPU per thread name (/proc), GC pauses, counters, memory
//   {cmd:'mem'}     → gc (three passes), answer rss/heap (idle-socket scenario)
//   {cmd:'exit'}    → exit
// The app calls ready({port}) once listening, and passes its counters object.
const { monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks');
const fs = require('node:fs');

/**
 * CPU time per thread name (user + system, µs) from /proc/self/task/<tid>/stat: the explanation
 * beside the whole-process figure. Clock ticks (10 ms), so only meaningful over whole windows.
 * Threads that ended during the window are missing here but counted in process.cpuUsage().
 */
const TICK_US = 10000;
function threadCpu() {
  const out = {};
  let tids;
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return null; // not Linux
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = tid === String(process.pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      out[name] = (out[name] || 0) + (Number(f[11]) + Number(f[12])) * TICK_US;
    } catch {
      /* the thread ended */
    }
  }
  return out;
}
function threadDelta(a, b) {
  if (!a || !b) return null;
  const d = {};
  for (const [k, v] of Object.entries(b)) d[k] = v - (a[k] || 0);
  return d;
}

// GC pauses on the main thread (count and ms) per window; the observer costs the same in every variant.
const gc = { count: 0, ms: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

let session = null;
let profilePath = '';

function post(method, params) {
  return new Promise((resolve, reject) => session.post(method, params || {}, (err, res) => (err ? reject(err) : resolve(res))));
}

async function profileStart(path) {
  profilePath = path || '';
  if (!profilePath) return;
  if (!session) {
    const inspector = require('node:inspector');
    session = new inspector.Session();
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL || 100) });
  }
  await post('Profiler.start');
}

async function profileStop() {
  if (!profilePath) return undefined;
  const { profile } = await post('Profiler.stop');
  const file = profilePath;
  profilePath = '';
  fs.writeFileSync(file, JSON.stringify(profile));
  return file;
}

async function gcNow() {
  if (typeof global.gc !== 'function') return;
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * counters: an object the app increments (ops, errors, …); it is copied and zeroed at 'start'.
 * run: optional async (params) => void for apps that generate their own work (the reset storm).
 */
function control({ counters, run, eld = false }) {
  const h = eld ? monitorEventLoopDelay({ resolution: 1 }) : null;
  let cpu0 = null;
  let t0 = 0n;
  let threads0 = null;
  let gc0 = null;

  function reset() {
    for (const k of Object.keys(counters)) counters[k] = 0;
  }

  async function start(msg) {
    reset();
    if (h) {
      h.reset();
      h.enable();
    }
    await profileStart(msg.profile);
    gc0 = { ...gc };
    threads0 = threadCpu();
    cpu0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
  }

  async function stop() {
    const cpu = process.cpuUsage(cpu0);
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const threads = threadDelta(threads0, threadCpu());
    const gcWindow = { count: gc.count - gc0.count, ms: gc.ms - gc0.ms };
    if (h) h.disable();
    const profile = await profileStop();
    const mem = process.memoryUsage();
    return {
      type: 'result',
      cpuUs: cpu.user + cpu.system,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      threads,
      gc: gcWindow,
      wallUs,
      counters: { ...counters },
      eld: h ? { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, mean: h.mean / 1e6 } : undefined,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      profile,
    };
  }

  process.on('message', async (msg) => {
    try {
      if (msg.cmd === 'start') {
        await start(msg);
        process.send({ type: 'started' });
      } else if (msg.cmd === 'stop') {
        process.send(await stop());
      } else if (msg.cmd === 'run') {
        await start(msg);
        await run(msg);
        process.send(await stop());
      } else if (msg.cmd === 'mem') {
        await gcNow();
        const m = process.memoryUsage();
        process.send({ type: 'mem', rss: m.rss, heapUsed: m.heapUsed, external: m.external, counters: { ...counters } });
      } else if (msg.cmd === 'exit') {
        process.exit(0);
      }
    } catch (err) {
      process.send({ type: 'error', message: String(err?.stack || err) });
    }
  });
  // The harness going away (crash, ^C) takes the app with it.
  process.on('disconnect', () => process.exit(0));

  return {
    ready(info) {
      process.send({ type: 'ready', ...info });
    },
  };
}

module.exports = { control, threadCpu };
