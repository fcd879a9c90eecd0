// Builds the ResetEvent of a socket classified as reset (agent/classify.ts): the connection's
// fields (addresses, bytes, age, TLS), then what was in flight on it — one function per request
// kind (an http ClientRequest, an undici request, an http server response) — then the trace the
// reset belongs to and a hint.
import type { EventEmitter } from 'node:events';
import type { Context } from '@opentelemetry/api';
import { boundContext, callerContext, requestContext, spanIds } from './trace-context';
import { guard } from './guard';
import {
  type SocketState,
  type Sock,
  type ClientRequestLike,
  type IncomingLike,
  type ServerResponseLike,
  type UndiciRequestLike,
  type AddressSnapshot,
  ADOPTED,
  CLOCK_MASK,
  clockMs,
  plainBeforeTls,
  responseBegun,
  TLS,
} from './internal-types';
import type { ErrorType, InflightRequest, Phase, ResetEvent } from './types';
import { requestMark } from './symbols';
import { hintFor } from './hints';
import { closeFrameReceived, isUpgraded, upgradeProtocol } from './upgrade';
import { sessionOf, sessionProtocol, streamsInFlight } from './http2';
import { known, libraryProtocol } from './protocol';
import { retryOf } from './retry';
import { clientPath, routeOf, serverPath } from './request-target';
import { ipFamily, unmapped } from './ip-family';
import { readAddresses, serverNameOf, tlsVersionOf } from './addresses';
import { needsLocal } from './bus';
import { awaitingRequest } from './tunnel';
import { now as clockNow } from './clock';
import { NodeDate } from './timers';

/** What classification decided. */
export interface Verdict {
  errorType: ErrorType;
  code: string;
  message: string;
  syscall: string | undefined;
  fatal: boolean;
  phase: Phase;
}

export function buildEvent(socket: Sock, state: SocketState, v: Verdict): ResetEvent {
  const now = clockNow();
  const event = connectionEvent(socket, state, v, now);
  // The event's field, a plain load where the state's getter is a call per read.
  const client = event.direction === 'client';
  const msg = socket._httpMessage;
  // Node's env proxy's tunnel, not yet handed to its request (tunnel.ts; a boolean test otherwise).
  const pending = client && msg == null ? awaitingRequest(socket) : undefined;
  let context: Context | undefined = state.dial?.context;
  if (client && msg != null) {
    context = clientRequest(event, state, msg as unknown as ClientRequestLike, now, context);
  } else if (pending !== undefined) {
    context = clientRequest(event, state, pending as ClientRequestLike, now, context);
    if ((state.activity & TLS) === 0) tunnelConnect(event);
  } else if (isUpgraded(socket, state)) {
    event.protocol = upgradeProtocol(socket) ?? event.protocol;
  } else if (client && state.http?.inflight !== undefined && sessionOf(socket) === undefined) {
    // undici over HTTP/1. Over HTTP/2 (allowH2) its requests are streams of a session: the reset
    // ends all of them, counted below, not the one request the hook marked last.
    context = undiciRequest(event, state.http.inflight as UndiciRequestLike, now, context);
  } else if (!client && msg != null) {
    context = serverRequest(event, state, msg as unknown as ServerResponseLike, now, context);
  } else if (!client && arriving(socket) !== undefined) {
    context = arrivingRequest(event, socket);
  } else if (!event.protocol && (state.http !== undefined || 'parser' in socket)) {
    event.protocol = 'http/1.1';
  } else if (http2Session(event, socket)) {
    // Read and written natively: no byte of it passed the activity hook, and the connection's
    // age would read as its quiet time (a trial: etcd's gRPC, busy every 200 ms, "idle 3.7 s").
    event.idleMs = undefined;
  }
  if (!event.protocol) event.protocol = (client && libraryProtocol(socket)) || 'unknown';
  // A client request Node never published (no mark): its age is unknown when a response had begun
  // or it is an upload still being written (not ended, a method that carries a body by Node's own
  // default); a bodyless one a proxy has not ended yet went out as it was made (retry.ts).
  const out = msg as unknown as ClientRequestLike | null | undefined;
  const ageUnknown = client && out != null && !requestMark.has(out) && !wentOutAtOnce(out);
  const begun = client && responseBegun(socket, state, out?.res);
  event.retry = retryOf(event, begun, ageUnknown);
  addTrace(event, context);
  const hint = hintFor(event, {
    serverKeepAliveMs: state.http?.serverKeepAliveMs || undefined,
    queryInFlight: state.burstAfterWrite,
    answeredEarly: event.direction === 'server' && event.phase === 'request' ? answeredEarly(socket) : undefined,
    closeFrameReceived: event.protocol === 'websocket' ? closeFrameReceived(socket) : undefined,
    requestAgeUnknown: ageUnknown,
    responseBegun: begun,
    handedOver: event.direction === 'server' ? (state.activity & ADOPTED) !== 0 : undefined,
  });
  if (hint) event.hint = hint;
  return event;
}

