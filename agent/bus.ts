// The in-process event bus: hooks publish reset events, exporters and users subscribe.
// A throwing subscriber is reported by the guard and never reaches the app or other subscribers.
import { guard } from './guard';
import { stats } from './stats';
import type { ResetEvent, ResetListener } from './types';

const listeners: ResetListener[] = [];

/** Subscribe to reset events. Returns the function that unsubscribes. */
export function onReset(listener: ResetListener): () => void {
  if (typeof listener !== 'function') throw new TypeError('onReset expects a function');
  listeners.push(listener);
  return () => {
    const i = listeners.indexOf(listener);
    if (i !== -1) listeners.splice(i, 1);
  };
}

/** Runs once before the next event is published (agent/register.ts: outputs still waiting to start). */
let before: (() => void) | undefined;

export function beforeFirstPublish(fn: (() => void) | undefined): void {
  before = fn;
}

export function publish(event: ResetEvent): void {
  if (before !== undefined) guard('start.outputs', before);
  stats.resets++;
  // Copy: a subscriber may unsubscribe while we iterate.
  for (const listener of listeners.slice()) guard('subscriber', listener, event);
}

export function subscriberCount(): number {
  return listeners.length;
}

// A socket error with a listener may still crash the app: a database client library that listens
// on its socket (pg's Client; classify.ts defers only those) re-emits the same error object on its own emitter, and with no listener there the
// app dies inside the socket's emit('error'), after our errorMonitor ran. So such an event waits
// for the next tick; while any waits, a transient 'uncaughtExceptionMonitor' listener (it never
// handles anything: Node still prints the same report and exits the same way) marks it fatal and
// publishes it synchronously when the crashing error is that very object and nothing handles
// uncaught exceptions. An 'exit' listener, as transient, publishes them if the app's own error
// handler exits (pg's documented `pool.on('error', … process.exit(-1))`). Both listeners are
// removed when the waiting events are published.
type Pending = { event: ResetEvent; error: unknown };
let pending: Pending[] = [];

function onUncaught(error: unknown): void {
  guard('bus.crash', crashing, error);
}

function crashing(error: unknown): void {
  if (process.listenerCount('uncaughtException') !== 0) return;
  const waiting = pending;
  for (let i = 0; i < waiting.length; i++) {
    if (waiting[i].error !== error) continue;
    const { event } = waiting[i];
    waiting.splice(i, 1);
    event.fatal = true;
    publish(event);
    return;
  }
}

function onExit(): void {
  guard('bus.exit', flush);
}

function flush(): void {
  const waiting = pending;
  pending = [];
  process.removeListener('uncaughtExceptionMonitor', onUncaught);
  process.removeListener('exit', onExit);
  for (const { event } of waiting) publish(event);
}

/** Publishes on the next tick, or at once and fatal if `error` crashes the app before then. */
export function publishSoon(event: ResetEvent, error: unknown): void {
  if (pending.length === 0) {
    process.on('uncaughtExceptionMonitor', onUncaught);
    process.on('exit', onExit);
    process.nextTick(() => guard('bus.flush', flush));
  }
  pending.push({ event, error });
}
