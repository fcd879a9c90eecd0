// Classification: decides whether a socket's end is a reset, and turns the socket's state into a
// ResetEvent (phase, bytes, age, peer, request in flight, trace context, hint).
import { performance } from 'node:perf_hooks';
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';
import type * as net from 'node:net';
import type { EventEmitter } from 'node:events';
import type { Context } from '@opentelemetry/api';
import { boundContext, callerContext, requestContext, spanIds } from './trace-context';
import { guard } from './guard';
import type { SocketState, NodeSocketInternals, RequestMark, Snapshot } from './internal-types';
import type { ErrorType, Phase, ResetEvent } from './types';
import { kRequest } from './symbols';
import { publish } from './bus';
import { hintFor } from './hints';

type Sock = net.Socket & NodeSocketInternals;
type ErrnoError = Error & { code?: string; syscall?: string };
type ClientRequestLike = {
  method?: string; host?: string; res?: { complete?: boolean } | null; reusedSocket?: boolean;
  writableFinished?: boolean; listenerCount(event: string): number; [kRequest]?: RequestMark;
};
type ServerResponseLike = { req?: { complete?: boolean; method?: string; headers?: Record<string, unknown> }; writableEnded?: boolean };
type UndiciRequestLike = { method?: string; origin?: string; [kRequest]?: RequestMark };

const ERRNO_TYPES: Record<string, ErrorType> = {
  ECONNRESET: 'ECONNRESET', EPIPE: 'EPIPE', ECONNABORTED: 'ECONNABORTED', ECONNREFUSED: 'ECONNREFUSED',
};

/** Maps an error to its error_type, or undefined when it is not a reset we count. */
export function errorTypeOf(err: ErrnoError, state: SocketState): ErrorType | undefined {
  const code = err?.code;
  if (code === undefined) return undefined;
  // Node's TLS client reports a FIN during the handshake as ECONNRESET without a syscall.
  if (code === 'ECONNRESET' && err.syscall === undefined && /before secure TLS connection/.test(err.message)) {
    return 'peer_closed';
  }
  const type = ERRNO_TYPES[code];
  if (type !== undefined) return type;
  // undici destroys its socket with "other side closed" on every FIN, idle ones included:
  // only one that cut off a request in flight counts.
  if (code === 'UND_ERR_SOCKET' && state.http?.inflight !== undefined) return 'peer_closed';
  return undefined;
}

export function onSocketError(socket: Sock, state: SocketState, err: ErrnoError): void {
  const type = errorTypeOf(err, state);
  if (type === undefined) return;
  // No 'error' listener on the socket (or on the HTTP request riding it): the app is about to
  // crash with this error, so the event must be complete and written out now.
  const req = socket._httpMessage as ClientRequestLike | null | undefined;
  const fatal = socket.listenerCount('error') === 0 ||
    (state.direction === 'client' && req != null && typeof req.listenerCount === 'function' && req.listenerCount('error') === 0);
  emit(socket, state, type, err.code ?? type, err.message, err.syscall, fatal);
}

/** A connection ending without an error is a reset only when the peer hung up on an HTTP request in flight. */
export function onPeerHangup(socket: Sock, state: SocketState): void {
  const msg = socket._httpMessage;
  if (msg == null) return;
  // Only the peer's FIN counts: a socket the app destroyed itself (req.destroy(), an abort, a
  // timeout handler) never received one.
  if (!finRead(socket)) return;
  if (state.direction === 'client') {
    const req = msg as unknown as ClientRequestLike;
    if (req.res?.complete) return;
    const fatal = req.res == null && typeof req.listenerCount === 'function' && req.listenerCount('error') === 0;
    emit(socket, state, 'peer_closed', 'ECONNRESET', req.res ? 'aborted' : 'socket hang up', undefined, fatal);
  } else {
    const res = msg as unknown as ServerResponseLike;
    if (res.writableEnded) return;
    emit(socket, state, 'peer_closed', 'peer_closed', 'client closed before the response was sent', undefined, false);
  }
}