/**
 * An HTTP/1 server's answer begun before its request had fully arrived (an early 413, 415 or 401
 * with the body unread): the response in progress has sent its head while its request is
 * incomplete, or, that response done, the request it answered is still arriving (Node's parser
 * still holds it, incomplete). Not the 400 Node writes itself for a request cut off: its
 * socketOnError writes one only when no response has sent its head (`_headerSent`, as here).
 */
function answeredEarly(socket: Sock): boolean {
  const m = socket._httpMessage as { _headerSent?: boolean; req?: { complete?: boolean } } | null | undefined;
  if (m != null) return m._headerSent === true && m.req?.complete === false;
  return arriving(socket) !== undefined;
}

/** The connection's own fields: what every reset has, whatever was in flight. */
function connectionEvent(socket: Sock, state: SocketState, v: Verdict, now: number): ResetEvent {
  // No snapshot (a hang-up seen before the socket's _destroy), or one without an address: what the
  // socket's getters read now, without leaving it cached on the socket (./addresses.ts). This end
  // as the snapshot decided (classify.ts snapshot), or without one, as it would have.
  let snap = state.snapshot;
  if (snap === undefined || snap.remoteAddress === undefined || snap.localAddress === undefined) {
    const now = readAddresses(socket, true, snap === undefined && (v.fatal || needsLocal()), current);
    if (snap === undefined) snap = now;
    else if (snap.remoteAddress === undefined || snap.localAddress === undefined) snap = merged(snap, now);
  }
  const moved = v.phase !== 'connect' && v.phase !== 'tls_handshake';
  // STARTTLS: what the connection moved in plain before its TLS (hooks/tls.ts carryOver).
  const plain = (state.activity & TLS) !== 0 ? plainBeforeTls.get(state) : undefined;
  const event: ResetEvent = {
    time: NodeDate.now(),
    direction: state.direction,
    errorType: v.errorType,
    code: v.code,
    message: firstLine(String(v.message)),
    syscall: v.syscall,
    phase: v.phase,
    peerAddress: unmapped(snap.remoteAddress),
    peerPort: snap.remotePort,
    localAddress: unmapped(snap.localAddress),
    localPort: snap.localPort,
    tls: state.tls,
    // A connection that never connected, or never finished its TLS handshake, moved no
    // application bytes: bytesWritten also counts what the app queued meanwhile (an http request
    // is written before the connect completes).
    bytesReceived: (moved ? socket.bytesRead : 0) + (plain === undefined ? 0 : plain.read),
    bytesSent: (moved ? socket.bytesWritten : 0) + (plain === undefined ? 0 : plain.written),
    connectionAgeMs: round(now - state.start),
    idleMs: idleMs(state, v, now),
    retry: 'unknown',
    protocol: '',
    fatal: v.fatal,
  };
  if (event.peerAddress === undefined && plain?.peerAddress !== undefined) {
    event.peerAddress = unmapped(plain.peerAddress);
    event.peerPort = plain.peerPort;
  }
  if (event.direction === 'client') {
    event.serverAddress = state.dial?.host;
    event.serverPort = state.dial?.port;
    // After an RST the kernel no longer knows the peer (getpeername fails): when the app dialled
    // an IP literal, that is the peer.
    const dial = state.dial;
    if (event.peerAddress === undefined && dial !== undefined && ipFamily(dial.host) !== 0) {
      event.peerAddress = dial.host;
      event.peerPort = dial.port;
    }
    // A host name with several addresses (IPv6 and IPv4, a load balancer's) went through Node's
    // happy eyeballs, which lists on the socket the addresses it tried: the last one connected.
    if (event.peerAddress === undefined) triedAddress(event, socket);
    // TLS over a socket dialled first (STARTTLS, a proxy's tunnel): that socket made the attempts.
    const parent = plain === undefined ? undefined : (socket as { _parent?: Sock | null })._parent;
    if (event.peerAddress === undefined && parent != null) triedAddress(event, parent);
  }
  if (state.tls) {
    // Without a snapshot (a hang-up seen before the socket's _destroy), the handle is still open.
    const version = snap.tlsVersion ?? (state.snapshot === undefined ? tlsVersionOf(socket) : undefined);
    if (version) event.tlsVersion = version;
    if (event.direction === 'server') {
      const name = snap.serverName ?? serverNameOf(socket);
      if (name !== undefined) event.serverAddress = name;
    }
    const alpn = socket.alpnProtocol;
    if (alpn) event.protocol = known(alpn) ?? '';
  }
  if (!event.protocol && isHttp2(socket)) event.protocol = 'h2';
  return event;
}

