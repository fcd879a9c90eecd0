// Monotonic milliseconds for the hooks: performance.now(), with node:perf_hooks (and the timing
// modules it loads, ~1 ms) loaded at the first call, by the first socket, not at preload.
let perf: { now(): number } | undefined;

export function now(): number {
  if (perf === undefined) perf = (require('node:perf_hooks') as typeof import('node:perf_hooks')).performance;
  return perf.now();
}

/** now(), or -Infinity while the clock was never asked: no socket has a start time yet. */
export function nowIfStarted(): number {
  return perf === undefined ? -Infinity : perf.now();
}
