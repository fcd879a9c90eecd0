// Package entry for `node --import resetwatch` and `import { onReset } from 'resetwatch'`:
// the same single instance as the CommonJS entry.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cjs = require('./index.js') as typeof import('./index.js');

export const onReset = cjs.onReset;
export const agent = cjs.agent;
export const registry = cjs.registry;
export const start = cjs.start;
export const stop = cjs.stop;
export type {
  ResetEvent,
  ResetListener,
  Direction,
  Phase,
  ErrorType,
  Hint,
  AgentStats,
  Agent,
  StartOptions,
  HookName,
  OutputName,
} from './index.js';
export default cjs;
