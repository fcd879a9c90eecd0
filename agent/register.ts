// The preload, and the only module that knows both sides: the core (agent/) and the outputs
// (exporters/). Read config, install hooks, start outputs — each inside the guard, with one clear
// line when something is off. Installs once per process (and once per thread) however often the
// package is loaded: --require and --import together, or a later require('resetwatch').
import { DEFAULTS, disabledByEnv, resolveConfig, type Config, type HookName, type StartOptions } from './config';
import { setDiagLevel, diag } from './diag';
import { guard, setFaultInjection } from './guard';
import { onReset, beforeFirstPublish } from './bus';
import { readConnections, stats } from './stats';
import { keepRequestPaths } from './request-target';
import { kAgent, kRegistry, kWatched, socketState } from './symbols';
import { launcherOf } from './launcher';
import { loadedAsPreload } from './preload';
import { builtinLoaded, whenLoaded } from './builtins';
import { appKeepsLoopAlive, inNextTurn, whenAppBusy } from './first-turn';
import type { AgentStats, ResetListener } from './types';
import type { Exporter } from '../exporters/types';

/**
 * Whether this is the process's main thread. A worker thread's bootstrap loads node:worker_threads
 * before any preload (Node 20–26; a worker taken for the main thread would join the family election
 * instead of forwarding its resets: test/prometheus-cluster), so while it is not loaded this is the main
 * thread, and the ~1 ms of loading it (with the stream modules it pulls in) is spared: at every
 * launcher start (npm run, npx) and at an agent's preload.
 */
function isMainThread(): boolean {
  if (builtinLoaded('worker_threads') === false) return true;
  return (require('node:worker_threads') as typeof import('node:worker_threads')).isMainThread;
}

export interface Agent {
  readonly config: Config;
  readonly enabled: boolean;
  onReset(listener: ResetListener): () => void;
  readonly stats: AgentStats;
  /**
   * Starts (or restarts) with these options over the RESETWATCH_* environment (README
   * "Configuration in code"). Only the first call after load or after stop() applies; a bad option
   * is reported in one line and replaced by its default; it never throws.
   */
  start(options?: StartOptions): Agent;
  /** Removes every hook and stops every output; the OpenTelemetry providers export what they hold. */
  stop(): void;
}

interface Loaded {
  hooks: Record<HookName, Hook>;
  exporters: Output[];
}

/** An output as exporters/index.ts lists it: loaded when started. */
type Output = { name: Exporter['name']; load(): Exporter };

interface Hook {
  enable(config: Config): void;
  disable(): void;
}

/** Loaded only when enabled: RESETWATCH_DISABLED loads nothing but the config. */
function loadHooks(): Record<HookName, Hook> {
  return {
    client: require('./hooks/client'),
    server: require('./hooks/server'),
    tls: require('./hooks/tls'),
    destroy: require('./hooks/destroy'),
    http: require('./hooks/http'),
    undici: require('./hooks/undici'),
    activity: require('./hooks/activity'),
  };
}

/** The outputs, each loaded when started (exporters/index.ts lists them in start order). */
function loadOutputs(): Output[] {
  return (require('../exporters') as typeof import('../exporters')).exporters;
}

/** The Prometheus output's Registry, for apps that serve their own /metrics (loaded on first ask). */
export function prometheusRegistry(): import('prom-client').Registry {
  startWaitingOutputs?.();
  return (require('../exporters/prometheus') as typeof import('../exporters/prometheus')).registry;
}

/** The packages every running agent loads, at start or with its first reset (pino, the API). */
const RUNTIME_DEPENDENCIES = ['prom-client', 'pino', '@opentelemetry/api', '@opentelemetry/core'];

/**
 * Every module the agent runs, and every package it loads later whatever the configuration: all
 * must load or resolve before anything is installed, or the agent says why in one line and stays
 * out (the OpenTelemetry SDK, loaded only when OTEL_* asks for export, reports its own failure).
 * The shape that meets this: `--preserve-symlinks` in a pnpm layout, where a package's
 * dependencies are its siblings under node_modules/.pnpm, which that flag hides.
 */
function preservesSymlinks(): boolean {
  return (
    process.execArgv.includes('--preserve-symlinks') ||
    process.env.NODE_PRESERVE_SYMLINKS === '1' ||
    /(^|\s)--preserve-symlinks(\s|$)/.test(process.env.NODE_OPTIONS ?? '')
  );
}

