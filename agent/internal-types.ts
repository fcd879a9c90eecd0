// Internal types: what the hooks keep per socket and per request. Small on purpose: one of these
// per open socket is the agent's whole memory cost when nothing resets.
import type * as net from 'node:net';
import type { Context } from '@opentelemetry/api';
import type { Direction } from './types';

/**
 * Activity marks are whole milliseconds modulo 2^30 (about 12.4 days): small integers V8 stores
 * inside the object, with no number box per socket. Differences are taken modulo the same.
 */
export const CLOCK_MASK = 0x3fffffff;
export function clockMs(t: number): number {
  return Math.floor(t) & CLOCK_MASK;
}

/** SocketState.activity: the latest touch was a write. */
export const WROTE_LAST = 1;
/**
 * SocketState.activity: the peer's latest burst of reads began after a write of this side had waited
 * unanswered (a query in flight); an answer within 50 ms, or reads after this side's own close, start none.
 */
export const BURST_AFTER_WRITE = 2;
/** SocketState.activity: this side had ended its writing before the peer's latest read (which may answer that close). */
export const ENDED_HERE = 4;
/**
 * SocketState.activity: one read since this side's latest write (or since the connection began),
 * and two or more (hooks/activity.ts). For an HTTP server between responses the read that met the
 * reset is one of them, so a second means a request was arriving (classify.ts).
 */
export const READ_ONCE = 8;
export const READ_AGAIN = 16;
export const READS = READ_ONCE | READ_AGAIN;
/**
 * SocketState.activity, set at a read: the clock had not moved since the touch before it (kept
 * from the previous read, cleared at a write). An end of input read in the same poll as the bytes
 * before it has it (classify.ts noteResetBehindEnd); one read in a later poll has it only when
 * that poll came within the same clock step (10 ms at most while the loop turns).
 */
export const SAME_STEP = 1 << 19;
/** The bits of SocketState.activity the activity hook sets; it keeps every other bit as it is. */
export const TOUCHES = WROTE_LAST | BURST_AFTER_WRITE | ENDED_HERE | READS | SAME_STEP;
/** SocketState.activity, fixed at the start: an accepted connection (else a dialled one), and a TLS one. */
export const SERVER = 32;
export const TLS = 64;
/** SocketState.activity: an event was published for this connection: never a second one. */
export const DONE = 128;
/** SocketState.activity, bits 8–17: the microseconds (0–1000) of the start's millisecond. */
const START_US_SHIFT = 8;
/**
 * SocketState.activity: the end of input a library raised its error for (undici's "other side
 * closed") was an RST (classify.ts resetBehindEnd), noted while the handle was still open.
 */
export const RESET_BEHIND_END = 1 << 18;
/**
 * SocketState.activity, with RESET_BEHIND_END: the end of input was this host's own abort (`ss
 * -K`, SOCK_DESTROY), the read after it found ECONNABORTED pending (classify.ts noteResetBehindEnd).
 */
export const ABORT_BEHIND_END = 1 << 22;
/**
 * SocketState.activity: the app called the socket's end() (hooks/destroy.ts), which an errored
 * socket ignores (writableEnded stays false): a library that closed its protocol's connection as
 * a write of its last answer met the peer's RST (amqplib at a broker's shutdown, classify.ts).
 */
export const END_CALLED = 1 << 20;
/**
 * SocketState.activity: this state's connection is not counted as opened by it. Fixed at the start
 * for a connection this process neither accepted nor dialled, watched from its first read or write
 * here (hooks/server.ts adopt: handed over by another process, which counted it), and for a
 * TLSSocket over such a raw socket; set by sockets.ts supersede() on a raw socket whose count had
 * to stay, so that the TLSSocket taking it over is not counted again.
 */
export const ADOPTED = 1 << 21;

/**
 * One per watched socket, for as long as it is open: the agent's whole memory cost per connection
 * when nothing resets. Six fields, all small integers but the rare slot (Node's builds of V8 have
 * no pointer compression: 8 bytes each, 72 bytes with the header, and no number box): the flags of
 * `activity` also hold the direction, TLS, `done` and the start's microseconds; what only some
 * connections need (a client's dial, HTTP bookkeeping, the addresses at close) is one object behind
 * `extras`. The accessors keep the fields' old names. Fields `declare`d and set once in the
 * constructor: a class field would be defined as undefined first and then set (two stores each).
 */
