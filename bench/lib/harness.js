'use strict';
// The harness: starts the app of a variant (A, B or C) in its own process and drives it over IPC
// (bench/lib/app-control.js on the other side), runs load generators and peers (bench/load/), and
// measures one window. Pinning: see node() below.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { startScraper, standIn, freePort } = require('./receiver');

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
    for (const k of Object.keys(env)) if (/^(RESETWATCH_|OTEL_|NODE_OPTIONS$)/.test(k)) delete env[k];
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
      flags.push('--require', path.join(BENCH, 'otel-preload.js'));
    }
    return { env, flags, info };
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
    const stopScrape =
      app.variant === 'B' ? startScraper(app.info.metricsPort, opts.scrapeMs) : startScraper(standIn.address().port, opts.scrapeMs, true);
    try {
      if (scenario.kind === 'idle') {
        await app.call({ cmd: 'start', profile }, 'started');
        await sleep(scenario.durationMs);
        const res = await app.call({ cmd: 'stop' }, 'result');
        return {
          variant: app.variant,
          ops: res.wallUs / 1e6,
          cpuUs: res.cpuUs,
          wallMs: res.wallUs / 1000,
          cpuMsPerS: (res.cpuUs / res.wallUs) * 1000,
          profile: res.profile,
        };
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
    memoryRun,
    sleep,
    setReceiverPort: (port) => {
      receiverPort = port;
    },
  };
}

module.exports = { createHarness };
