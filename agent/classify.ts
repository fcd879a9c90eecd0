// Classification: decides whether a socket's end is a reset, of which error type and in which
// phase, and publishes it; agent/event.ts turns the socket's state into the ResetEvent.
import { constants as osConstants } from 'node:os';
import {
  type SocketState,
  type Sock,
  type ClientRequestLike,
  type ServerResponseLike,
  type AddressSnapshot,
  RESET_BEHIND_END,
  ABORT_BEHIND_END,
  END_CALLED,
  SAME_STEP,
  READS,
  READ_ONCE,
  READ_AGAIN,
  CLOCK_MASK,
  clockMs,
  httpOf,
  responseBegun,
} from './internal-types';
import * as activity from './hooks/activity';
import type { ErrorType, Phase } from './types';
import { ANY_ERROR, needsLocal, publish, publishSoon } from './bus';
import { arriving, buildEvent } from './event';
import { isUpgraded } from './upgrade';
import { sessionOf, streamsInFlight } from './http2';
import { isDatabase, libraryProtocol, reEmitsErrors } from './protocol';
import { guardReadError } from './pool-guard';
import { endMayHideReset, nextRead, UV_HIDES_RST } from './next-read';
import { type AddressInternals, peerError, readAddresses, serverNameOf, tlsVersionOf } from './addresses';
import { Stamp } from './symbols';
import { now as clockNow } from './clock';
import { awaitingRequest } from './tunnel';

type ErrnoError = Error & { code?: string; syscall?: string };

const ERRNO_TYPES: Record<string, ErrorType> = {
  ECONNRESET: 'ECONNRESET',
  EPIPE: 'EPIPE',
  ECONNABORTED: 'ECONNABORTED',
  ECONNREFUSED: 'ECONNREFUSED',
};

/**
 * Maps an error to its error_type, or undefined when it is not a reset we count. A reset is what the
 * connection's own handle reported, and such errors always name their syscall (`read`, `write`,
 * `connect`). An error without one was made by a library or the app and passed to destroy(): axios'
 * ECONNABORTED timeout, Node's "aborted" of a cut upstream response piped into this socket. The
 * three exceptions are Node's and undici's own verdicts on this very connection.
 */
export function errorTypeOf(err: ErrnoError, state: SocketState): ErrorType | undefined {
  const code = err?.code;
  if (code === undefined) return undefined;
  if (err.syscall !== undefined) return ERRNO_TYPES[code];
  const attempt = lastAttempt(err);
  if (attempt !== undefined) return ERRNO_TYPES[attempt.code ?? ''];
  // Node's TLS client reports a FIN during the handshake as ECONNRESET without a syscall.
  if (code === 'ECONNRESET' && /before secure TLS connection/.test(err.message)) return 'peer_closed';
  // undici destroys its socket with "other side closed" on every FIN, idle ones included:
  // only one that cut off a request in flight counts, or an RST read as that end (snapshot).
  if (code === 'UND_ERR_SOCKET' && (state.http?.inflight !== undefined || (state.activity & RESET_BEHIND_END) !== 0)) return 'peer_closed';
  if (parserEnd(code, state)) return 'peer_closed';
  return undefined;
}

/**
 * Node's happy eyeballs (`autoSelectFamily`, on by default from Node 20): a host name with several
 * addresses (IPv6 and IPv4, `localhost` on most hosts) is tried address by address, and when every
 * attempt fails the socket is destroyed with one AggregateError of them (its code the first's, no
 * syscall). Its last attempt that reached the network is what a single address would have raised:
 * the earlier ones were fallbacks, as one before a later attempt that connects is (one refused, the
 * last timed out: no reset, as that timeout alone would be). An attempt that failed on this host
 * (no route to an IPv6 address, none to bind) is passed over: its SYN never left (re-trial: a
 * refused IPv4 before an unroutable IPv6 read nothing).
 */