/** The last of the "ip:port" addresses Node's happy eyeballs tried (Node 20.10+), as the peer. */
function triedAddress(event: ResetEvent, socket: Sock): void {
  const tried = (socket as { autoSelectFamilyAttemptedAddresses?: unknown }).autoSelectFamilyAttemptedAddresses;
  const last = Array.isArray(tried) ? tried[tried.length - 1] : undefined;
  if (typeof last !== 'string') return;
  const colon = last.lastIndexOf(':');
  const port = Number(last.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || ipFamily(last.slice(0, colon)) === 0) return;
  event.peerAddress = last.slice(0, colon);
  event.peerPort = port;
}

/** The addresses read at event time (readAddresses), reused: its fields are copied into the event at once. */
const current: AddressSnapshot = { remoteAddress: undefined, remotePort: undefined, localAddress: undefined, localPort: undefined };
const fill: AddressSnapshot = { remoteAddress: undefined, remotePort: undefined, localAddress: undefined, localPort: undefined };

/** Each field of the snapshot, or where it has none, of `now` (as `snap.x ?? socket.x` was), into a reused object. */
function merged(snap: AddressSnapshot, now: AddressSnapshot): AddressSnapshot {
  fill.remoteAddress = snap.remoteAddress ?? now.remoteAddress;
  fill.remotePort = snap.remotePort ?? now.remotePort;
  fill.localAddress = snap.localAddress ?? now.localAddress;
  fill.localPort = snap.localPort ?? now.localPort;
  fill.tlsVersion = snap.tlsVersion;
  fill.serverName = snap.serverName;
  return fill;
}

/**
 * Milliseconds since the connection last moved a byte (hooks/activity.ts). The read or write that
 * met the reset (a read error, the EOF of a peer FIN, a failing write) touched the mark itself, as
 * did whatever moved in the same 10 ms clock step: the mark of the step before ends the quiet time.
 * Never more than the connection's age (the coarse clock may lag its precise start by a step), nor,
 * for an HTTP client, than the time since its latest response's headers came (hooks/http.ts,
 * undici.ts `idleSince`): an answer that took seconds, the next request sent on its socket at
 * once and reset, all in one step, left the step before at the first request's write: "idle 2.0 s,
 * pooled 2 ms before reuse" (an SSR trial).
 */
