// Package entry (CommonJS): loading it installs the agent once; it only re-exports.
import { install } from './register';

const agent = install();

/** Subscribe to reset events; returns the unsubscribe function. */
export const onReset = agent.onReset;
/** The running agent: config, counters, stop(). */
export { agent };
/** resetwatch's prom-client Registry, for apps that serve their own /metrics. */
export { registry } from '../exporters/prometheus';
export type { ResetEvent, ResetListener, Direction, Phase, ErrorType, Hint, AgentStats } from './types';
