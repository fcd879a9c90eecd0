// The in-process event bus: hooks publish reset events, exporters and users subscribe.
// A throwing subscriber is reported by the guard and never reaches the app or other subscribers.
import { guard } from './guard';
import { stats } from './stats';
import type { ResetEvent, ResetListener } from './types';

/** A subscriber, and whether it would use this end's address for the next reset (needsLocal). */
type Subscriber = { listener: ResetListener; wantsLocal: () => boolean };
let subscribers: Subscriber[] = [];
const always = () => true;
/** For a subscriber that never uses the local address. */
export const never = () => false;

/** Subscribe to reset events (the public API: every event carries this end's address). Returns the function that unsubscribes. */
export function onReset(listener: ResetListener): () => void {
  return subscribe(listener, always);
}

/**
 * The agent's own outputs subscribe here, saying when they would use the local address of the
 * next reset: reading it costs a getsockname per reset (agent/addresses.ts), and under a storm
 * most events only become counters, which never show it.
 */
export function subscribe(listener: ResetListener, wantsLocal: () => boolean): () => void {
  if (typeof listener !== 'function') throw new TypeError('onReset expects a function');
  const entry: Subscriber = { listener, wantsLocal };
  // A new array on each change: publish() iterates the one it read while a subscriber may unsubscribe.
  subscribers = [...subscribers, entry];
  return () => {
    subscribers = subscribers.filter((s) => s !== entry);
  };
}

/** Whether a subscriber would use the local address of a reset published next (read at the socket's destroy, before). */
export function needsLocal(): boolean {
  // Outputs still waiting to start start at the next publish: they may want it.
  if (before !== undefined) return true;
  // Every one is asked: a rate limit keeps its answer until its next take() (exporters/shared/rate-limit.ts).
  let wanted = false;
  for (const s of subscribers) {
    try {
      if (s.wantsLocal()) wanted = true;
    } catch {
      wanted = true; // an app's tracer provider threw: read it, as before this question existed
    }
  }
  return wanted;
}

/** Runs once before the next event is published (agent/register.ts: outputs still waiting to start). */
let before: (() => void) | undefined;

export function beforeFirstPublish(fn: (() => void) | undefined): void {
  before = fn;
}

export function publish(event: ResetEvent): void {
  if (before !== undefined) guard('start.outputs', before);
  stats.resets++;
  for (const s of subscribers) guard('subscriber', s.listener, event);
}

// A socket error with a listener may still crash the app: a database or broker client library that
// listens on its socket (pg's Client, amqplib; classify.ts defers only those) re-emits the same error object on its own emitter, and with no listener there the
// app dies inside the socket's emit('error'), after our errorMonitor ran. So such an event waits
// for the next tick; while any waits, a transient 'uncaughtExceptionMonitor' listener (it never
// handles anything: Node still prints the same report and exits the same way) marks it fatal and
// publishes it synchronously when the crashing error is that very object (to Node's report, or to
// the process's 'uncaughtException' handler). An 'exit' listener, as transient, publishes them if the app's own error
// handler exits (pg's documented `pool.on('error', … process.exit(-1))`). Both listeners are
// removed when the waiting events are published.
type Pending = { event: ResetEvent; error: unknown };
let pending: Pending[] = [];

function onUncaught(error: unknown): void {
  guard('bus.crash', crashing, error);
}

/** An uncaught error is taken at process level: by a listener, or a capture callback (domain, REPL). */
export function caughtAtProcess(): boolean {
  return process.listenerCount('uncaughtException') !== 0 || process.hasUncaughtExceptionCaptureCallback();
}

function crashing(error: unknown): void {
  // Taken by the process's handler instead (the monitor runs first) counts too: it most often logs
  // and exits, and the log line says which (exporters/log/message.ts), as for a direct crash.
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
    addBelowLimit('uncaughtExceptionMonitor', onUncaught);
    addBelowLimit('exit', onExit as () => void);
    process.nextTick(() => guard('bus.flush', flush));
  }
  pending.push({ event, error });
}

/**
 * Adds a transient listener unless the app already has as many as its limit: one more would make
 * Node print a MaxListenersExceededWarning the app never printed. Then the event is only published
 * on the next tick (a crash or exit in this tick loses it).
 */
function addBelowLimit(name: 'exit' | 'uncaughtExceptionMonitor', listener: (error: unknown) => void): void {
  const max = process.getMaxListeners();
  if (max > 0 && process.listenerCount(name) >= max) return;
  process.on(name, listener);
}
