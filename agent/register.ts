// The preload, and the only module that knows both sides: the core (agent/) and the outputs
// (exporters/). Read config, install hooks, start outputs — each inside the guard, with one clear
// line when something is off. Installs once per process (and once per thread) however often the
// package is loaded: --require and --import together, or a later require('resetwatch').
import { isMainThread } from 'node:worker_threads';
import { DEFAULTS, resolveConfig, type Config } from './config';
import { setDiagLevel, diag } from './diag';
import { guard, setFaultInjection } from './guard';
import { onReset } from './bus';
import { stats } from './stats';
import { kAgent } from './symbols';
import { launcherOf } from './launcher';
import type { AgentStats, ResetListener } from './types';
import type { Exporter } from '../exporters/types';

export interface Agent {
  readonly config: Config;
  readonly enabled: boolean;
  onReset(listener: ResetListener): () => void;
  readonly stats: AgentStats;
  /** Removes every hook and stops every output (tests; not needed in production). */
  stop(): void;
}

interface Hook {
  enable(config: Config): void;
  disable(): void;
}

/** Loaded only when enabled: RESETWATCH_DISABLED loads nothing but the config. */
function loadHooks(): Record<string, Hook> {
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

/** The outputs, loaded only when enabled (exporters/index.ts lists them in start order). */
function loadOutputs(): Exporter[] {
  return (require('../exporters') as typeof import('../exporters')).exporters;
}

/** The Prometheus output's Registry, for apps that serve their own /metrics (loaded on first ask). */
export function prometheusRegistry(): import('prom-client').Registry {
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

function loadAll(): { hooks: Record<string, Hook>; exporters: Exporter[] } | string {
  for (const name of RUNTIME_DEPENDENCIES) {
    try {
      require.resolve(name);
    } catch {
      return (
        `its dependency ${name} cannot be found from ${__dirname}` +
        (preservesSymlinks() ? ' (--preserve-symlinks hides the dependencies of a symlinked package, as in a pnpm layout)' : '')
      );
    }
  }
  try {
    return { hooks: loadHooks(), exporters: loadOutputs() };
  } catch (err) {
    return `its modules cannot be loaded (${(err as Error).message.split('\n')[0]})`;
  }
}

function start({ hooks, exporters }: { hooks: Record<string, Hook>; exporters: Exporter[] }, config: Config, stops: (() => void)[]): void {
  for (const [name, hook] of Object.entries(hooks)) {
    guard(`enable.${name}`, hook.enable, config);
    stops.push(() => guard(`disable.${name}`, hook.disable));
  }
  for (const exporter of exporters) {
    const stop = guard(`start.${exporter.name}`, exporter.start, { config, isMainThread });
    if (typeof stop === 'function') stops.push(() => guard(`stop.${exporter.name}`, stop));
  }
}

export function install(): Agent {
  const g = globalThis as { [kAgent]?: Agent };
  const existing = g[kAgent];
  if (existing !== undefined) return existing;
  // npm, npx, yarn, pnpm, corepack: dormant and silent, before the config is read (a bad
  // RESETWATCH_* value is reported once, by the app the launcher starts: agent/launcher.ts).
  const launcher = isMainThread ? launcherOf(process.argv[1]) : undefined;
  const config = launcher === undefined ? resolveConfig() : { ...DEFAULTS };
  if (launcher === undefined) {
    setDiagLevel(config.logLevel);
    setFaultInjection(config.faultInject);
  }
  const stops: (() => void)[] = [];
  let enabled = false;
  if (launcher !== undefined) {
    // Nothing said: RESETWATCH_LOG_LEVEL is not read here.
  } else if (config.disabled) {
    diag('info', 'disabled by RESETWATCH_DISABLED');
  } else {
    const loaded = loadAll();
    if (typeof loaded === 'string') {
      diag('warn', `disabled, the app runs without it: ${loaded}`);
    } else {
      enabled = true;
      start(loaded, config, stops);
    }
  }
  const agent: Agent = {
    config,
    get enabled() {
      return enabled;
    },
    onReset,
    stats,
    stop() {
      enabled = false;
      for (const stop of stops.splice(0).reverse()) stop();
    },
  };
  Object.defineProperty(g, kAgent, { value: agent, configurable: true });
  return agent;
}
