// The in-process event bus: hooks publish reset events, exporters and users subscribe.
// A throwing subscriber is reported by the guard and never reaches the app or other subscribers.
import { guard } from './guard';
import { stats } from './stats';
import { setImmediate } from './timers';
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
// A database server's FIN that cut off a query has no socket error: the library makes its own
// (pg's "Connection terminated unexpectedly", node-redis's SocketClosedUnexpectedlyError) and emits
// it from the socket's 'close', which comes in the close phase of the loop's turn. Such an event
// (ANY_ERROR) waits until the check phase of the next turn, and any crash before then is its.
type Pending = { event: ResetEvent; error: unknown };
let pending: Pending[] = [];
let tickQueued = false;
let turnQueued = false;

/** publishSoon's `error` for a library that makes an error of its own for the end it met. */
export const ANY_ERROR: unique symbol = Symbol('resetwatch.anyError');

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
  const mine = pending.find((p) => p.error === error);
  const fatal = mine !== undefined ? [mine] : pending.filter((p) => p.error === ANY_ERROR);
  release(fatal);
  for (const { event } of fatal) {
    event.fatal = true;
    publish(event);
  }
}

function onExit(): void {
  guard('bus.exit', flush, true);
}

/** Takes `which` out of the waiting events, and the transient listeners off once none waits. */
function release(which: Pending[]): Pending[] {
  if (which.length === 0) return which;
  pending = pending.filter((p) => !which.includes(p));
  if (pending.length === 0) {
    process.removeListener('uncaughtExceptionMonitor', onUncaught);
    process.removeListener('exit', onExit);
  }
  return which;
}

/** Publishes the waiting events of the kind whose wait is over. */
function flush(turn: boolean): void {
  for (const { event } of release(pending.filter((p) => turn || p.error !== ANY_ERROR))) publish(event);
}

/**
 * Publishes on the next tick (ANY_ERROR: in the next turn's check phase), or at once and fatal if
 * `error` (ANY_ERROR: any error) crashes the app before then.
 */
export function publishSoon(event: ResetEvent, error: unknown): void {
  if (pending.length === 0) {
    addBelowLimit('uncaughtExceptionMonitor', onUncaught);
    addBelowLimit('exit', onExit as () => void);
  }
  pending.push({ event, error });
  if (error !== ANY_ERROR && !tickQueued) {
    tickQueued = true;
    process.nextTick(() => {
      tickQueued = false;
      guard('bus.flush', flush, false);
    });
  } else if (error === ANY_ERROR && !turnQueued) {
    turnQueued = true;
    // This turn's check phase, then the next one's: after this turn's close phase. Referenced, so
    // that the next turn's poll does not wait for I/O first: at most one turn more of the loop.
    setImmediate(() => {
      setImmediate(() => {
        turnQueued = false;
        guard('bus.flush', flush, true);
      });
    });
  }
}

/**
 * Adds a transient listener unless the app already has as many as its limit: one more would make
 * Node print a MaxListenersExceededWarning the app never printed. Then the event is only published
 * on the next tick (a crash or exit in this tick loses it). True when added.
 */
export function addBelowLimit(name: 'exit' | 'beforeExit' | 'uncaughtExceptionMonitor', listener: (arg: unknown) => void): boolean {
  const max = process.getMaxListeners();
  if (max > 0 && process.listenerCount(name) >= max) return false;
  process.on(name, listener);
  return true;
}
