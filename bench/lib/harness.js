'use strict';
// The harness: starts the app of a variant (A, B or C) in its own process and drives it over IPC
// (bench/lib/app-control.js on the other side), runs load generators and peers (bench/load/), and
// measures one window. Pinning: see node() below.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { startScraper, waitForEndpoint, freePort } = require('./receiver');
const { VARIANT_DEFS } = require('./variants');
const { peersDir } = require('./peers');

const BENCH = path.join(__dirname, '..');

/**
 * config: { opts (the command line), root (the checkout), tmp (scratch dir for B's log files),
 * agentRequire (what B preloads) }. Call setReceiverPort() once the OTLP receiver listens.
 */
function createHarness({ opts, root, tmp, agentRequire }) {
  const ROOT = root;
  const TMP = tmp;
  const AGENT_REQUIRE = agentRequire;

  function cleanEnv() {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (/^(RESETWATCH_|OTEL_|DD_|NODE_OPTIONS$)/.test(k)) delete env[k];
    return env;
  }

  const children = new Set();
  function track(child) {
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  process.on('SIGINT', () => process.exit(130));

  let receiverPort = 0;

  async function appEnv(variant, scenario) {
    const def = VARIANT_DEFS[variant];
    const info = { scrapeMs: def.scrapeMs };
    if (def.agent) {
      info.metricsPort = await freePort();
      info.logFile = path.join(TMP, `${scenario.id}-${variant}-${info.metricsPort}.log`);
      if (opts.scrapeMs !== undefined && variant !== 'Bs' && def.scrapeMs) info.scrapeMs = opts.scrapeMs;
    }
    const ctx = {
      receiverUrl: `http://127.0.0.1:${receiverPort}`,
      metricsPort: info.metricsPort,
      logFile: info.logFile,
      agentRequire: AGENT_REQUIRE,
      peersDir: def.peer ? peersDir() : '',
      bench: BENCH,
      calibrate: opts.calibrate,
      bEnv: opts.bEnv,
    };
    const { env: extra, flags } = def.setup(ctx);
    return { env: { ...cleanEnv(), ...extra }, flags: ['--expose-gc', ...flags], info };
  }

  class App {
    static async start(variant, scenario) {
      const { env, flags, info } = await appEnv(variant, scenario);
      const app = new App(variant, info);
      app.child = track(
        spawn(...node([...flags, path.join(BENCH, 'apps', scenario.app)], 0), {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        }),
      );
      app.child.on('message', (m) => app.onMessage(m));
      app.child.on('exit', (code, signal) => {
        app.exited = true;
        const w = app.waiting;
        app.waiting = null;
        if (w) w.reject(new Error(`${variant} ${scenario.app} exited (${code ?? signal}) while waiting for ${w.type}`));
      });
      const ready = await app.wait('ready', 60000);
      app.port = ready.port;
      // Scraped for as long as it lives, like a Prometheus server would, windows or not; from when
      // its endpoint answers (it binds a loop turn after the app's 'ready').
      // The memory scenario starts them after its warm-up connections (memoryRun).
      app.startScraping = async () => {
        if (!info.scrapeMs) return;
        // (--calibrate, or --b-env turning the endpoint off: nothing answers; the scrapes fail and
        // are counted as such.)
        if (!opts.calibrate) await waitForEndpoint(info.metricsPort).catch((err) => console.warn(`  ${variant}: ${err.message}`));
        app.stopScrape = startScraper(info.metricsPort, info.scrapeMs);
      };
      if (scenario.kind !== 'memory') await app.startScraping();
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
      if (m.type === 'error') {
        this.waiting = null;
        w.reject(new Error(`${this.variant}: ${m.message}`));
        return;
      }
      if (m.type !== w.type) return;
      this.waiting = null;
      clearTimeout(w.timer);
      w.resolve(m);
    }

    wait(type, ms) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting = null;
          reject(new Error(`${this.variant}: no '${type}' within ${ms} ms`));
        }, ms);
        this.waiting = {
          type,
          resolve,
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
          timer,
        };
      });
    }

    call(msg, type, ms = 180000) {
      const p = this.wait(type, ms);
      this.child.send(msg);
      return p;
    }

    async stop() {
      this.stopScrape?.();
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
  function node(args, cpu, raw = false) {
    const argv = raw ? args : [process.execPath, ...args];
    return opts.pin ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0], argv.slice(1)];
  }
  const shellQuote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;

  /** A load generator: runs to completion and prints one JSON line. */
  function runLoad(argv, ms = 180000) {
    return new Promise((resolve, reject) => {
      const child = track(
        spawn(...node([path.join(BENCH, 'load', argv[0]), ...argv.slice(1)], 1), {
          cwd: ROOT,
          env: cleanEnv(),
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      );
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d) => {
        out += d;
      });
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
      const child = track(
        spawn(...node([path.join(BENCH, 'load', file), ...argv], 1), {
          cwd: ROOT,
          env: cleanEnv(),
          stdio: ['pipe', 'pipe', 'inherit'],
        }),
      );
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${file}: no output within ${ms} ms`));
      }, ms);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl !== -1) {
          clearTimeout(timer);
          const info = JSON.parse(out.slice(0, nl));
          resolve({
            ...info,
            stop: () =>
              new Promise((r) => {
                if (child.exitCode !== null) r();
                else {
                  child.once('exit', r);
                  child.stdin.end();
                }
              }),
          });
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited ${code}`));
      });
    });
  }

  async function measure(scenario, app, peer, profile) {
    if (scenario.kind === 'active') {
      const res = await app.call({ cmd: 'run', profile, ...scenario.params(peer.port) }, 'result');
      return record(scenario, app, res, null);
    }
    await app.call({ cmd: 'start', profile }, 'started');
    const load = await runLoad(scenario.load(app.port));
    const res = await app.call({ cmd: 'stop' }, 'result');
    return record(scenario, app, res, load);
  }

  /**
   * The idle app: every variant's window at the same time (they are idle, so they do not compete),
   * one result per variant: whole-process CPU ms per second of the window.
   */
  async function idleWindow(scenario, apps) {
    const list = Object.values(apps);
    await Promise.all(list.map((a) => a.call({ cmd: 'start' }, 'started')));
    await sleep(scenario.durationMs);
    const out = {};
    await Promise.all(
      list.map(async (app) => {
        const res = await app.call({ cmd: 'stop' }, 'result');
        out[app.variant] = {
          variant: app.variant,
          ops: res.wallUs / 1e6,
          cpuUs: res.cpuUs,
          wallMs: res.wallUs / 1000,
          cpuMsPerS: (res.cpuUs / res.wallUs) * 1000,
          ...threadSplit(res, res.wallUs / 1e6, 1000),
          gcCount: res.gc.count,
        };
      }),
    );
    return out;
  }

  /**
   * Startup: `n` runs of node (with the variant's preload) one after the other in one bash, whose
   * `times` builtin gives its children's user and system CPU (wait4's rusage: every thread of every
   * run, to the ms). Wall time is the whole loop's over n (bash's own fork/exec cost is in every variant).
   */
  async function startupRun(scenario, variant, n) {
    const { env, flags } = await appEnv(variant, scenario);
    const cmd = [process.execPath, ...flags.filter((f) => f !== '--expose-gc'), ...scenario.argv(TMP)].map(shellQuote).join(' ');
    const script = `for ((i=0;i<${n};i++)); do ${cmd} >/dev/null || exit $?; done; times`;
    const t0 = process.hrtime.bigint();
    const out = await new Promise((resolve, reject) => {
      const child = track(spawn(...node(['bash', '-c', script], 0, true), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('exit', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`startup ${variant} exit ${code}: ${stderr.slice(-400)}`)),
      );
    });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    // `times`: line 1 the shell's own user/system, line 2 its children's, as 0m0.123s.
    const secs = (t) => {
      const m = /^(\d+)m([\d.]+)s$/.exec(t);
      return Number(m[1]) * 60 + Number(m[2]);
    };
    const [user, sys] = out.trim().split('\n').pop().trim().split(/\s+/).map(secs);
    return { variant, ops: n, cpuMsPerRun: ((user + sys) * 1000) / n, wallMsPerRun: wallMs / n };
  }

  /** Whole-process CPU split: main thread and the others (GC helpers, compiler, libuv pool), µs per op ÷ unit. */
  function threadSplit(res, ops, unit = 1) {
    if (!res.threads || !(ops > 0)) return {};
    const main = res.threads.main || 0;
    const other = Object.entries(res.threads).reduce((n, [k, v]) => (k === 'main' ? n : n + v), 0);
    return { cpuMainPerOp: main / ops / unit, cpuOtherPerOp: other / ops / unit, threads: res.threads };
  }

  function record(scenario, app, res, load) {
    const ops = res.counters[scenario.opsKey];
    const r = {
      ...threadSplit(res, ops),
      gcCount: res.gc.count,
      gcUsPerOp: ops > 0 ? (res.gc.ms * 1000) / ops : NaN,
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
      // The app's own connections first, then the scrapes, as in a service that takes traffic from
      // its start (Prometheus' first scrape comes up to an interval later). V8 sizes every later
      // socket object after the first few a process makes: with the endpoint's HTTP connections
      // first, this raw-TCP app's sockets would each carry ~96 B of their unused slots
      // (docs/benchmarks.md "Memory per idle socket"; bench/micro-socketmem.js --scrape).
      await app.startScraping();
      // The agent loads the OpenTelemetry SDK ~1 s after start (exporters/otel/index.ts): a one-off
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
        rss0: m0.rss,
        rss1: m1.rss,
        heap0: m0.heapUsed,
        heap1: m1.heapUsed,
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

  return {
    App,
    startPeer,
    measure,
    idleWindow,
    startupRun,
    memoryRun,
    sleep,
    setReceiverPort: (port) => {
      receiverPort = port;
    },
  };
}

module.exports = { createHarness };
