// Node's own timer functions, taken when the agent loads (the preload: before any code of the
// app's). An app or its test suite that fakes timers later (sinon's fake-timers, vi.useFakeTimers(),
// jest's modern timers, node:test's mock.timers) replaces the globals and node:timers' exports; the
// agent's timers must not land in its fake clock, where the test would count them
// (vi.getTimerCount()), run them (clock.runAll() ran a self-renewing chore 1,000 times and threw),
// or see a real one cleared through the fake (sinon's warning): the tools trial. Every module of the
// agent takes its timers from here (biome.jsonc forbids the globals in agent/ and exporters/).
import * as timers from 'node:timers';

export const setTimeout = timers.setTimeout;
export const clearTimeout = timers.clearTimeout;
export const setInterval = timers.setInterval;
export const clearInterval = timers.clearInterval;
export const setImmediate = timers.setImmediate;
export const clearImmediate = timers.clearImmediate;
export const queueMicrotask = globalThis.queueMicrotask;