export class SocketState {
  /**
   * WROTE_LAST | BURST_AFTER_WRITE | ENDED_HERE | READ_ONCE | READ_AGAIN (hooks/activity.ts), and the
   * fixed bits SERVER | TLS | DONE | the start's microseconds: one small integer, not nine fields.
   */
  declare activity: number;
  /**
   * Last read or write (hooks/activity.ts) in whole ms on the agent's coarse clock (clockMs:
   * performance.now() read at most every 10 ms, small integers stored inside this object), and the
   * last one at an earlier clock reading: the read or write that met the reset touches the mark
   * too, and is left out that way.
   */
  declare active: number;
  declare activeBefore: number;
  /**
   * The mark of the first read counted in READ_ONCE: where the peer's current message began (a
   * server's request age). A client's, from its first write after reads until its next read: the
   * mark of that write, whose answer is waited for (hooks/activity.ts).
   */
  declare readSince: number;
  /**
   * Whole ms of performance.now() at connect()/accept: a small integer for the first 24.8 days of
   * the process (beyond, V8 boxes it, still exact); the microseconds are in `activity`.
   */
  declare private readonly startMs: number;
  /** Created for a client at connect() (its dial), for any connection at its first HTTP state or address snapshot. */
  declare private extras: SocketExtras | undefined;

  constructor(
    direction: Direction,
    /** performance.now() at connect()/accept. */
    start: number,
    tls: boolean,
    /** Client only: what the app dialled (this object becomes the state's own). */
    dial?: SocketExtras,
  ) {
    const ms = Math.floor(start);
    this.activity = (direction === 'server' ? SERVER : 0) | (tls ? TLS : 0) | (Math.round((start - ms) * 1000) << START_US_SHIFT);
    this.active = this.activeBefore = this.readSince = ms & CLOCK_MASK;
    this.startMs = ms;
    this.extras = dial;
  }

  get direction(): Direction {
    return (this.activity & SERVER) !== 0 ? 'server' : 'client';
  }

  /** performance.now() at connect()/accept, to the microsecond. */
  get start(): number {
    return this.startMs + ((this.activity >>> START_US_SHIFT) & 0x3ff) / 1000;
  }

  get tls(): boolean {
    return (this.activity & TLS) !== 0;
  }

  /** An event was published for this connection: never a second one. */
  get done(): boolean {
    return (this.activity & DONE) !== 0;
  }

  set done(value: boolean) {
    this.activity = value ? this.activity | DONE : this.activity & ~DONE;
  }

  /** Client only: what the app dialled, and the trace context of that connect(). */
  get dial(): Dial | undefined {
    const x = this.extras;
    return x !== undefined && x.host !== undefined ? (x as Dial) : undefined;
  }

  /** Created with the first HTTP request seen on the connection (then an idle socket is `idle`). */
  get http(): HttpState | undefined {
    return this.extras?.http;
  }

  set http(value: HttpState | undefined) {
    this.more().http = value;
  }

  /** Addresses read just before the handle closed (they are gone afterwards). */
  get snapshot(): AddressSnapshot | undefined {
    return this.extras?.snapshot;
  }

  set snapshot(value: AddressSnapshot | undefined) {
    this.more().snapshot = value;
  }

  private more(): SocketExtras {
    if (this.extras === undefined) this.extras = new SocketExtras(undefined, undefined, undefined);
    return this.extras;
  }

  /** The peer's latest burst of reads (e.g. an error message, then its FIN) came after a write of this side had waited unanswered. */
  get burstAfterWrite(): boolean {
    return (this.activity & BURST_AFTER_WRITE) !== 0;
  }

  /** This side had ended its writing (its own close, a pool's Terminate) before the peer's latest read. */
  get endedHere(): boolean {
    return (this.activity & ENDED_HERE) !== 0;
  }
}

/** What a client socket was asked to connect to, and the trace context of that connect(). */
export interface Dial {
  host: string;
  port?: number;
  context: Context | undefined;
}

/**
 * What only some connections need, behind one slot of SocketState: a client's dial (host set: the
 * object client.ts builds at connect()), HTTP bookkeeping, the addresses read at close.
 */
export class SocketExtras {
  declare http: HttpState | undefined;
  declare snapshot: AddressSnapshot | undefined;
  declare readonly host: string | undefined;
  declare readonly port: number | undefined;
  declare readonly context: Context | undefined;
  constructor(host: string | undefined, port: number | undefined, context: Context | undefined) {
    this.host = host;
    this.port = port;
    this.context = context;
    this.http = undefined;
    this.snapshot = undefined;
  }
}

/**
 * A connection that carried bytes before its TLS (STARTTLS: SMTP, PostgreSQL's SSLRequest, LDAP,
 * MySQL; a proxy's CONNECT tunnel): what it moved then, which the TLSSocket's counters start
 * without (hooks/tls.ts, added in event.ts), and the peer if the app had read it there. Kept off
 * SocketState, in a map only such connections enter: every other socket pays nothing for it.
 */
export const plainBeforeTls = new WeakMap<SocketState, PlainBeforeTls>();
export interface PlainBeforeTls {
  read: number;
  written: number;
  /** The peer as Node had cached it on the plain socket (the app read its `remoteAddress`: an SMTP server's session). */
  peerAddress: string | undefined;
  peerPort: number | undefined;
}

