// Package entry (CommonJS): loading it installs the agent once; it only re-exports.
// First: Node's own timers, before the app can fake them (./timers.ts).
import './timers';
import { inert, install, prometheusRegistry, type Agent } from './register';
import type { StartOptions } from './config';
import { diag } from './diag';
import { kRegistry } from './symbols';

const agent = (() => {
  try {
    return install();
  } catch (err) {
    return inert(err);
  }
})();

/** Subscribe to reset events; returns the unsubscribe function. */
export const onReset = agent.onReset;
/** The running agent: config, counters, start(), stop(). */
export { agent };
/**
 * Configure in code instead of (over) the RESETWATCH_* environment: the same settings, the same
 * validation (a bad value: one line, its default used; never throws). The first call applies;
 * RESETWATCH_DISABLED=true in the environment still wins (README "Configuration in code").
 */
export function start(options?: StartOptions): Agent {
  // An agent installed by an older copy of the package (another version in the tree) has no start().
  if (typeof agent.start === 'function') return agent.start(options);
  diag('warn', 'start() is not supported by the resetwatch copy loaded first; options ignored');
  return agent;
}
/** Removes every hook and stops every output (a later start() may start again). */
export function stop(): void {
  agent.stop();
}
/**
 * resetwatch's prom-client Registry, for apps that serve their own /metrics (loaded on first
 * access, so an app that never asks does not pay for it when the agent is disabled).
 */
export declare const registry: import('prom-client').Registry;
Object.defineProperty(exports, 'registry', {
  enumerable: true,
  // The installed agent's own registry: another copy's, when that copy installed first in another
  // vm context of the process (register.ts); this copy's for an older copy that does not say.
  get: () => ((agent as { [kRegistry]?: () => unknown })[kRegistry] ?? prometheusRegistry)(),
});
export type { ResetEvent, ResetListener, Direction, Phase, ErrorType, Hint, AgentStats } from './types';
export type { Agent } from './register';
export type { StartOptions, HookName } from './config';
export type { OutputName } from './contract';
