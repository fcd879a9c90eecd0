// Public types: the reset event every exporter and `onReset` subscriber receives.
import type { Context } from '@opentelemetry/api';

/** Which side of the connection this process is: it dialled (`client`) or accepted (`server`). */
export type Direction = 'client' | 'server';

/**
 * How far the connection got when it ended. Rules (README "Phases"):
 * - `connect`: TCP not established (the error came from the connect syscall).
 * - `tls_handshake`: TCP up, TLS not yet secure (a TLS server: once a byte of the client's came;
 *   before it, the phase a plain connection would have, with no `tlsVersion`).
 * - `request`: HTTP client still sending the request / server still reading it.
 * - `response`: HTTP client waiting for or reading the response / server writing it.
 * - `idle`: HTTP keep-alive connection with no request in flight.
 * - `established`: connected, not HTTP/1 (raw TCP, TLS, HTTP/2), nothing finer known.
 */
export type Phase = 'connect' | 'tls_handshake' | 'request' | 'response' | 'idle' | 'established';

/**
 * Normalised cause, low-cardinality. The four errno codes are Node's own; `peer_closed` is a peer
 * FIN (not an RST) while an HTTP request on the connection still waited for its response: Node's
 * "socket hang up" and undici's "other side closed".
 */
export type ErrorType = 'ECONNRESET' | 'EPIPE' | 'ECONNABORTED' | 'ECONNREFUSED' | 'peer_closed';

/**
 * What the connection carried (README "Protocols"): told from TLS ALPN, the HTTP machinery on the
 * socket, or the client library's own listeners on it (databases, AMQP, MQTT) — never from its bytes.
 */
export const PROTOCOLS = ['http/1.1', 'h2', 'websocket', 'grpc', 'postgres', 'mysql', 'redis', 'amqp', 'mqtt', 'unknown'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * Whether retrying what was in flight is safe (README "Retry"): `safe` when the request provably
 * never reached the peer, `unsafe` when it may have been processed, `unknown` otherwise.
 */
export type Retry = 'safe' | 'unsafe' | 'unknown';

export const ERROR_TYPES: readonly ErrorType[] = ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ECONNREFUSED', 'peer_closed'];
export const PHASES: readonly Phase[] = ['connect', 'tls_handshake', 'request', 'response', 'idle', 'established'];
export const DIRECTIONS: readonly Direction[] = ['client', 'server'];

/** A pattern recognised with confidence, with what to change (README "Hints"). */
export interface Hint {
  id:
    | 'keepalive_race'
    | 'idle_reset'
    | 'pool_idle_reset'
    | 'client_abort'
    | 'upstream_down'
    | 'accept_reset'
    | 'tls_mismatch'
    | 'write_after_close'
    | 'middlebox_reset'
    | 'local_abort';
  text: string;
}

/** The HTTP request in flight when the connection ended. No path, query or headers by default. */
export interface InflightRequest {
  method: string;
  /**
   * Host the request was addressed to: client, the host name the app gave (without the port, which
   * is `serverPort`), for http and undici/fetch alike; server, the Host header as the client sent it.
   */
  host?: string;
  /**
   * The path of the request target, without its query string (which can carry credentials) or
   * fragment, at most 200 characters (a longer one is cut, ending in `…`); the path of an
   * absolute-form target (a forward proxy's request). Absent for targets with no path (CONNECT's
   * `host:port`, `*`).
   */
  path?: string;
  /**
   * Server: the route template the app's framework matched (Express, NestJS: `/users/:id`), once a
   * route matched; absent for a route in a router mounted with `app.use(path, router)`, whose
   * mount template Express does not keep. Low cardinality where `path` is not.
   */
  route?: string;
  /**
   * Milliseconds since the request started: client, when the app ended the request (Node
   * publishes http.client.request.start then) or undici created it; server, when its headers
   * arrived. Absent when the request had not got that far.
   */
  ageMs?: number;
}

export interface ResetEvent {
  /** Wall-clock time of the reset, ms since the epoch. */
  time: number;
  direction: Direction;
  errorType: ErrorType;
  /** The raw error code as Node reported it (e.g. `ECONNRESET`, `UND_ERR_SOCKET`). */
  code: string;
  /** First line of the error message as Node reported it. */
  message: string;
  /** `read`, `write`, `connect`, … when Node said. */
  syscall?: string;
  phase: Phase;
  /** IP address and port of the other end, when known. */
  peerAddress?: string;
  peerPort?: number;
  /**
   * Client side: the host name (or IP) and port the app dialled; TLS: the SNI server name. Server
   * side over TLS: the name the client asked for (SNI: which virtual host it meant), when it sent
   * one, without a port.
   */
  serverAddress?: string;
  serverPort?: number;
  /**
   * This end's IP address and port, while the connection still had them. Every event an `onReset`
   * subscriber receives has them; the agent's own outputs have them read only for the resets they
   * show (a log line, a span, a crash): a syscall each.
   */
  localAddress?: string;
  localPort?: number;
  tls: boolean;
  /** e.g. `TLSv1.3`, once the handshake finished. */
  tlsVersion?: string;
  /** What the connection carried, one of PROTOCOLS (`unknown` when it cannot be told). */
  protocol: string;
  bytesReceived: number;
  bytesSent: number;
  /** Milliseconds since the connection was created (connect started / accepted). */
  connectionAgeMs: number;
  /**
   * Milliseconds since the last byte was read or written on the connection (or since it was
   * created, when none was), leaving out the read or write that met the reset itself (README).
   * Absent for a connection an HTTP/2 session owns (`h2`, `grpc`): the session reads and writes
   * its socket natively, past the hook that notes each byte's time.
   */
  idleMs?: number;
  /** Whether what was in flight can be retried safely (README "Retry"). */
  retry: Retry;
  /** HTTP client: the request went out on a socket reused from the keep-alive pool. */
  reusedSocket?: boolean;
  /**
   * HTTP client on a reused socket: how long it sat idle in the pool before this request went out
   * (for a streamed body, until its end; none when the response began before that).
   */
  idleBeforeReuseMs?: number;
  request?: InflightRequest;
  /** HTTP/2 (`h2`, `grpc`): streams open on the connection when it ended; each of them failed with it. */
  streamsInFlight?: number;
  hint?: Hint;
  /**
   * OpenTelemetry context of the request in flight: its own span (an outgoing request's CLIENT span,
   * a server request's SERVER span) where a tracer made one, else the caller's traceparent (server)
   * or the context active when it started; raw sockets: when the connect started (docs/opentelemetry.md).
   */
  context?: Context;
  traceId?: string;
  spanId?: string;
  /** True when nothing handles the error: the process is about to crash with it. */
  fatal: boolean;
}

export type ResetListener = (event: ResetEvent) => void;

/** Counters the agent keeps for exporters (read at collection time, never pushed per socket). */
export interface AgentStats {
  /** Connections opened, by direction and TLS. */
  connections: Record<Direction, { tls: number; plain: number }>;
  /** Failures inside the agent's own code, caught by the guard. */
  agentErrors: number;
  /** Events an exporter could not take (queue full, rate limit, …), by exporter name. */
  dropped: Record<string, number>;
  resets: number;
}
