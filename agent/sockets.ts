// Per-socket observation, shared by the client, server and TLS hooks, and the one place that reads
// or writes a socket's state slot and adjusts the connection counters. A state object under a
// Symbol, and an errorMonitor listener (never an 'error' listener: an unhandled error still crashes
// the app exactly as before), a plain function shared by every socket, so watching allocates only
// the state object. The end of a connection without an error is seen by hooks/destroy.ts.
// The listener: a TLS socket gets it when watched (TLSSocket emits an error after the handshake
// without destroy()); a plain socket only when it is destroyed with an error (listenForError():
// while hooks/destroy.ts is installed; without it, from the start as a TLS socket;
// every error of a net.Socket goes through destroy(err), hence its _destroy, and Node emits it on
// a later tick), so that most connections, which end without one, never add it (callgrind: ~0.5k
// instructions per connection, the listener's megamorphic keyed load and store in `_events`).
//
// The slot holds one of four things, and only this file tells them apart:
//   nothing        — not seen yet (a new socket, a Unix-domain socket, ...);
//   a SocketState  — watched: stateOf() returns it;
//   SUPERSEDED     — not a connection of the app's: a raw socket whose handle a TLSSocket took
//                    over, or one of resetwatch's own sockets (disown());
//   PASSED         — looked at mid-life and not adopted (pass(): stdio, pipes, a dial while the
//                    client hook is off): as one not seen, but the activity hook skips it.
import { EventEmitter, errorMonitor } from 'node:events';
import type * as net from 'node:net';
import type { SocketState, NodeSocketInternals } from './internal-types';
import * as flags from './internal-types';
import * as symbols from './symbols';
import { stats, countsReadSince } from './stats';
import { guard } from './guard';
import { bypass } from './hooks/activity';

const SUPERSEDED = null;
const PASSED = false;

// Module-level copies of the imported constants (hooks/activity.ts says why).
const slot = symbols.socketState;
const { SERVER, TLS, ADOPTED } = flags;

type Watched = net.Socket & NodeSocketInternals;

function count(state: SocketState, n: 1 | -1): void {
  // From the flags by named loads: no `direction` getter, no keyed loads by computed names.
  const f = state.activity;
  const side = (f & SERVER) !== 0 ? stats.connections.server : stats.connections.client;
  if ((f & TLS) !== 0) side.tls += n;
  else side.plain += n;
}

/**
 * A watch undone (a TLS take-over, one of resetwatch's own sockets): its count is taken back only
 * while no output can have reported it, as a counter that went down would read as a counter reset
 * to Prometheus and to OpenTelemetry's cumulative sums (rate() would count the whole counter
 * again). False when the count stays: a TLS take-over then counts the connection no more
 * (supersede()), and it stays counted as plain (a STARTTLS connection scraped in its plain round
 * trip, a one-port HTTP/HTTPS server that peeked at the first bytes).
 */
function uncount(state: SocketState): boolean {
  if ((state.activity & ADOPTED) !== 0) return true; // never counted here
  // `start` is kept to the rounded microsecond (internal-types.ts): up to 0.5 µs after the clock
  // reading taken before the count. A microsecond earlier is never after it.
  if (countsReadSince(state.start - 0.001)) return false;
  count(state, -1);
  return true;
}

// The listener is added and removed with EventEmitter's own methods, not the socket's: the socket's
// `on` is Readable.prototype.on, which compares the event name with 'data' and 'readable'; a Symbol
// among the strings makes V8 compile every one of those comparisons, for each of the app's own
// listeners on every socket, into a generic call (callgrind: ~0.9k instructions per connection with
// the extra call). For a Symbol event Readable's `on` does nothing else. Taken at load, so that a
// later patch of EventEmitter.prototype (another agent's) is not run for our listener.
const addListener = EventEmitter.prototype.on;
const removeListener = EventEmitter.prototype.removeListener;
const listenerCount = EventEmitter.prototype.listenerCount as (this: EventEmitter, name: string | symbol, listener?: unknown) => number;

/** Starts watching a socket: its state, one connection counted, a TLS socket's errorMonitor listener. */
export function watch(socket: Watched, state: SocketState): void {
  attach(socket, state);
  count(state, 1);
}

/** The state in the slot, and a TLS socket's listener (a plain one's comes at destroy: listenForError). */
function attach(socket: Watched, state: SocketState): void {
  slot.set(socket, state);
  if (!errorsAtDestroy || (state.activity & TLS) !== 0) addListener.call(socket, errorMonitor, errorListener);
}

/**
 * Starts watching a connection met mid-life (hooks/server.ts adopt): as watch(), but not counted as
 * opened here (ADOPTED).
 */
export function adopt(socket: Watched, state: SocketState): void {
  state.activity |= ADOPTED;
  attach(socket, state);
}

/**
 * A connection adopted at a write before net.server.socket reported it (hooks/server.ts): the app
 * wrote in its server's 'connection' listener, which Node emits first (a greeting: SMTP, FTP,
 * MySQL). The channel says this process accepted it: counted as opened after all (a count that
 * goes up later is no counter reset, unlike uncount()'s).
 */
