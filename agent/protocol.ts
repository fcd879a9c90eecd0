// What a connection carried, told at reset time only and never from its bytes: HTTP from Node's
// own machinery on the socket (event.ts), TLS ALPN, and for database clients the listener each
// client library leaves on its socket — read once, when the reset is seen, so nothing is paid per
// connection or per chunk:
// - postgres: `pg` (node-postgres) adds an 'error' listener named `reportStreamError`; `postgres`
//   (postgres.js 3 and 4) one named `error` beside a 'drain' listener named `drain`, told from
//   others of those names by its source (3: its `queues.connecting`; 4: `failure = err`);
// - mysql: `mysql2` and `mysql` add `this._handleNetworkError.bind(this)` ("bound _handleNetworkError"),
//   the `mariadb` connector is told by the `writeBuf` and `flush` functions it sets on its socket
//   (it removes every listener before it destroys the socket at the server's FIN);
// - redis: `ioredis` adds an anonymous 'close' listener that sets its status to "close";
//   node-redis (`redis`, `@redis/client` 1 to 6) an arrow that raises its
//   SocketClosedUnexpectedlyError when the server closes an open client;
// - amqp: `amqplib` (RabbitMQ's client) adds `this.onSocketError.bind(this)` ("bound
//   onSocketError") for 'error' and for 'end' once the connection is open (both: the name alone
//   is common among other clients);
// - mqtt: `mqtt` (MQTT.js 4 and 5) adds an 'error' listener named `streamErrorHandler` as it
//   dials, told from others of that name by its debug line (`streamErrorHandler :: error`).
// The dialled port alone (5432, 3306, 6379) is not used: anything may listen there.
import type { Sock } from './internal-types';
import { PROTOCOLS, type Protocol } from './types';

const KNOWN = new Set<string>(PROTOCOLS);

/** A protocol name from ALPN or elsewhere, folded into PROTOCOLS. */
export function known(name: string | undefined): Protocol | undefined {
  if (name === undefined) return undefined;
  return KNOWN.has(name) ? (name as Protocol) : 'unknown';
}

/**
 * The database or broker client library driving this socket, by the listeners it added; for a TLS
 * client over a socket the library dialled in plain (STARTTLS), by those on that socket: mysql2
 * leaves its named listener there and an anonymous one on the TLS socket (a trial of STARTTLS
 * clients: over SSL its queries cut off by the server were no event).
 */
export function libraryProtocol(socket: Sock): Protocol | undefined {
  const protocol = listenersProtocol(socket);
  if (protocol !== undefined) return protocol;
  // Node sets `_parent` on a TLS client built over a net.Socket (tls.connect({ socket })).
  const parent = (socket as unknown as { _parent?: unknown })._parent;
  return parent != null && typeof parent === 'object' && parent !== socket ? listenersProtocol(parent as Sock) : undefined;
}

function listenersProtocol(socket: Sock): Protocol | undefined {
  const own = socket as unknown as { writeBuf?: unknown; flush?: unknown };
  if (typeof own.writeBuf === 'function' && typeof own.flush === 'function') return 'mysql';
  const events = (socket as unknown as Emitting)._events;
  if (events == null) return undefined;
  const onError = events.error;
  for (let i = 0, n = countOf(onError); i < n; i++) {
    const fn = listenerAt(onError, i);
    const name = fn?.name;
    if (name === 'reportStreamError') return 'postgres';
    if (name === 'bound _handleNetworkError') return 'mysql';
    if (name === 'bound onSocketError' && named(events.end, 'bound onSocketError')) return 'amqp';
    if (name === 'streamErrorHandler' && Function.prototype.toString.call(fn).includes('streamErrorHandler :: error')) return 'mqtt';
    if (name === 'error' && named(events.drain, 'drain')) {
      const source = Function.prototype.toString.call(fn);
      if (source.includes('queues.connecting') || source.includes('failure = err')) return 'postgres';
    }
  }
  // The redis clients' listeners are anonymous (ioredis: `return function () { … }`, node-redis:
  // an arrow): a named listener (an app's own, most) is not one, and reading a function's source
  // costs a copy of it per reset.
  const onClose = events.close;
  for (let i = 0, n = countOf(onClose); i < n; i++) {
    const fn = listenerAt(onClose, i);
    if (fn?.name !== '') continue;
    const source = Function.prototype.toString.call(fn);
    if (source.includes('setStatus("close")') || source.includes('SocketClosedUnexpectedlyError')) return 'redis';
  }
  return undefined;
}

// The listeners read where EventEmitter keeps them (`_events`: one function, or an array of them),
// as its listeners() reads them, without the copy listeners() makes per call (two arrays per reset,
// ~0.75k instructions) and without running an override of listeners() by the app or another agent.
type Emitting = { _events?: Record<string, unknown> | null };
type Listener = ((...args: unknown[]) => unknown) & { listener?: Listener };

function countOf(stored: unknown): number {
  return typeof stored === 'function' ? 1 : Array.isArray(stored) ? stored.length : 0;
}

/** Whether one of the `stored` listeners has this name. */
function named(stored: unknown, name: string): boolean {
  for (let i = 0, n = countOf(stored); i < n; i++) if (listenerAt(stored, i)?.name === name) return true;
  return false;
}

/** The i-th listener, unwrapped from once()'s wrapper as listeners() does. */
function listenerAt(stored: unknown, i: number): Listener | undefined {
  const fn = (Array.isArray(stored) ? stored[i] : stored) as Listener | undefined;
  if (typeof fn !== 'function') return undefined;
  return typeof fn.listener === 'function' ? fn.listener : fn;
}

/** Database protocols: a pooled connection to one of these is what the pool hint is about. */
export function isDatabase(p: string): boolean {
  return p === 'postgres' || p === 'mysql' || p === 'redis';
}

/**
 * Client libraries that re-emit their socket's error on an emitter of their own (pg's Client,
 * amqplib's connection): with no listener there the app crashes after our errorMonitor ran, so
 * the event waits a tick to learn whether it was fatal (bus.ts publishSoon). MQTT.js re-emits too,
 * but its connect() listens on its client itself: an MQTT app never crashes there.
 */
export function reEmitsErrors(p: string): boolean {
  return isDatabase(p) || p === 'amqp';
}
