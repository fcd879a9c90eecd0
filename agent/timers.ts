// Node's own timer functions and clocks, taken when the agent loads (the preload: before any code
// of the app's). An app or its test suite that fakes timers later (sinon's fake-timers,
// vi.useFakeTimers(), jest's modern timers, node:test's mock.timers) replaces the globals and
// node:timers' exports, and Date, process.hrtime and performance.now with them. The agent's timers
// must not land in its fake clock, where the test would count them (vi.getTimerCount()), run them
// (clock.runAll() ran a self-renewing chore 1,000 times and threw), or see a real one cleared
// through the fake (sinon's warning): the tools trial. Nor may its clocks stop: an event's time,
// ages, rate limits and the fatal write's deadline (exporters/log/writer.ts) read them. Every module
// of the agent takes these from here (biome.jsonc forbids the globals in agent/ and exporters/;
// performance.now: ./clock.ts).
import * as timers from 'node:timers';

export const setTimeout = timers.setTimeout;
export const clearTimeout = timers.clearTimeout;
export const setInterval = timers.setInterval;
export const clearInterval = timers.clearInterval;
export const setImmediate = timers.setImmediate;
export const clearImmediate = timers.clearImmediate;
export const queueMicrotask = globalThis.queueMicrotask;
/** Node's own Date (`NodeDate.now()`, `new NodeDate(ms)`). */
export const NodeDate = globalThis.Date;
/** process.hrtime.bigint, detached (it reads no `this`). */
export const hrtimeBigint = process.hrtime.bigint;