function idleMs(state: SocketState, v: Verdict, now: number): number {
  const mark = v.syscall === 'read' || v.syscall === 'write' || v.errorType === 'peer_closed' ? state.activeBefore : state.active;
  const idle = Math.min((clockMs(now) - mark) & CLOCK_MASK, round(now - state.start));
  const since = state.http?.idleSince ?? 0;
  return since > 0 ? Math.min(idle, round(now - since)) : idle;
}

/** The request's path, where one is kept (./request-target.ts): the field is absent otherwise. */
function withPath(request: InflightRequest, path: string | undefined): void {
  if (path !== undefined) request.path = path;
}

// Each request kind fills in the request and returns the trace context the reset belongs to
// (`context`: what was known before, the connect's).

/** An http ClientRequest on the socket: its own span where a tracer made one (trace-context.ts). */
function clientRequest(
  event: ResetEvent,
  state: SocketState,
  req: ClientRequestLike,
  now: number,
  context: Context | undefined,
): Context | undefined {
  const mark = requestMark.get(req);
  event.protocol = 'http/1.1';
  const method = req.method ?? 'GET';
  // A tunnel's CONNECT (hpagent, tunnel, global-agent) names its target as `host:port`; req.host is the proxy.
  event.request = { method, host: method === 'CONNECT' && typeof req.path === 'string' ? hostOf(`//${req.path}`) : req.host };
  withPath(event.request, clientPath(req.path));
  if (mark) event.request.ageMs = round(now - mark.start);
  event.reusedSocket = req.reusedSocket === true;
  if (mark) context = mark.context ?? context;
  context = guard('trace.request', requestContext, context, req, 'http') ?? context;
  // Taken as the request went out (hooks/http.ts clientStart), only for a reused socket.
  if (mark?.idleBeforeReuseMs !== undefined) event.idleBeforeReuseMs = round(mark.idleBeforeReuseMs);
  else if (mark === undefined && event.reusedSocket) {
    // Not published, but gone out as it was made: pooled until about now (a round trip more).
    const idleSince = state.http?.idleSince ?? 0;
    if (idleSince > 0 && wentOutAtOnce(req)) event.idleBeforeReuseMs = round(now - idleSince);
  }
  return context;
}

/**
 * A request whose socket Node's env proxy is still readying (tunnel.ts) names the request itself
 * over the TLS it starts once the proxy answered, as on a direct https connection; before that
 * answer, the tunnel's CONNECT for the request's host, as undici names its own (its phase:
 * classify.ts phaseOf). A trial of proxied clients: these read "established", protocol unknown,
 * no request, retry unknown.
 */
function tunnelConnect(event: ResetEvent): void {
  if (event.request !== undefined) event.request = { method: 'CONNECT', host: event.request.host };
}

/**
 * A client request Node has not published (its start is published in _finish: once ended and
 * flushed) that went out as it was made: no response begun, and ended by the app (its socket was
 * already unwritable) or bodyless by method (a proxy streaming a GET has not ended it yet).
 */
function wentOutAtOnce(req: ClientRequestLike): boolean {
  return req.res == null && (req.writableEnded === true || req.useChunkedEncodingByDefault === false);
}

/** An undici request in flight on the socket (hooks/undici.ts). */
function undiciRequest(event: ResetEvent, req: UndiciRequestLike, now: number, context: Context | undefined): Context | undefined {
  const mark = requestMark.get(req);
  event.protocol = event.protocol || 'http/1.1';
  // A forward proxy's absolute-form request (undici's ProxyAgent without a tunnel, Node's env proxy
  // to an http:// target) names its target in the path; the origin is the proxy's.
  // A tunnel's CONNECT (ProxyAgent, EnvHttpProxyAgent) names its target as `host:port`.
  const path = req.path;
  const method = req.method ?? 'GET';
  const absolute = typeof path === 'string' && (path.startsWith('http://') || path.startsWith('https://'));
  const target = absolute ? path : method === 'CONNECT' && typeof path === 'string' ? `//${path}` : req.origin;
  event.request = { method, host: hostOf(target) };
  withPath(event.request, clientPath(path));
  if (mark) event.request.ageMs = round(now - mark.start);
  if (mark) context = mark.context ?? context;
  context = guard('trace.request', requestContext, context, req, 'undici') ?? context;
  if (mark) {
    event.reusedSocket = mark.reused === true;
    if (mark.idleBeforeReuseMs !== undefined) event.idleBeforeReuseMs = mark.idleBeforeReuseMs;
  }
  return context;
}

