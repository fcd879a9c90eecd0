// Monotonic milliseconds for the agent: performance.now(), with node:perf_hooks (and the timing
// modules it loads, ~1 ms) loaded at the first call, by the first socket, not at preload. Its
// prototype's now(), not the instance's: fake timers (./timers.ts) give the instance a now() of
// their own, and this module may first load after they did.
let perf: object | undefined;
let perfNow: (this: object) => number;

export function now(): number {
  if (perf === undefined) {
    const p = (require('node:perf_hooks') as typeof import('node:perf_hooks')).performance;
    perfNow = (Object.getPrototypeOf(p) as { now: (this: object) => number }).now;
    perf = p;
  }
  return perfNow.call(perf as object);
}

/** now(), or -Infinity while the clock was never asked: no socket has a start time yet. */
export function nowIfStarted(): number {
  return perf === undefined ? -Infinity : perfNow.call(perf);
}
