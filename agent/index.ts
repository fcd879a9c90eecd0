// Package entry (CommonJS): loading it installs the agent once; it only re-exports.
import { install, prometheusRegistry } from './register';

const agent = install();

/** Subscribe to reset events; returns the unsubscribe function. */
export const onReset = agent.onReset;
/** The running agent: config, counters, stop(). */
export { agent };
/**
 * resetwatch's prom-client Registry, for apps that serve their own /metrics (loaded on first
 * access, so an app that never asks does not pay for it when the agent is disabled).
 */
export declare const registry: import('prom-client').Registry;
Object.defineProperty(exports, 'registry', {
  enumerable: true,
  get: prometheusRegistry,
});
export type { ResetEvent, ResetListener, Direction, Phase, ErrorType, Hint, AgentStats } from './types';