/** The response an http server was writing. */
function serverRequest(
  event: ResetEvent,
  state: SocketState,
  res: ServerResponseLike,
  now: number,
  context: Context | undefined,
): Context | undefined {
  const req = res.req;
  event.protocol = 'http/1.1';
  if (!req) return context;
  const host = req.headers?.host;
  event.request = { method: req.method ?? 'GET', host: typeof host === 'string' ? host : undefined };
  withPath(event.request, serverPath(req));
  const route = routeOf(req);
  if (route !== undefined) event.request.route = route;
  const started = state.http?.requestStart ?? 0;
  // Never older than its connection: the start is on the activity hook's 10 ms clock.
  if (started > 0) event.request.ageMs = round(Math.min(now - started, now - state.start));
  // The tracer's SERVER span when it bound the response to it, else the caller's trace
  // context from the request's own headers (traceparent).
  const bound = guard('trace.bound', boundContext, res as unknown as EventEmitter);
  if (spanIds(bound) !== undefined) return bound;
  if (req.headers) return callerContext(req.headers);
  return context;
}

/**
 * A request still arriving at an http server whose response to it has ended (an early 413 or 401
 * with the body unread; a proxy then closes its upstream): Node's parser still holds it. Its
 * method and host, and the caller's trace context; not its age (its start was before the response,
 * which the activity hook counts from). Its phase is `request` (classify.ts phaseOf).
 */
export function arriving(socket: Sock): IncomingLike | undefined {
  const incoming = (socket as { parser?: { incoming?: IncomingLike | null } | null }).parser?.incoming;
  return incoming != null && incoming.complete === false ? incoming : undefined;
}

function arrivingRequest(event: ResetEvent, socket: Sock): Context | undefined {
  const req = arriving(socket) as IncomingLike;
  event.protocol = 'http/1.1';
  const host = req.headers?.host;
  event.request = { method: req.method ?? 'GET', host: typeof host === 'string' ? host : undefined };
  withPath(event.request, serverPath(req));
  return req.headers ? callerContext(req.headers) : undefined;
}

/** A socket an Http2Session owns (true): `h2` or `grpc`, and how many streams the reset ended. */
function http2Session(event: ResetEvent, socket: Sock): boolean {
  const session = sessionOf(socket);
  if (session === undefined) return false;
  event.protocol = sessionProtocol(session);
  const streams = streamsInFlight(session);
  if (streams !== undefined) event.streamsInFlight = streams;
  return true;
}

function addTrace(event: ResetEvent, context: Context | undefined): void {
  const ids = spanIds(context);
  if (ids !== undefined) {
    event.context = context;
    event.traceId = ids.traceId;
    event.spanId = ids.spanId;
  }
}

/**
 * HTTP/2 without TLS (h2c) has no ALPN to tell: a server socket says so through its server's class.
 * h2c client sockets carry no marker and stay `established` without a protocol (README).
 */
function isHttp2(socket: Sock): boolean {
  const name = (socket as { server?: { constructor?: { name?: string } } }).server?.constructor?.name;
  return name === 'Http2Server' || name === 'Http2SecureServer';
}

/** An undici origin's (or `//host:port`'s) host name, without the port (serverPort has it), as http's `req.host` is. */
function hostOf(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  const m = /^(?:[a-z]+:)?\/\/(\[[^\]]*\]|[^/:]+)/i.exec(origin);
  return m ? m[1].replace(/^\[(.*)\]$/, '$1') : origin;
}

/** The text before the first line break: what split('\n', 1)[0] gives, without its array (~70 ns a reset). */
function firstLine(s: string): string {
  const end = s.indexOf('\n');
  return end === -1 ? s : s.slice(0, end);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