function lastAttempt(err: ErrnoError): ErrnoError | undefined {
  if (err.syscall !== undefined) return undefined;
  const errors = (err as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  let last: ErrnoError | undefined;
  for (const e of errors as (ErrnoError | null)[]) {
    if (e?.syscall !== 'connect') return undefined;
    if (!LOCAL_FAILURES.has(e.code ?? '')) last = e;
  }
  return last ?? (errors[errors.length - 1] as ErrnoError);
}

const LOCAL_FAILURES = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** The attempts, address and code each, for the event's message: `::1 ECONNREFUSED, 127.0.0.1 ECONNREFUSED`. */
function attempts(err: ErrnoError): string {
  const errors = (err as AggregateError).errors as (ErrnoError & { address?: string })[];
  const named = errors.slice(0, 4).map((e) => `${e.address ?? '?'} ${e.code ?? '?'}`);
  return `${errors.length} addresses tried: ${named.join(', ')}${errors.length > 4 ? ', …' : ''}`;
}

/** The error whose syscall was the connect that failed: the error itself, or happy eyeballs' last attempt. */
function failedConnect(err: ErrnoError | null | undefined): (ErrnoError & { address?: string; port?: number }) | undefined {
  if (err == null) return undefined;
  return err.syscall === 'connect' ? err : lastAttempt(err);
}

/**
 * Node's HTTP server at a FIN in the middle of a request (an upload the client, or a proxy for it,
 * gave up): with no 'clientError' listener it destroys the socket with its parser's error.
 */
function parserEnd(code: string | undefined, state: SocketState): boolean {
  return code === 'HPE_INVALID_EOF_STATE' && state.direction === 'server';
}

// Claimed by a socket the agent does not watch (a Unix-domain socket, one from before the agent).
const UNWATCHED = {};

/**
 * The connection an error belongs to: the first socket destroyed with it (hooks/destroy.ts) or,
 * failing that, the first watched socket that emits it. A proxy or a pipeline that destroys a
 * second socket with the same error object passes on another connection's reset, not its own.
 * Kept in a private field stamped on the error (./symbols.ts Stamp): no property the app or any
 * other code can see (Reflect.ownKeys, util.inspect, JSON, structuredClone), and a claim is a store
 * where a WeakMap entry cost V8's ephemeron barrier for a young key in an old table (~0.6k
 * instructions, −1 to −2 µs per reset at 1,000/s: docs/benchmarks.md "Thirty-fourth pass"). A
 * frozen error takes the field too, today; should V8 refuse that (the TC39 proposal "Nonextensible
 * Applies to Private", which Node 26's V8 does under --js-nonextensible-applies-to-private), it
 * is kept beside the error instead (test/promises-faults.test.mjs).
 */
class ErrorSource extends Stamp {
  #source: object;
  constructor(err: object, source: object) {
    super(err);
    this.#source = source;
  }
  /** Its own class, not a privateSlot(): those share their look-up sites with every socket's slot. */
  static of(err: object): object | undefined {
    return #source in err ? (err as ErrorSource).#source : beside?.get(err);
  }
}

/** Claims of errors that refused the field (none so far: made on the first). */
let beside: WeakMap<object, object> | undefined;

function claim(err: object, source: object): void {
  try {
    new ErrorSource(err, source);
  } catch {
    beside ??= new WeakMap();
    beside.set(err, source);
  }
}

export function claimError(err: unknown, state: SocketState | undefined): void {
  if (typeof err !== 'object' || err === null || ErrorSource.of(err) !== undefined) return;
  claim(err, state ?? UNWATCHED);
}

/** Whether `err` is this connection's own: claimed by it, or by nothing yet (then claimed now). One look-up when claimed at destroy. */
function raisedHere(err: object, state: SocketState): boolean {
  const source = ErrorSource.of(err);
  if (source !== undefined) return source === state;
  claim(err, state);
  return true;
}

/**
 * A TLS client's peer that sent an alert before any application byte (a TLS 1.3 server rejecting
 * the client's certificate after the client's handshake had finished) and then closed: Node's
 * https reports the alert; undici fails its request with "other side closed" at the close behind
 * it (a trial of TLS failures: it read as the server closing mid-response, retry unsafe). That
 * close belongs to the handshake: its phase, and the alert named in its message. Alert codes by
 * connection, for the few that have one.
 */
const alerts = new WeakMap<SocketState, string>();

function noteAlert(socket: Sock, state: SocketState, err: ErrnoError): void {
  const code = err?.code;
  if (
    state.direction === 'client' &&
    typeof code === 'string' &&
    code.startsWith('ERR_SSL_') &&
    code.includes('_ALERT_') &&
    socket.bytesRead === 0
  )
    alerts.set(state, code);
}

export function onSocketError(socket: Sock, state: SocketState, err: ErrnoError): void {
  if (!raisedHere(err, state)) return;
  const type = errorTypeOf(err, state);
  if (type === undefined) {
    if (state.tls) noteAlert(socket, state, err);
    return;
  }
  // No 'error' listener on the socket (or on the HTTP request riding it): the app is about to
  // crash with this error, so the event must be complete and written out now.
  const fatal = crashes(socket, state);
  if (!fatal && answersOwnClose(socket, state, err)) return;
  // The server's FIN cut off a query, and this side's late write drew the RST; or its FATAL did,
  // this side answered with its own close (a pool's Terminate) and the RST followed: that is the
  // event, the RST is not a second one.
  if (queryCutOff(socket, state) && (finRead(socket) || state.endedHere))
    emit(socket, state, 'peer_closed', 'peer_closed', QUERY_CUT_OFF, undefined, fatal, fatal ? undefined : err);
  else if (type === 'peer_closed' && (state.activity & RESET_BEHIND_END) !== 0)
    emitHiddenReset(socket, state, fatal, fatal ? undefined : err);
  else {
    // Happy eyeballs' AggregateError speaks through its last attempt (lastAttempt).
    const attempt = lastAttempt(err);
    const own = attempt ?? err;
    let message = attempt === undefined ? err.message : `${attempt.message} (${attempts(err)})`;
    const alert = state.tls ? alerts.get(state) : undefined;
    if (alert !== undefined) message = `${message} (after the peer's TLS alert ${alert})`;
    emit(socket, state, type, own.code ?? type, message, own.syscall, fatal, fatal ? undefined : err);
  }
}

/**
 * An RST that answers this side's own close, with nothing of either side's lost: a client
 * connection (not HTTP) whose FIN had gone out after the peer's latest bytes answered everything
 * this side wrote, or after a database protocol's goodbye (pg's Terminate, MySQL's COM_QUIT: no
 * query waiting), and that read the peer's RST where a FIN was due. Peers that close abortively do
 * this at every close: RabbitMQ after an AMQP Connection.Close, HAProxy with `option nolinger`,
 * servers with SO_LINGER 0. A request sent with the FIN (`end(data)`) and met by an RST stays a
 * reset (activity ENDED_HERE: the peer's first read after that write came after this side's end),
 * and so does one the app crashes on. Needs the activity hook's marks, but for AMQP (below).
 */
function answersOwnClose(socket: Sock, state: SocketState, err: ErrnoError): boolean {
  if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') return false;
  if (socket.writableEnded !== true && (state.activity & END_CALLED) === 0) return false;
  if (state.direction !== 'client' || state.http !== undefined || socket._httpMessage != null) return false;
  const protocol = libraryProtocol(socket);
  // amqplib ends its socket only once the AMQP connection is closed (Close and Close-Ok, either
  // side first) or given up on (a missed heartbeat): what the broker's RST cuts off then had been
  // said, or given up on, before it. RabbitMQ resets at every close, its own included (`rabbitmqctl
  // close_connection`: the app hears CONNECTION_FORCED as a 'close'), often before this side's FIN
  // is out (ended, not yet finished); at its shutdown it sends its Close and its RST at once, and
  // the write of amqplib's answer meets the RST before amqplib ends the socket, in the same turn
  // (END_CALLED: the error reaches this errorMonitor after that, amqplib's own listener later;
  // a reset amqplib learns of from the error itself has no end() yet). Anything unwritten is a loss.
  if (protocol === 'amqp') return socket.writableLength === 0;
  if (err.code !== 'ECONNRESET' || err.syscall !== 'read' || socket.writableFinished !== true) return false;
  if (!activity.counting || sessionOf(socket) !== undefined) return false;
  if (!state.endedHere) return true;
  return !state.burstAfterWrite && isDatabase(protocol ?? '');
}

/**
 * An error on this socket would reach no 'error' listener (on the socket, or the HTTP request
 * riding it): it crashes the app, or goes to the process's 'uncaughtException' handler, which
 * most often logs and exits (the log line says which: exporters/log/message.ts).
 */
function crashes(socket: Sock, state: SocketState): boolean {
  const req = (socket._httpMessage ?? (state.direction === 'client' ? awaitingRequest(socket) : undefined)) as
    | ClientRequestLike
    | null
    | undefined;
  return (
    onlyPipeListeners(socket) ||
    (state.direction === 'client' && req != null && typeof req.listenerCount === 'function' && req.listenerCount('error') === 0)
  );
}

/**
 * No 'error' listener on the socket but those Readable#pipe() puts on its destination: each removes
 * itself and, finding no other, re-emits the error, which then reaches none (`a.pipe(sock)` in a
 * proxy without a listener of its own crashes). pipe() adds its 'error' listener with an 'unpipe'
 * one and removes both together: a socket with an 'error' listener and no 'unpipe' listener has one
 * of its own (a property read where a function's name costs V8 a runtime call). A source read only
 * for a listener named as pipe()'s.
 */
function onlyPipeListeners(socket: Sock): boolean {
  const events = (socket as unknown as { _events?: Record<string, unknown> })._events;
  const listeners = events?.error;
  if (listeners === undefined) return true;
  if (events?.unpipe === undefined) return false;
  if (typeof listeners === 'function') return isPipeOnError(listeners);
  return Array.isArray(listeners) && listeners.every(isPipeOnError);
}

function isPipeOnError(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === 'onerror' && /\bunpipe\(\)/.test(Function.prototype.toString.call(fn));
}

const QUERY_CUT_OFF = 'the server closed the connection while a query was in flight';

/**
 * A database client connection whose peer's latest burst of reads began after a write of this
 * side had waited unanswered (hooks/activity.ts `burstAfterWrite`): a query in flight
 * (pg_terminate_backend, a server shutting down, a query sent on a connection the server had
 * closed for idleness).
 */
function queryCutOff(socket: Sock, state: SocketState): boolean {
  return state.direction === 'client' && state.http === undefined && state.burstAfterWrite && isDatabase(libraryProtocol(socket) ?? '');
}

/**
 * Any other watched socket ending without an error (hooks/destroy.ts): an end of input that was an
 * RST (noteResetBehindEnd), an HTTP/2 session's FIN with streams in flight, or a database server's
 * FIN that cut off a query.
 */
export function onQuietEnd(socket: Sock, state: SocketState): void {
  if ((state.activity & RESET_BEHIND_END) !== 0) {
    // The kernel had forgotten the peer: asking again would cost a failing syscall (snapshot()).
    const snap = readAddresses(socket, false, needsLocal(), {});
    if (state.tls) tlsSnapshot(socket, state, snap);
    state.snapshot = snap;
    emitHiddenReset(socket, state, false);
  } else if (sessionOf(socket) !== undefined) onPeerHangup(socket, state);
  else if (state.burstAfterWrite && state.direction === 'client') onQueryHangup(socket, state);
}

/** A database client connection ending without an error (hooks/destroy.ts): reset-worthy only if the FIN cut off a query. */
export function onQueryHangup(socket: Sock, state: SocketState): void {
  // A FIN read after this side had ended its writing may answer that close: no event.
  if (!queryCutOff(socket, state) || !finRead(socket) || state.endedHere) return;
  snapshot(socket, state, undefined);
  // No 'error' listener on the library's own emitter crashes the app with the error it makes for
  // this end: fatal if any error does before the next turn (bus.ts ANY_ERROR).
  emit(socket, state, 'peer_closed', 'peer_closed', QUERY_CUT_OFF, undefined, false, ANY_ERROR);
}

/** A connection ending without an error is a reset only when the peer hung up on an HTTP request (or HTTP/2 streams) in flight. */
export function onPeerHangup(socket: Sock, state: SocketState): void {
  const msg = socket._httpMessage;
  if (msg == null) {
    onSessionHangup(socket, state);
    return;
  }
  // Only the peer's FIN counts: a socket the app destroyed itself (req.destroy(), an abort, a
  // timeout handler) never received one.
  if (!finRead(socket)) return;
  if (state.direction === 'client') {
    const req = msg as unknown as ClientRequestLike;
    if (req.res?.complete) return;
    const fatal = req.res == null && typeof req.listenerCount === 'function' && req.listenerCount('error') === 0;
    if (resetBehindEnd(socket, state, req.res)) emitReadReset(socket, state, fatal);
    else emit(socket, state, 'peer_closed', 'ECONNRESET', req.res ? 'aborted' : 'socket hang up', undefined, fatal);
  } else {
    const res = msg as unknown as ServerResponseLike;
    // An upgraded connection's FIN is its orderly close, whatever response a framework hung on it.
    if (res.writableEnded || isUpgraded(socket, state)) return;
    // No resetBehindEnd here: Node's server ends its side at the client's end of input, and once
    // that FIN is answered the kernel has forgotten the peer as after an RST.
    // The request still arriving (an abandoned upload, a proxy in front killed): its phase is `request`.
    const what = res.req?.complete === false ? 'request' : 'response';
    emit(socket, state, 'peer_closed', 'peer_closed', `client closed before the ${what} was complete`, undefined, false);
  }
}

/**
 * An end of input that was an RST. When the peer's last data and its RST are both waiting by the
 * time the event loop polls (a loop busy or descheduled for a moment, as under load), epoll
 * reports the socket hung up, libuv reads the data and then reports EOF without another read, and
 * the kernel's ECONNRESET is never read: Node sees a FIN. The kernel still knows: after a FIN
 * alone the connection is half open (getpeername works) until this side closes its half; after
 * an RST it is gone (ENOTCONN). One syscall, only for a connection that ended mid-request. The
 * event is then the one the same RST makes when the loop reads it in time: `read ECONNRESET`.
 */
function resetBehindEnd(socket: Sock, state: SocketState, res: unknown): boolean {
  // This side's own FIN, once answered, closes the connection too: then the kernel cannot tell.
  if (socket.writableEnded) return false;
  // libuv hides an RST only behind bytes it read in the same poll: with no byte of this response
  // read, the end of input was a FIN, and an RST after it was drawn by this side's later write
  // (a request sent on a pooled connection the server had just closed: the keep-alive race).
  if (!responseBegun(socket, state, res)) return false;
  // Nor behind bytes of an earlier poll: a peer that shuts down its writing and closes with the
  // request unread sends a FIN then an RST, a plain end of input on every libuv, and the same
  // ENOTCONN (noteResetBehindEnd).
  if ((state.activity & SAME_STEP) === 0) return false;
  return peerGone(socket);
}

/** The kernel's word on an end of input: after an RST the connection is gone (getpeername: ENOTCONN), after a FIN it is half open. */
function peerGone(socket: Sock): boolean {
  const handle = (socket as unknown as AddressInternals)._handle;
  return handle != null && peerError(handle) === ENOTCONN;
}

/**
 * A connection that is not HTTP's (raw TCP, either side; HTTP/1's own ends are onPeerHangup's,
 * HTTP/2 is left out, below) or no longer is (upgraded from HTTP/1: a WebSocket), whose peer
 * ended first, about to send its own FIN (hooks/destroy.ts, libuv before 1.52 only): was that end
 * of input an RST hidden behind bytes read in the same poll (resetBehindEnd)? The kernel forgets
 * the difference once this side's FIN is answered, so it is asked now, only where an RST can hide:
 * - bytes were read since this side last wrote, and the end of input in the clock step of the
 *   bytes before it (the caller checked: next-read.ts endMayHideReset): libuv hides an RST only behind
 *   bytes of the same poll;
 * - the end of input was read in the current clock step: an app that keeps its side open
 *   (allowHalfOpen) ends it when it chooses, and an RST that came since (a half-open peer gone)
 *   says nothing about that end.
 * getpeername fails (ENOTCONN) once the connection is gone: after an RST, and after a FIN and then
 * an RST alike. The second is a peer that closed with this side's bytes unread, or one whose last
 * bytes and FIN this side's write crossed (a request on a connection the server had just closed;
 * on a WebSocket a push or a ping), whose kernel answered that write with an RST. The read libuv
 * 1.52 makes next tells them apart (./next-read.ts): the end after a FIN, ECONNRESET after a bare
 * RST. Where it is not made (a TLS socket; not Linux), an end read in the first poll since this
 * side's last write stays a FIN (the crossing write: a loop stalled just after writing makes the
 * race look like a query answered after a wait), and one read later is the RST (bytes, FIN and
 * RST in one poll among them).
 * HTTP/2 sessions are left out: the session answers frames (SETTINGS, PING, WINDOW_UPDATE) with
 * writes the activity hook does not see, so after bytes and a FIN from a peer that closed its
 * socket the kernel has seen an RST too. One getpeername per such end of input, and one read of a
 * byte where the connection is gone.
 */
export function noteResetBehindEnd(socket: Sock, state: SocketState): void {
  if (!activity.counting || sessionOf(socket) !== undefined || !activity.inStep(state.active)) return;
  if ((state.http !== undefined || socket._httpMessage != null) && !isUpgraded(socket, state) && !pooledIdle(socket, state)) return;
  if (!peerGone(socket)) return;
  const next = nextRead((socket as unknown as AddressInternals)._handle as object);
  if (next === undefined ? state.readSince !== state.active : next === 'ECONNRESET') state.activity |= RESET_BEHIND_END;
  // This host's own abort, read by Node as an end of input (a download cut by `ss -K`, about half
  // the time in a trial of ssh2 and raw downloads): the read just took its error, so it is now or never.
  else if (next === 'ECONNABORTED') state.activity |= RESET_BEHIND_END | ABORT_BEHIND_END;
}

/**
 * An HTTP/1 client connection back in its pool, nothing in flight: its last response's bytes and
 * an RST right behind them, read in one poll, end it as a FIN would, and Node's pool drops it with
 * no error (a soak trial: 3–5 % of the resets a server sent 0–5 ms after its answer were lost on
 * Node 20 and 22). Its end is asked about as a raw connection's is; a request in flight is
 * onPeerHangup's.
 */
function pooledIdle(socket: Sock, state: SocketState): boolean {
  return state.direction === 'client' && socket._httpMessage == null && state.http?.inflight === undefined;
}

/**
 * A TLS server socket whose client's end of input came before the handshake completed
 * (hooks/destroy.ts, in _final: before this side's FIN, whose answer would close the connection
 * either way). ClientHello bytes and the RST behind them, read in one poll (a server busy when they
 * came), reach Node as an end of input: on libuv before 1.52 for any bytes; on every version for a
 * whole ClientHello, whose answer's write takes the connection's error (docs/hidden-rst.md). The
 * app gets 'tlsClientError' ECONNRESET "socket hang up" as for a FIN; the kernel tells them
 * apart. A FIN alone (a client giving up politely, a TCP health check) is no event; a FIN after a
 * whole ClientHello draws the client kernel's RST to the server's answer, a reset when that RST is
 * back before this side's FIN (on one host, not across a network).
 */
export function noteHandshakeReset(socket: Sock, state: SocketState): void {
  if (peerGone(socket)) state.activity |= RESET_BEHIND_END;
}

/**
 * HTTP/2 (hooks/destroy.ts, a socket bound to an Http2Session ending without an error): the peer's
 * FIN ends every stream in flight, which Node closes with NGHTTP2_CANCEL and no error.
 */
function onSessionHangup(socket: Sock, state: SocketState): void {
  const session = sessionOf(socket);
  if (session === undefined || !finRead(socket)) return;
  if (!streamsInFlight(session)) return; // nothing in flight: an orderly close
  snapshot(socket, state, null);
  emit(socket, state, 'peer_closed', 'peer_closed', 'peer closed the HTTP/2 connection with streams in flight', undefined, false);
}

/** The peer's FIN has been read (readableEnded waits for the app to consume the data before it). */
function finRead(socket: Sock): boolean {
  return socket.readableEnded || (socket as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

const ENOTCONN = -osConstants.errno.ENOTCONN;

/**
 * An idle pooled HTTP client socket destroyed without an error (hooks/destroy.ts): if the kernel
 * says the connection is gone, Node's pool guard swallowed the read's error. Its errno, where it
 * can be read (./pool-guard.ts), says whose: the peer's RST, or this host's abort (`ss -K`); a
 * keep-alive probe's timeout is no reset, nor an end of input (a FIN, and an RST behind it: the
 * end Node 20 reports for the same close, HAProxy trial). Where it cannot, the peer reset it.
 */
export function onIdleDestroy(socket: Sock, state: SocketState): void {
  const handle = (socket as unknown as AddressInternals)._handle;
  if (typeof handle?.getpeername !== 'function' || socket.connecting) return;
  // A FIN already read (and answered: the connection may be fully closed by now) is orderly.
  if (finRead(socket)) return;
  if (peerError(handle) !== ENOTCONN) return;
  let code = guardReadError(handle);
  // The guard read an end of input on a gone connection: a FIN (an RST after it), or on a libuv
  // that hides an RST behind the bytes of the same poll, a bare RST right after the last answer
  // (a soak trial: 3–5 % of such resets lost on Node 22). The next read tells (./next-read.ts).
  if (code === 'EOF' && UV_HIDES_RST && nextRead(handle) === 'ECONNRESET') code = 'ECONNRESET';
  if (code !== undefined && code !== 'ECONNRESET' && code !== 'ECONNABORTED') return;
  const local = readAddresses(socket, false, needsLocal(), {});
  state.snapshot = { localAddress: local.localAddress, localPort: local.localPort };
  if (state.tls) tlsSnapshot(socket, state, state.snapshot);
  // The guard's read touched no activity mark (Node 22+ calls no _unrefTimer there): the last
  // touch is the last exchange's, which a read that met the reset would have moved to the step
  // before (event.ts idleMs). Without this, idle read one exchange too long (SDKs trial).
  state.activeBefore = state.active;
  if (code === 'ECONNABORTED') emit(socket, state, 'ECONNABORTED', code, 'read ECONNABORTED', 'read', false);
  else emitReadReset(socket, state, false);
}

/**
 * Reads addresses while the handle is still open (called from the _destroy hook). After an RST the
 * kernel has forgotten the peer (getpeername fails with ENOTCONN), so for an error from a syscall
 * only what Node already cached (the app read `remoteAddress`) is kept: asking would cost a failing
 * syscall per reset. A FIN or an error Node raised itself leaves the peer known: then we ask.
 * Read by ./addresses.ts, which leaves Node's address caches on the socket as they were.
 */
export function snapshot(socket: Sock, state: SocketState, err: ErrnoError | null | undefined): void {
  // This end only for an event something will show (agent/bus.ts needsLocal) or one that would
  // crash the app: an error here, or a hang-up whose request has no 'error' listener (read now,
  // while the handle is open; the event may come later).
  const local = needsLocal() || crashes(socket, state);
  const connect = failedConnect(err);
  const snap = readAddresses(socket, err?.syscall === undefined && connect === undefined, local, {
    remoteAddress: undefined,
    remotePort: undefined,
    localAddress: undefined,
    localPort: undefined,
  });
  // A failed connect never had a peer to ask the kernel about; its error names the address tried
  // (the one a dialled host name resolved to).
  if (snap.remoteAddress === undefined && connect?.address !== undefined) {
    snap.remoteAddress = connect.address;
    snap.remotePort = connect.port;
  }
  if (state.tls) tlsSnapshot(socket, state, snap);
  state.snapshot = snap;
  if (state.direction === 'client' && (socket._httpMessage != null || state.http?.inflight !== undefined))
    snap.requestSent = requestSent(socket, err);
  // undici's verdict on an end of input with a request in flight (one that counts, errorTypeOf):
  // asked now, while the kernel can still say it was an RST.
  if (err?.code !== 'UND_ERR_SOCKET') return;
  if (state.http?.inflight !== undefined) {
    if (resetBehindEnd(socket, state, undefined)) state.activity |= RESET_BEHIND_END;
  }
  // An idle pooled connection's end, read in the clock step of its last answer's bytes on a libuv
  // that hides an RST there: asked as a raw connection's end is (noteResetBehindEnd). A re-trial:
  // undici and fetch lost 2–3 % of RSTs sent right after an answer on Node 20 and 22, up to 20 %
  // with a busy loop. Other idle ends (a FIN at the server's timeout) cost no syscall.
  else if (endMayHideReset(state.activity) && finRead(socket)) noteResetBehindEnd(socket, state);
}

/** What a TLS connection's handle knows, read with the addresses while it is open. */
function tlsSnapshot(socket: Sock, state: SocketState, snap: AddressSnapshot): void {
  const v = tlsVersionOf(socket);
  if (v) snap.tlsVersion = v;
  if (state.direction !== 'server') return;
  snap.serverName = serverNameOf(socket);
  if (!socket._secureEstablished && beforeClientHello(socket, state)) snap.beforeHello = true;
}

/**
 * An RST that Node never reported as one (seen as an end of input: resetBehindEnd; or swallowed
 * by Node's pool guard: onIdleDestroy): the event the same RST makes when the loop reads it in time.
 */
function emitReadReset(socket: Sock, state: SocketState, fatal: boolean, handled?: Error): void {
  emit(socket, state, 'ECONNRESET', 'ECONNRESET', 'read ECONNRESET', 'read', fatal, handled);
}

/** The error an end of input hid (RESET_BEHIND_END): the peer's RST, or this host's abort. */
function emitHiddenReset(socket: Sock, state: SocketState, fatal: boolean, handled?: Error): void {
  if ((state.activity & ABORT_BEHIND_END) !== 0)
    emit(socket, state, 'ECONNABORTED', 'ECONNABORTED', 'read ECONNABORTED', 'read', fatal, handled);
  else emitReadReset(socket, state, fatal, handled);
}

function emit(
  socket: Sock,
  state: SocketState,
  errorType: ErrorType,
  code: string,
  message: string,
  syscall: string | undefined,
  fatal: boolean,
  /**
   * An error some listener handles: it may still crash the app if that listener re-emits it
   * (bus.ts); ANY_ERROR for an end the library makes an error of its own for.
   */
  handled?: Error | typeof ANY_ERROR,
): void {
  state.done = true;
  // A request was arriving, whatever the reads say (a server that answered early, a 413 before
  // the body, does not count the reads after it).
  const phase = parserEnd(code, state) ? 'request' : phaseOf(socket, state, syscall);
  // A response streaming (its head sent, not ended): the activity clock's mark is the first read
  // after its last write, often the reset itself, not the request's start. Left out rather than
  // wrong (README Limits). A response not begun, or ended at once and still flushing, leaves it right.
  const msg = socket._httpMessage as { _headerSent?: boolean; writableEnded?: boolean } | null | undefined;
  const streaming = msg?._headerSent === true && msg.writableEnded !== true;
  if (state.direction === 'server' && state.http === undefined && msg != null && !streaming) stampRequestStart(state, errorType, syscall);
  const event = buildEvent(socket, state, { errorType, code, message, syscall, fatal, phase });
  // Database and broker client libraries re-emit their socket's errors on their own emitters (bus.ts).
  if (handled !== undefined && reEmitsErrors(event.protocol)) publishSoon(event, handled);
  else publish(event);
}

/**
 * A server connection between responses: a read since its last write besides the one that met
 * the reset (hooks/activity.ts). Without the activity hook, bytes read since the last response
 * finished (hooks/http.ts subscribes the server channels then).
 */
function requestArriving(socket: Sock, state: SocketState, syscall: string | undefined): boolean {
  if (state.http !== undefined || !activity.counting) return socket.bytesRead > (state.http?.readMark ?? 0);
  return (state.activity & (syscall === 'read' ? READ_AGAIN : READS)) !== 0;
}

/**
 * A server's request in progress, with the activity hook on (no http.server.* channel): it began
 * with the first read counted since the connection's last write, on the activity clock (at most
 * one 10 ms step early). event.ts reads it where the channel would have put it. Not when the read
 * that met the end (an error or an end of input) is the one counted first since that write: the
 * request was read before that write (pipelined behind one answered since; or read by the process
 * that handed the connection here, hooks/server.ts adopt), when is not known, and an age from the
 * end would read 0. (A request whose handler has answered counts no read: its mark stays.)
 */
function stampRequestStart(state: SocketState, errorType: ErrorType, syscall: string | undefined): void {
  if (!activity.counting) return;
  const endRead = syscall === 'read' || errorType === 'peer_closed';
  if (endRead && (state.activity & READS) === READ_ONCE && state.readSince === state.active) return;
  const now = clockNow();
  httpOf(state).requestStart = now - ((clockMs(now) - state.readSince) & CLOCK_MASK);
}

type QueuedHandle = { writeQueueSize?: number; _parent?: QueuedHandle | null };
type WriteInternals = {
  _handle?: QueuedHandle | null;
  _writableState?: { length: number; writing: boolean; writelen: number };
};

/**
 * A client's HTTP request handed to the kernel whole, read as the handle closes: the request
 * ended, none of it left in Node's buffers but a write in flight, none in libuv's queue, and the
 * error not a failed write. Later Node has dropped what was queued, and `writableFinished` reads
 * true for an upload cut off mid-body; a TLS write completes a turn after its bytes left, and in
 * that turn `writableFinished` reads false for a request sent whole. For TLS the queue asked is
 * the TCP handle's under the TLSWrap (`_parent`): the TLSWrap's own count lags the same way.
 */
function requestSent(socket: Sock, err: ErrnoError | null | undefined): boolean {
  if (err?.syscall === 'write') return false;
  const req = socket._httpMessage as unknown as ClientRequestLike | null | undefined;
  // undici's request is not on the socket: it says `bodySent` once it has handed its body to the
  // socket, so only the socket's queues tell whether it left.
  if (req != null && (req.writableEnded !== true || req.outputSize !== 0)) return false;
  const s = socket as unknown as WriteInternals;
  const handle = s._handle;
  if (((handle?._parent ?? handle)?.writeQueueSize ?? 0) !== 0) return false;
  const w = s._writableState;
  return w === undefined || w.length === (w.writing ? w.writelen : 0);
}

type TlsServerSide = { server?: { httpAllowHalfOpen?: unknown } | null; _handle?: { _parent?: { bytesRead?: unknown } | null } | null };

/**
 * A TLS server connection whose client has not sent a byte: no ClientHello, so no handshake had
 * begun (a cloud load balancer's layer 4 health check or a port scan's connect, resetting at once;
 * HAProxy's layer 4 check resets before the TCP handshake completes, and never reaches the app).
 * Asked of the handle under the TLS one (TCP, or a JavaScript stream's), which counts the raw
 * bytes; where it cannot be read (the handle gone), the handshake had begun.
 */
function beforeClientHello(socket: Sock, state: SocketState): boolean {
  if (state.direction !== 'server' || socket._tlsOptions?.isServer !== true) return false;
  return (socket as TlsServerSide)._handle?._parent?.bytesRead === 0;
}

export function phaseOf(socket: Sock, state: SocketState, syscall: string | undefined): Phase {
  if (syscall === 'connect') return 'connect';
  if (socket.encrypted && (!socket._secureEstablished || (state.tls && alerts.has(state)))) {
    // Read with the addresses as the handle closed, or now: a hang-up seen before _destroy.
    if (!(state.snapshot?.beforeHello ?? beforeClientHello(socket, state))) return 'tls_handshake';
    // Nothing of TLS had arrived: the phase a plain connection has before its client's first byte
    // (an HTTPS server's: idle, waiting for a request).
    return typeof (socket as TlsServerSide).server?.httpAllowHalfOpen === 'boolean' ? 'idle' : 'established';
  }
  const msg = socket._httpMessage;
  if (state.direction === 'client') {
    if (msg != null) {
      const req = msg as unknown as ClientRequestLike;
      if (req.res != null) return 'response';
      // Without a snapshot (a hang-up Node reported on http.client.request.error, before the
      // socket's _destroy), asked now while the handle is open.
      const sent =
        state.snapshot?.requestSent ??
        ((socket as unknown as WriteInternals)._handle != null ? requestSent(socket, undefined) : req.writableFinished);
      return sent ? 'response' : 'request';
    }
    if (isUpgraded(socket, state)) return 'established';
    // HTTP/2 (undici's allowH2 too, whose requests the undici hook marks in flight as it does
    // HTTP/1's): many streams share the connection, no one request's phase is the connection's.
    if (sessionOf(socket) !== undefined) return 'established';
    const http = state.http;
    if (http?.inflight !== undefined) {
      // undici's request (fetch): `response` from its `bodySent`, but a body that met the reset in
      // its write, or was still queued, had not left; until a byte of the response came, that is
      // `request`, as node:http's reads (SDKs trial: an upload cut at 64 KiB of 4.7 MiB read `response`).
      if (
        http.inflightPhase === 'response' &&
        (syscall === 'write' || state.snapshot?.requestSent === false) &&
        !responseBegun(socket, state, undefined)
      )
        return 'request';
      return http.inflightPhase;
    }
    if (state.http !== undefined || 'parser' in socket) return 'idle';
    // Node's env proxy's plain tunnel, not yet handed to its request (tunnel.ts): once its CONNECT
    // went out, the proxy's answer is awaited (a retry is safe: nothing passed the proxy).
    return socket.encrypted !== true && socket.bytesWritten > 0 && awaitingRequest(socket) !== undefined ? 'response' : 'established';
  }
  if (isUpgraded(socket, state)) return 'established';
  if (msg != null) {
    const res = msg as unknown as ServerResponseLike;
    return res.req?.complete ? 'response' : 'request';
  }
  // Between requests: a request was arriving if anything was read since the last response, or
  // Node's parser still holds one (its response sent early, its body still coming in: an async
  // handler's 413 was written after the body's first bytes had been read). Else a failed write on
  // plain TCP is the last response's, which Node had finished and detached before its write met the
  // reset (Node 20 and 22: a request and the client's RST read in one poll are a request and an
  // end, the handler answers, and the write fails a turn later; docs/hidden-rst.md). Over TLS it
  // may be the close_notify of a connection closed idle.
  if (state.http !== undefined || 'parser' in socket) {
    if (requestArriving(socket, state, syscall) || arriving(socket) !== undefined) return 'request';
    return syscall === 'write' && !socket.encrypted ? 'response' : 'idle';
  }
  return 'established';
}
