// The preload: read config, install hooks, start outputs — each inside the guard, with one clear
// line when something is off. Installs once per process (and once per thread) however often the
// package is loaded: --require and --import together, or a later require('resetwatch').
import { isMainThread } from 'node:worker_threads';
import { resolveConfig, type Config } from './config';
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

interface Hook { enable(config: Config): void; disable(): void }

/** Loaded only when enabled: RESETWATCH_DISABLED loads nothing but the config. */
function loadHooks(): Record<string, Hook> {
  return {
    client: require('./hooks/client'),
    server: require('./hooks/server'),
    tls: require('./hooks/tls'),
    destroy: require('./hooks/destroy'),
    http: require('./hooks/http'),
    undici: require('./hooks/undici'),
  };
}

export function install(): Agent {
  const g = globalThis as { [kAgent]?: Agent };
  const existing = g[kAgent];
  if (existing !== undefined) return existing;
  const config = resolveConfig();
  setDiagLevel(config.logLevel);
  setFaultInjection(config.faultInject);
  const stops: (() => void)[] = [];
  let enabled = false;
  if (config.disabled) {
    diag('info', 'disabled by RESETWATCH_DISABLED');
  } else if (isMainThread && launcherOf(process.argv[1]) !== undefined) {
    // npm, npx, yarn, pnpm, corepack: dormant and silent; the app they start loads the agent (agent/launcher.ts).
    diag('debug', `dormant in the ${launcherOf(process.argv[1])} launcher`);
  } else {
    enabled = true;
    for (const [name, hook] of Object.entries(loadHooks())) {
      guard(`enable.${name}`, hook.enable, config);
      stops.push(() => guard(`disable.${name}`, hook.disable));
    }
    const { exporters } = require('../exporters') as { exporters: Exporter[] };
    for (const exporter of exporters) {
      const stop = guard(`start.${exporter.name}`, exporter.start, { config, isMainThread });
      if (typeof stop === 'function') stops.push(() => guard(`stop.${exporter.name}`, stop));
    }
  }
  const agent: Agent = {
    config,
    get enabled() { return enabled; },
    onReset,
    stats,
    stop() {
      enabled = false;
      while (stops.length) stops.pop()!();
    },
  };
  Object.defineProperty(g, kAgent, { value: agent, configurable: true });
  return agent;
}