/** HTTP bookkeeping, per connection (not per request: no allocation per request). */
export class HttpState {
  /** Client: exchanges completed (responses received). */
  exchanges = 0;
  /** Client: performance.now() when the last exchange completed: start of the keep-alive idle time. */
  idleSince = 0;
  /** Client: the keep-alive timeout the server advertised in its last response (`Keep-Alive: timeout=N`), ms; 0 unknown. */
  serverKeepAliveMs = 0;
  /**
   * Bytes read when the last exchange finished. Client: more now means a response had begun
   * (retry.ts); server: more now means a request was arriving (classify.ts).
   */
  readMark = 0;
  /** Server: performance.now() when the current request began: its first read (hooks/activity.ts, stamped at reset time), or its headers (the http.server.* channels, with the activity hook off). */
  requestStart = 0;
  /** undici request in flight, and how far it got. */
  inflight: object | undefined = undefined;
  inflightPhase: 'request' | 'response' = 'request';
}

/**
 * A byte of the response to the client request in flight has arrived: node:http's request has its
 * `res` (its mark moves at a response's headers, hooks/http.ts clientFinish, so bytes past it may be
 * the body of the last one), else more bytes were read than the mark (undici's, at the request's
 * start). The hints, the retry verdict and the hidden-RST check (classify.ts) all ask this.
 */
export function responseBegun(socket: { bytesRead: number }, state: SocketState, res: unknown): boolean {
  return res != null || socket.bytesRead > (state.http?.readMark ?? 0);
}

export function httpOf(state: SocketState): HttpState {
  if (state.http === undefined) state.http = new HttpState();
  return state.http;
}

/** A socket's addresses, read just before its handle closed. */
export interface AddressSnapshot {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  tlsVersion?: string;
  /** Server TLS: the name the client asked for (addresses.ts serverNameOf), read while the handle was open. */
  serverName?: string;
  /** Server TLS: no byte of the client's had arrived, so no handshake had begun (classify.ts beforeClientHello). */
  beforeHello?: boolean;
  /** Client HTTP: the request in flight had been handed to the kernel whole (classify.ts requestSent). */
  requestSent?: boolean;
}

/** Kept on a ClientRequest / undici request (symbols.ts requestMark). */
export interface RequestMark {
  start: number;
  /** The app's active OpenTelemetry context then (undefined: no context manager registered). */
  context: Context | undefined;
  /** undici: the socket state it went out on, and whether that socket had served before. */
  state?: SocketState;
  reused?: boolean;
  /** A reused socket: how long it was pooled before this request went out on it, ms (http and undici alike). */
  idleBeforeReuseMs?: number;
}

/** The fields of Node's sockets and requests we read (internal but stable since Node 0.x). */
export interface NodeSocketInternals {
  _httpMessage?: ({ res?: { complete?: boolean }; req?: { complete?: boolean } } & Record<string, unknown>) | null;
  parser?: unknown;
  _secureEstablished?: boolean;
  encrypted?: boolean;
  alpnProtocol?: string | false | null;
  servername?: string | false | null;
  _tlsOptions?: { isServer?: boolean };
  _server?: { _pipeName?: string } | null;
}

/** A socket as the classifier reads it. */
export type Sock = net.Socket & NodeSocketInternals;

/** What classification reads of the message riding a socket (`socket._httpMessage`) or of an undici request. */
export type ClientRequestLike = {
  method?: string;
  host?: string;
  /** The request target as given (with its query string). */
  path?: string;
  res?: { complete?: boolean } | null;
  reusedSocket?: boolean;
  writableFinished?: boolean;
  writableEnded?: boolean;
  outputSize?: number;
  /** Node's default by method: false for those sent without a body (GET, HEAD, DELETE, OPTIONS, TRACE, CONNECT). */
  useChunkedEncodingByDefault?: boolean;
  listenerCount(event: string): number;
};
/** An http server's request as Node's IncomingMessage holds it. */
export type IncomingLike = {
  complete?: boolean;
  method?: string;
  /** The request target as received (with its query string). */
  url?: string;
  headers?: Record<string, unknown>;
  /**
   * Express: the route that matched (`path` its template), the text its router's mount matched
   * (`''` on the app's own router), and the target as received (`url` is rewritten inside a
   * mounted router, without the mount path).
   */
  route?: { path?: unknown } | null;
  baseUrl?: unknown;
  originalUrl?: unknown;
  /** Express: the route's parameters (restored to the parent's when the request leaves a mounted router). */
  params?: unknown;
};
export type ServerResponseLike = {
  req?: IncomingLike;
  writableEnded?: boolean;
};
export type UndiciRequestLike = { method?: string; origin?: string; path?: string };
