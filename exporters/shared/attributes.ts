// One mapping from a ResetEvent to flat attribute names, shared by spans, log lines and /resets:
// OpenTelemetry semantic conventions where one exists, our own under `resetwatch.*`; durations in
// seconds. docs/attributes.md is the table (attribute, meaning, source).
import { UNKNOWN_PROTOCOL } from '../../agent/contract';
import { ipFamily } from '../../agent/ip-family';
import type { Phase, ResetEvent } from '../../agent/types';

export type Attributes = Record<string, string | number | boolean>;

/** `http.request.method` values the HTTP conventions know; anything else is `_OTHER`. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/**
 * `tls.established` of an event: its handshake had finished, which the version it negotiated says
 * (agent/event.ts reads it). A plain connection, and a TLS one reset before or during its
 * handshake, are `false`; the phase tells those apart (`connect`, `tls_handshake`, or a TLS server's
 * client that sent no byte at all: the phase a plain connection would have, agent/classify.ts).
 */
export function tlsEstablished(e: Pick<ResetEvent, 'tls' | 'phase' | 'tlsVersion'>): boolean {
  return e.tlsVersion !== undefined && afterHandshake(e.tls, e.phase);
}

/**
 * The phase's part of that rule. A Prometheus Sample's `tls` is tlsEstablished already
 * (exporters/prometheus/sample.ts); from a family member of an earlier version it is the TLS flag,
 * which this turns into the same label as before.
 */
export function afterHandshake(tls: boolean, phase: Phase): boolean {
  return tls && phase !== 'connect' && phase !== 'tls_handshake';
}

/** `resetwatch.protocol`: the event's application protocol, `unknown` when it names none. */
export function protocolOf(e: Pick<ResetEvent, 'protocol'>): string {
  return e.protocol === undefined || e.protocol === '' ? UNKNOWN_PROTOCOL : e.protocol;
}

/** `network.protocol.name`/`.version` for the protocols that have one (lowercase, as the conventions say). */
const NETWORK_PROTOCOL: Record<string, [string, string | undefined]> = {
  'http/1.1': ['http', '1.1'],
  h2: ['http', '2'],
  grpc: ['http', '2'],
  websocket: ['websocket', undefined],
};

/** Milliseconds as seconds, to the microsecond (no binary noise such as 1.2336369999999999 in a log line). */
const seconds = (ms: number) => Math.round(ms * 1000) / 1e6;

export function toAttributes(e: ResetEvent): Attributes {
  const a: Attributes = {
    'error.type': e.errorType,
    'network.transport': 'tcp',
    'resetwatch.direction': e.direction,
    'resetwatch.phase': e.phase,
    'resetwatch.protocol': protocolOf(e),
    'resetwatch.code': e.code,
    'resetwatch.message': e.message,
    'resetwatch.tls': e.tls,
    'tls.established': tlsEstablished(e),
    'resetwatch.bytes_received': e.bytesReceived,
    'resetwatch.bytes_sent': e.bytesSent,
    'resetwatch.connection.age': seconds(e.connectionAgeMs),
  };
  // None over HTTP/2 (the event has none); the order of the keys is the log line's.
  if (e.idleMs !== undefined) a['resetwatch.connection.idle'] = seconds(e.idleMs);
  a['resetwatch.retry'] = e.retry;
  a['resetwatch.fatal'] = e.fatal;
  if (e.syscall !== undefined) a['resetwatch.syscall'] = e.syscall;
  if (e.peerAddress !== undefined) {
    a['network.peer.address'] = e.peerAddress;
    const family = ipFamily(e.peerAddress);
    if (family !== 0) a['network.type'] = family === 6 ? 'ipv6' : 'ipv4';
    // Server side, the other end is the client (the conventions' client.address: here the socket
    // peer, since resetwatch reads no forwarding headers).
    if (e.direction === 'server') a['client.address'] = e.peerAddress;
  }
  if (e.peerPort !== undefined) {
    a['network.peer.port'] = e.peerPort;
    if (e.direction === 'server') a['client.port'] = e.peerPort;
  }
  if (e.serverAddress !== undefined) a['server.address'] = e.serverAddress;
  if (e.serverPort !== undefined) a['server.port'] = e.serverPort;
  if (e.localAddress !== undefined) a['network.local.address'] = e.localAddress;
  if (e.localPort !== undefined) a['network.local.port'] = e.localPort;
  if (e.tlsVersion !== undefined) {
    a['tls.protocol.name'] = 'tls';
    a['tls.protocol.version'] = e.tlsVersion.replace(/^TLSv/, '');
  }
  const np = e.protocol !== undefined ? NETWORK_PROTOCOL[e.protocol] : undefined;
  if (np !== undefined) {
    a['network.protocol.name'] = np[0];
    if (np[1] !== undefined) a['network.protocol.version'] = np[1];
  }
  if (e.request !== undefined) {
    const method = e.request.method;
    if (KNOWN_METHODS.has(method)) {
      a['http.request.method'] = method;
    } else {
      a['http.request.method'] = '_OTHER';
      a['http.request.method_original'] = method;
    }
    if (e.request.host !== undefined) a['resetwatch.request.host'] = e.request.host;
    if (e.request.path !== undefined) a['url.path'] = e.request.path;
    if (e.request.route !== undefined) a['http.route'] = e.request.route;
    if (e.request.ageMs !== undefined) a['resetwatch.request.age'] = seconds(e.request.ageMs);
  }
  if (e.streamsInFlight !== undefined) a['resetwatch.http2.streams_in_flight'] = e.streamsInFlight;
  if (e.reusedSocket !== undefined) a['resetwatch.reused_socket'] = e.reusedSocket;
  if (e.idleBeforeReuseMs !== undefined) a['resetwatch.idle_before_reuse'] = seconds(e.idleBeforeReuseMs);
  if (e.hint !== undefined) {
    a['resetwatch.hint.id'] = e.hint.id;
    a['resetwatch.hint'] = e.hint.text;
  }
  return a;
}