function loadAll(): Loaded | string {
  // Checked only where a layout is known to hide them: resolving four packages through their
  // `exports` maps costs ~2–4 ms at every start (startup figures in docs/benchmarks.md). Anywhere
  // else a missing package shows when its output first loads it, as one line from the guard.
  if (preservesSymlinks()) {
    const missing = missingDependency();
    if (missing !== undefined) return missing;
  }
  try {
    return { hooks: loadHooks(), exporters: loadOutputs() };
  } catch (err) {
    return `its modules cannot be loaded (${(err as Error).message.split('\n')[0]})`;
  }
}

function missingDependency(): string | undefined {
  for (const name of RUNTIME_DEPENDENCIES) {
    try {
      require.resolve(name);
    } catch {
      return `its dependency ${name} cannot be found from ${__dirname} (--preserve-symlinks hides the dependencies of a symlinked package, as in a pnpm layout)`;
    }
  }
  return undefined;
}

/** Installs the hooks RESETWATCH_DISABLED_HOOKS leaves on: a disabled hook installs nothing at all. */
function enableHooks(hooks: Loaded['hooks'], config: Config, stops: (() => void)[]): void {
  keepRequestPaths(config.requestPaths);
  for (const [name, hook] of Object.entries(hooks) as [HookName, Hook][]) {
    if (config.disabledHooks.includes(name)) continue;
    guard(`enable.${name}`, hook.enable, config);
    stops.push(() => guard(`disable.${name}`, hook.disable));
  }
}

/** Starts the outputs RESETWATCH_DISABLED_OUTPUTS leaves on (of those `only` names, if given). */
function startOutputs(outputs: Output[], config: Config, stops: (() => void)[], only?: Output['name'][], turned = false): void {
  (require('../exporters/shared/labels') as typeof import('../exporters/shared/labels')).setConstantLabels(config.labels);
  const mainThread = isMainThread();
  for (const output of outputs) {
    if (config.disabledOutputs.includes(output.name)) continue;
    if (only !== undefined && !only.includes(output.name)) continue;
    const exporter = guard(`start.${output.name}.load`, output.load);
    if (exporter === undefined) continue;
    const stop = guard(`start.${exporter.name}`, exporter.start, { config, isMainThread: mainThread, turned });
    if (typeof stop === 'function') stops.push(() => guard(`stop.${exporter.name}`, stop));
  }
}

/**
 * Outputs a preload has not started yet (they wait for the event loop's first turn): started at
 * once by whatever needs them earlier, a reset or an app reading `registry`.
 */
let startWaitingOutputs: (() => void) | undefined;

/**
 * An app's own listen() on the metrics endpoint's fixed port, seen from the hooks' install on (the
 * app's first load of node:net): the app comes first (exporters/prometheus/step-aside.ts).
 */
function watchOwnPort(config: Config, stops: (() => void)[]): void {
  const fixedPort = typeof config.port === 'number' && config.port !== 0;
  if (!fixedPort || config.disabledOutputs.includes('prometheus') || !isMainThread()) return;
  const { watchListens } = require('../exporters/prometheus/step-aside') as typeof import('../exporters/prometheus/step-aside');
  stops.push(watchListens(config.port as number, config.host));
}

/**
 * What a preload does for the outputs when it installs (the app's first load of node:net or
 * node:worker_threads, or the first turn; they start in the first turn):
 * with a fixed port in the main thread, it binds the Prometheus family's name. That socket is where
 * a child that runs and exits while this process has not turned yet (execFileSync at startup, a
 * long synchronous start) hands its resets over: bound only in the first turn, that child would
 * lead alone and take them along. The Prometheus output starts ahead of the others where the name
 * is another process's (`join`: this process joins that family as early as it can, as a
 * short-lived member must, if its app keeps the loop alive by then: see startAhead) and when this
 * thread creates a Worker (`open`: its channel for the worker's resets must be open before that
 * thread can post one: exporters/prometheus/threads.ts). `later` is given inside Node's loader
 * (agent/builtins.ts whenLoaded): a bind that needs listen() waits for the tick's end then, and
 * happens if `later()` still wants it. Returns the release.
 */