/** The peer's FIN has been read (readableEnded waits for the app to consume the data before it). */
function finRead(socket: Sock): boolean {
  return socket.readableEnded || (socket as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

const ENOTCONN = -osConstants.errno.ENOTCONN;

/**
 * An idle pooled HTTP client socket destroyed without an error (hooks/destroy.ts): if the kernel
 * says the connection is gone, the peer reset it and Node's pool guard swallowed the error.
 */
export function onIdleDestroy(socket: Sock, state: SocketState): void {
  const handle = (socket as unknown as { _handle?: { getpeername?: (out: object) => number } | null })._handle;
  if (typeof handle?.getpeername !== 'function' || socket.connecting) return;
  // A FIN already read (and answered: the connection may be fully closed by now) is orderly.
  if (finRead(socket)) return;
  if (handle.getpeername({}) !== ENOTCONN) return;
  state.snapshot = { localAddress: socket.localAddress, localPort: socket.localPort };
  emit(socket, state, 'ECONNRESET', 'ECONNRESET', 'read ECONNRESET', 'read', false);
}

type AddressInfo = { address?: string; port?: number };
type AddressInternals = {
  _peername?: AddressInfo; _getpeername?: () => AddressInfo; _getsockname?: () => AddressInfo;
};

/**
 * Reads addresses while the handle is still open (called from the _destroy hook). After an RST the
 * kernel has forgotten the peer (getpeername fails with ENOTCONN), so for an error from a syscall
 * only what Node already cached (the app read `remoteAddress`) is kept: asking would cost a failing
 * syscall per reset. A FIN or an error Node raised itself leaves the peer known: then we ask.
 */
export function snapshot(socket: Sock, state: SocketState, err: ErrnoError | null | undefined): void {
  const s = socket as unknown as AddressInternals;
  const peer = err?.syscall === undefined && typeof s._getpeername === 'function' ? s._getpeername() : s._peername;
  const local = typeof s._getsockname === 'function' ? s._getsockname() : undefined;
  const snap: Snapshot = {
    remoteAddress: peer?.address,
    remotePort: peer?.port,
    localAddress: local?.address,
    localPort: local?.port,
  };
  if (state.tls && socket._secureEstablished) {
    const v = (socket as unknown as { getProtocol?: () => string | null }).getProtocol?.();
    if (v) snap.tlsVersion = v;
  }
  state.snapshot = snap;
}

function emit(socket: Sock, state: SocketState, errorType: ErrorType, code: string, message: string,
  syscall: string | undefined, fatal: boolean): void {
  state.done = true;
  publish(buildEvent(socket, state, errorType, code, message, syscall, fatal));
}

export function phaseOf(socket: Sock, state: SocketState, syscall: string | undefined): Phase {
  if (syscall === 'connect') return 'connect';
  if (socket.encrypted && !socket._secureEstablished) return 'tls_handshake';
  const msg = socket._httpMessage;
  if (state.direction === 'client') {
    if (msg != null) {
      const req = msg as unknown as ClientRequestLike;
      return req.res != null || req.writableFinished ? 'response' : 'request';
    }
    if (state.http?.inflight !== undefined) return state.http.inflightPhase;
    return state.http !== undefined || 'parser' in socket ? 'idle' : 'established';
  }
  if (msg != null) {
    const res = msg as unknown as ServerResponseLike;
    return res.req?.complete ? 'response' : 'request';
  }
  if (state.http !== undefined || 'parser' in socket) return socket.bytesRead > (state.http?.readMark ?? 0) ? 'request' : 'idle';
  return 'established';
}

function buildEvent(socket: Sock, state: SocketState, errorType: ErrorType, code: string, message: string,
  syscall: string | undefined, fatal: boolean): ResetEvent {
  const now = performance.now();
  const snap = state.snapshot ?? {};
  const phase = phaseOf(socket, state, syscall);
  const event: ResetEvent = {
    time: Date.now(),
    direction: state.direction,
    errorType,
    code,
    message: String(message).split('\n', 1)[0],
    syscall,
    phase,
    peerAddress: snap.remoteAddress ?? socket.remoteAddress,
    peerPort: snap.remotePort ?? socket.remotePort,
    localAddress: snap.localAddress ?? socket.localAddress,
    localPort: snap.localPort ?? socket.localPort,
    tls: state.tls,
    bytesReceived: socket.bytesRead,
    bytesSent: socket.bytesWritten,
    connectionAgeMs: round(now - state.start),
    fatal,
  };
  if (state.direction === 'client') {
    event.serverAddress = state.dial?.host;
    event.serverPort = state.dial?.port;
    // After an RST the kernel no longer knows the peer (getpeername fails): when the app dialled
    // an IP literal, that is the peer.
    const dial = state.dial;
    if (event.peerAddress === undefined && dial !== undefined && isIP(dial.host) !== 0) {
      event.peerAddress = dial.host;
      event.peerPort = dial.port;
    }
  }
  if (state.tls) {
    if (snap.tlsVersion) event.tlsVersion = snap.tlsVersion;
    const alpn = socket.alpnProtocol;
    if (alpn) event.protocol = alpn;
  }
  if (event.protocol === undefined && isHttp2(socket)) event.protocol = 'h2';
  let context: Context | undefined = state.dial?.context;
  const msg = socket._httpMessage;
  if (state.direction === 'client' && msg != null) {
    const req = msg as unknown as ClientRequestLike;
    const mark = req[kRequest];
    event.protocol = 'http/1.1';
    event.request = { method: req.method ?? 'GET', host: req.host };
    if (mark) event.request.ageMs = round(now - mark.start);
    event.reusedSocket = req.reusedSocket === true;
    if (mark) context = mark.context ?? context;
    context = guard('trace.request', requestContext, context, req, 'http') ?? context;
    if (mark) {
      const idleSince = state.http?.idleSince ?? 0;
      if (event.reusedSocket && idleSince > 0) event.idleBeforeReuseMs = round(mark.start - idleSince);
    }
  } else if (state.direction === 'client' && state.http?.inflight !== undefined) {
    const req = state.http.inflight as UndiciRequestLike;
    const mark = req[kRequest];
    event.protocol = event.protocol ?? 'http/1.1';
    event.request = { method: req.method ?? 'GET', host: hostOf(req.origin) };
    if (mark) event.request.ageMs = round(now - mark.start);
    if (mark) context = mark.context ?? context;
    context = guard('trace.request', requestContext, context, req, 'undici') ?? context;
    if (mark) {
      event.reusedSocket = mark.reused === true;
      if (mark.idleBeforeReuseMs !== undefined) event.idleBeforeReuseMs = mark.idleBeforeReuseMs;
    }
  } else if (state.direction === 'server' && msg != null) {
    const res = msg as unknown as ServerResponseLike;
    const req = res.req;
    event.protocol = 'http/1.1';
    if (req) {
      const host = req.headers?.host;
      event.request = { method: req.method ?? 'GET', host: typeof host === 'string' ? host : undefined };
      const started = state.http?.requestStart ?? 0;
      if (started > 0) event.request.ageMs = round(now - started);
      // The tracer's SERVER span when it bound the response to it, else the caller's trace
      // context from the request's own headers (traceparent).
      const bound = guard('trace.bound', boundContext, res as unknown as EventEmitter);
      if (spanIds(bound) !== undefined) context = bound;
      else if (req.headers) context = callerContext(req.headers);
    }
  } else if (event.protocol === undefined && (state.http !== undefined || 'parser' in socket)) {
    event.protocol = 'http/1.1';
  }
  const ids = spanIds(context);
  if (ids !== undefined) {
    event.context = context;
    event.traceId = ids.traceId;
    event.spanId = ids.spanId;
  }
  const hint = hintFor(event);
  if (hint) event.hint = hint;
  return event;
}

/**
 * HTTP/2 without TLS (h2c) has no ALPN to tell: a server socket says so through its server's class.
 * h2c client sockets carry no marker and stay `established` without a protocol (README).
 */
function isHttp2(socket: Sock): boolean {
  const name = (socket as { server?: { constructor?: { name?: string } } }).server?.constructor?.name;
  return name === 'Http2Server' || name === 'Http2SecureServer';
}

function hostOf(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  const m = /^[a-z]+:\/\/([^/]+)/i.exec(origin);
  return m ? m[1] : origin;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