export function acceptedAfterAll(socket: object): void {
  const state = slot.get(socket);
  if (!state || (state.activity & (ADOPTED | SERVER)) !== (ADOPTED | SERVER)) return;
  state.activity &= ~ADOPTED;
  count(state, 1);
}

/** A socket met with no slot and not adopted (hooks/server.ts): marked, so that it is looked at once. */
export function pass(socket: object): void {
  slot.set(socket, PASSED);
}

/** True while hooks/destroy.ts is installed: it adds a plain socket's listener (listenForError). */
let errorsAtDestroy = false;

export function listenAtDestroy(on: boolean): void {
  errorsAtDestroy = on;
}

/**
 * A watched plain socket being destroyed with an error (hooks/destroy.ts): the errorMonitor
 * listener, in place before Node emits that error (next tick). Once per socket, also when it is
 * reconnected and fails again.
 */
export function listenForError(socket: Watched, state: SocketState): void {
  if ((state.activity & TLS) !== 0) return;
  // Once: also a socket watched while the destroy hook was off, or reconnected after an error.
  // listenerCount with the listener (Node ≥ 18.16) counts in place: no copy of the listener array.
  if (listenerCount.call(socket, errorMonitor, errorListener) !== 0) return;
  addListener.call(socket, errorMonitor, errorListener);
}

/** The state of a watched socket; undefined for one never seen or superseded. */
export function stateOf(socket: object): SocketState | undefined {
  return slot.get(socket) || undefined;
}

/**
 * True when the client hook may watch this socket: never seen, or watched and its event published
 * (a reconnect after a reset). One load of the slot, where stateOf() and isClaimed() are two.
 */
export function watchable(socket: object): boolean {
  const state = slot.get(socket);
  return state ? state.done : state !== SUPERSEDED;
}

/** True once a socket is watched or superseded: a hook that sees it again leaves it alone. */
export function isClaimed(socket: object): boolean {
  const state = slot.get(socket);
  return state !== undefined && state !== PASSED;
}

/**
 * A TLSSocket took over this socket's handle: its own events are no longer the connection's.
 * Returns the state it was watched with, for the TLSSocket to carry on: no longer counted, or, if
 * its count had to stay, marked ADOPTED, and the TLSSocket is then not counted again (hooks/tls.ts).
 */
export function supersede(socket: object): SocketState | undefined {
  const previous = stateOf(socket);
  if (previous !== undefined && !uncount(previous)) previous.activity |= ADOPTED;
  slot.set(socket, SUPERSEDED);
  return previous;
}

/**
 * One of resetwatch's own sockets (the metrics endpoint's, the OTLP sender's): never watched,
 * never counted. Before the hooks saw it, it is marked so they skip it; if a hook already watched
 * it, the watch is undone.
 */
export function disown(socket: object): void {
  const s = socket as Watched;
  const state = slot.get(s);
  if (state) {
    removeListener.call(s, errorMonitor, errorListener);
    uncount(state);
  }
  // Marked, not deleted: a hook that meets it again (a reconnect, a TLS take-over) leaves it alone.
  slot.set(s, SUPERSEDED);
  bypass(s);
}

/**
 * Gone again once it has served: a plain socket's error comes once (it is destroyed with it); a
 * TLS socket's once its event is out, or when no 'error' listener takes the error (the app is
 * about to crash). An app's crash report that prints the socket (pg-pool puts its client on the
 * error) then shows its listeners as without the agent (ORM trial).
 */
function errorListener(this: Watched, err: Error): void {
  const state = slot.get(this);
  if (state && !state.done) guard('socket.error', socketError, this, state, err);
  if (!state || state.done || (state.activity & TLS) === 0 || listenerCount.call(this, 'error') === 0) unlisten(this);
}

/**
 * removeListener, and the key it leaves: a socket's `_events` is in Node's shape mode (its usual
 * keys preset), where removing a listener sets its key to undefined rather than deleting it, and a
 * printed socket would show `[Symbol(events.errorMonitor)]: undefined` (re-trial of the ORM fix).
 */
function unlisten(socket: Watched): void {
  removeListener.call(socket, errorMonitor, errorListener);
  const events = (socket as { _events?: Record<symbol, unknown> })._events;
  if (events != null && events[errorMonitor] === undefined && Object.hasOwn(events, errorMonitor)) delete events[errorMonitor];
}

function socketError(socket: Watched, state: SocketState, err: Error): void {
  classify().onSocketError(socket, state, err);
}

type Classify = typeof import('./classify');
let classifier: Classify | undefined;

/**
 * classify.ts and the event builder behind it (event, hints, protocol, upgrade, retry): loaded
 * with the first watched socket that errors or ends, not at preload (~3 ms a process done before
 * any I/O never pays: docs/benchmarks.md). Call it inside guard(): a broken install throws here.
 */
export function classify(): Classify {
  if (classifier === undefined) classifier = require('./classify') as Classify;
  return classifier;
}