function holdAtPreload(config: Config, join: () => void, open: () => void, later?: () => boolean): (() => void) | undefined {
  const fixedPort = typeof config.port === 'number' && config.port !== 0;
  if (!fixedPort || config.disabledOutputs.includes('prometheus') || !isMainThread()) return undefined;
  const { holdFamilyName, bindNeedsListen } =
    require('../exporters/prometheus/family-name') as typeof import('../exporters/prometheus/family-name');
  const { onFirstWorker } = require('../exporters/prometheus/threads') as typeof import('../exporters/prometheus/threads');
  let release: (() => void) | undefined;
  let cancelled = false;
  if (later !== undefined && bindNeedsListen()) {
    // Inside Node's loading of the module that loaded node:net, listen() would load node:cluster on
    // top of a node:cluster or node:child_process still loading below: half-made for the rest of
    // the process (net's listen without cluster._getServer, cluster.fork without fork). Bound at
    // the tick's end instead, unless the outputs started meanwhile (they hold the name then): a
    // child run synchronously before then (execFileSync) leads alone.
    process.nextTick(() =>
      guard('start.prometheus.hold', () => {
        if (!cancelled && later()) release = holdFamilyName(config, join);
      }),
    );
  } else release = holdFamilyName(config, join);
  const unsubscribe = onFirstWorker(open);
  return () => {
    cancelled = true;
    unsubscribe();
    release?.();
  };
}

/**
 * A cluster primary forks its workers in its main module, before any output starts (node:net loads
 * with node:child_process, and the hooks with it): it listens for the resets its workers crash on
 * from then on (exporters/prometheus/cluster-crashes.ts; light, no prom-client).
 */
function receiveWorkerCrashes(config: Config, stops: (() => void)[]): void {
  if (config.port === 'off' || config.disabledOutputs.includes('prometheus') || !isMainThread()) return;
  const { receiveCrashes } = require('../exporters/prometheus/cluster-crashes') as typeof import('../exporters/prometheus/cluster-crashes');
  stops.push(receiveCrashes());
}

function runAll(stops: (() => void)[]): void {
  for (const stop of stops.splice(0).reverse()) stop();
}

/**
 * Where the agent is also kept for the whole process: a built-in module's exports, which every vm
 * context of the process shares. A test runner that loads the package once per test file, each
 * file in a context with its own globalThis and module registry (jest), then still installs once:
 * one hook per socket, one log line per reset.
 */
const processWide = require('node:path') as { [kAgent]?: Agent }; // the module itself, not an import's copy of it

/**
 * Installed once per process by loading the package; configured from the environment, or by the
 * first start() call. A preload installs the hooks when the app first loads node:net (run()), binds
 * the Prometheus family's name then (a fixed port: holdAtPreload) and starts the outputs in the event
 * loop's first turn. The app's own load installs the hooks at once (sockets opened right after must be seen) and starts
 * the outputs one tick later, so an app that loads the package and calls start() in the same tick
 * never binds or opens anything with settings it is about to replace. A start() after the outputs
 * started (after a preload, or once the app awaited something) restarts hooks and outputs with
 * the new settings: code over environment, as everywhere.
 */
export function install(): Agent {
  const g = globalThis as { [kAgent]?: Agent };
  const existing = g[kAgent] ?? processWide[kAgent];
  if (existing !== undefined) {
    if (g[kAgent] === undefined) Object.defineProperty(g, kAgent, { value: existing, configurable: true });
    return existing;
  }
  // npm, npx, yarn, pnpm, corepack, PM2's client: dormant and silent, before the config is read (a bad
  // RESETWATCH_* value is reported once, by the app the launcher starts: agent/launcher.ts).
  const script = launcherOf(process.argv[1], process.argv.slice(2));
  const launcher = script !== undefined && isMainThread() ? script : undefined;
  // Switched off by the environment: nothing is said about the other settings (configure() below
  // sets the level the config asks for, for the one line that says the agent is off).
  if (launcher === undefined && disabledByEnv()) setDiagLevel('off');
  let config: Config = launcher === undefined ? resolveConfig() : { ...DEFAULTS };
  const hookStops: (() => void)[] = [];
  const outputStops: (() => void)[] = [];
  let loaded: Loaded | undefined;
  let enabled = false;
  let started = false; // by start(): later calls are ignored until stop()
  let pending = false; // outputs waiting for the end of the loading tick, or the first turn

  const configure = (c: Config) => {
    config = c;
    setDiagLevel(c.logLevel);
    setFaultInjection(c.faultInject);
  };
  /**
   * Installs hooks and starts outputs: `now`; at the end of the app's loading `tick`; or, for a
   * preload, in the event loop's first `turn` (agent/first-turn.ts: a process done before its
   * loop turns, `node -e 1`, never loads them; no reset can come before I/O, and the first reset
   * or `registry` access starts them at once anyway). A preload installs its hooks (and holds the
   * family's name) when the thread loads node:net, the only way to a socket, or node:worker_threads,
   * the way to a thread that hands its resets here: whichever load comes first, by any path
   * (agent/builtins.ts whenLoaded); at the latest in the first turn. A process that never loads
   * either before it is done (`node -e 1`, a script printing to a file) loads none of the agent's
   * hooks, nor node:net for them. False when the agent stays out.
   */
  const run = (when: 'now' | 'tick' | 'turn'): boolean => {
    if (config.disabled) return false;
    enabled = true;
    pending = when !== 'now';
    let cancelTurn: (() => void) | undefined;
    let release: (() => void) | undefined;
    let installed: boolean | undefined;
    let cancelWait: (() => void) | undefined;
    // The first turn passed with nothing to install (firstTurn, below): what a later load installs
    // holds no family name, whose refused bind (another process's family) would leave Node a
    // handle to close and the app's loop one more pass, a second 'beforeExit' where that load came
    // in the app's 'beforeExit' listener (a console.log to a pipe loads node:net). The family
    // binds it at the outputs' start in the next turn.
    let turnPassed = false;
    /** The agent stays out: one line, nothing waits. */
    const stayOut = (reason: string): false => {
      diag('warn', `disabled, the app runs without it: ${reason}`);
      enabled = false;
      pending = false;
      startWaitingOutputs = undefined;
      beforeFirstPublish(undefined);
      cancelTurn?.();
      return false;
    };
    /** Loads and enables the hooks (and, for a preload, holds the family's name) once; false if the agent stays out. */
    const install = (inLoader = false): boolean => {
      cancelWait?.();
      cancelWait = undefined;
      if (installed !== undefined) return installed;
      installed = false;
      if (loaded === undefined) {
        const result = loadAll();
        if (typeof result === 'string') return stayOut(result);
        loaded = result;
      }
      installed = true;
      enableHooks(loaded.hooks, config, hookStops);
      guard('start.prometheus.crashes', receiveWorkerCrashes, config, hookStops);
      guard('start.prometheus.ownPort', watchOwnPort, config, hookStops);
      if (when !== 'turn' || turnPassed) return true;
      release = guard(
        'start.prometheus.hold',
        holdAtPreload,
        config,
        () => startAhead(true),
        () => startAhead(false),
        inLoader ? () => pending && !ahead : undefined,
      );
      if (release !== undefined) outputStops.push(release);
      return true;
    };
    let ahead = false; // the Prometheus output started ahead of the others (holdAtPreload)
    // A member whose app kept nothing alive when it would have joined (startAhead), and which then
    // waits for its app past the first turn (whenAppBusy).
    let member = false;
    let waiting: (() => void) | undefined;
    const startRest = (turned = false) => {
      if (!pending || !install()) return; // start() or stop() came first, or a reset
      pending = false;
      startWaitingOutputs = undefined;
      beforeFirstPublish(undefined);
      cancelTurn?.();
      waiting?.();
      waiting = undefined;
      // A member that waited for its app (or resets first): it joins at once.
      if (member) turned = true;
      const outputs = loaded?.exporters ?? [];
      const rest = ahead ? outputs.filter((o) => o.name !== 'prometheus').map((o) => o.name) : undefined;
      guard('start.outputs', startOutputs, outputs, config, outputStops, rest, turned);
      release?.(); // the family took the name over (or it is another settings' by now)
    };
    const startAhead = (turned: boolean) => {
      if (!pending || ahead) return;
      if (waiting !== undefined) return turned ? undefined : startRest(true); // a Worker: the app is busy
      if (turned && appKeepsLoopAlive() === false) {
        // The family's name is another process's: this one would join now, in the tick after the
        // app's first one. An app with nothing keeping its loop alive yet (`node -e 1`, a health
        // check, a tool an npm script runs; or an app whose first server is still on its way, an
        // ESM app still loading) is looked at again in the first turn, with the other outputs:
        // then it joins, or it is done, or nearly, and joins nothing and loads none of the
        // outputs unless it still runs 1 ms later and its loop turns again (whenAppBusy) or it resets (startRest, by the
        // bus). Such a member costs what a process alone costs
        // (docs/benchmarks.md "A member's start").
        member = true;
        return;
      }
      ahead = true;
      guard('start.outputs', startOutputs, loaded?.exporters ?? [], config, outputStops, ['prometheus'], turned);
    };
    // The outputs' start in a turn of the loop (the first, or the one after the app's first load
    // of node:net where that came later).
    const firstTurn = () =>
      guard('start.firstTurn', () => {
        if (!pending) return; // stop() or start() came first
        // Nothing has loaded node:net or node:worker_threads yet: no socket to watch, no worker to
        // hear from. Hooks and outputs wait for that load (a build tool, a script that computes
        // and exits, never pays for them: ~30 ms of CPU, docs/benchmarks.md).
        if (cancelWait !== undefined) {
          turnPassed = true;
          return;
        }
        if (!install()) return;
        if (!member || appKeepsLoopAlive() !== false) return startRest(true);
        waiting = whenAppBusy(() => guard('start.outputs', startRest, true));
        // Only now is there something for stop() or start() to end (no "restarted" line before).
        outputStops.push(() => {
          waiting?.();
          waiting = undefined;
        });
      });
    if (when === 'turn' && builtinLoaded('net') === false) {
      // Checked now, not when the hooks install: where a layout hides a dependency, say so at start.
      const missing = preservesSymlinks() ? missingDependency() : undefined;
      if (missing !== undefined) return stayOut(missing);
      cancelWait = whenLoaded(['net', 'worker_threads'], () =>
        guard('start.hooks', () => {
          if (install(true) && turnPassed && pending) cancelTurn = inNextTurn(firstTurn);
        }),
      );
      if (cancelWait !== undefined) hookStops.push(() => cancelWait?.());
    }
    if (cancelWait === undefined && !install()) return false;
    if (when === 'now') {
      startOutputs(loaded?.exporters ?? [], config, outputStops);
      return true;
    }
    startWaitingOutputs = startRest;
    beforeFirstPublish(startRest);
    if (when === 'tick') process.nextTick(startRest);
    else cancelTurn = inNextTurn(firstTurn);
    return true;
  };
  const stop = () => {
    enabled = false;
    pending = false;
    startWaitingOutputs = undefined;
    beforeFirstPublish(undefined);
    runAll(outputStops);
    runAll(hookStops);
  };

  const offByEnv = config.disabled;
  if (launcher !== undefined) {
    // Nothing said: RESETWATCH_LOG_LEVEL is not read here.
  } else {
    configure(config);
    if (config.disabled) diag('info', 'disabled by RESETWATCH_DISABLED');
    else run(loadedAsPreload(require.main !== undefined) ? 'turn' : 'tick');
  }
  const agent: Agent = {
    get config() {
      return config;
    },
    get enabled() {
      return enabled;
    },
    onReset,
    // A read of the counts, as an output's (agent/stats.ts readConnections): from then on they never go down.
    get stats() {
      readConnections();
      return stats;
    },
    start(options?: StartOptions) {
      guard('start.api', () => {
        if (launcher !== undefined) return;
        if (started) {
          diag('warn', 'start() was called already; these options are ignored (stop() first to start again with others)');
          return;
        }
        const next = resolveConfig(options === undefined ? {} : options);
        started = true;
        const restart = outputStops.length > 0;
        stop();
        configure(next);
        if (next.disabled) {
          diag('info', offByEnv ? 'disabled by RESETWATCH_DISABLED; start() does nothing' : 'disabled by start()');
          return;
        }
        if (run('now') && restart) diag('info', 'restarted with the start() options');
      });
      return agent;
    },
    stop() {
      started = false;
      stop();
    },
  };
  Object.defineProperty(agent, kRegistry, { value: prometheusRegistry });
  Object.defineProperty(agent, kWatched, { value: (socket: object) => Boolean(socketState.get(socket)) });
  // Kept where a second load finds it. Never a throw from here on: the hooks may be installed
  // already (agent/index.ts falls back to an inert agent only for a throw before them).
  // Node's permission model freezes the built-in modules' exports (node:path among them): there the
  // agent is kept on globalThis alone (a jest-like runner's contexts would each install their own).
  for (const holder of [g, processWide]) {
    if (Object.isExtensible(holder)) guard('start.keep', () => Object.defineProperty(holder, kAgent, { value: agent, configurable: true }));
  }
  return agent;
}

/**
 * The package's agent where installing failed (a host that forbids something the agent needs):
 * nothing hooked, nothing started, one line says why; loading the package never throws.
 */
export function inert(err: unknown): Agent {
  diag('warn', `not installed (${err instanceof Error ? err.message : String(err)}); the app runs without it`);
  const config: Config = { ...DEFAULTS, disabled: true };
  const agent: Agent = {
    config,
    enabled: false,
    onReset: () => () => {},
    stats,
    start: () => agent,
    stop: () => {},
  };
  return agent;
}
