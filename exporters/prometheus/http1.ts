// The metrics endpoint's HTTP/1.1, spoken by hand on a plain net.Server: a request head in, one
// whole response out, kept-alive connections, nothing more (no request bodies, no chunked
// encoding). Not node:http because every object Node's http server makes for a scrape (server,
// socket, IncomingMessage, ServerResponse, their listeners, a string body) goes through the same
// functions as the app's own requests: V8 deoptimises them at the first scrape and re-optimises
// them for both kinds, and the app's requests stay slower for the life of the process
// (callgrind, keep-alive: +2.2k instructions per app request after one scrape, ~0 without the
// scrape or with this transport: docs/benchmarks.md "Keep-alive attribution"). A net.Server
// shares only net.Socket's code with the app, which already sees sockets of many kinds.
// Another agent that traces http.Server requests does not see a net.Server's either.
import type * as net from 'node:net';
import { guard } from '../../agent/guard';
import { inNextTurn } from '../../agent/first-turn';
import { TOKEN } from '../shared/http-syntax';
import { setTimeout, clearTimeout, NodeDate } from '../../agent/timers';

export interface Limits {
  /** Request head bytes; more: 431 and closed. */
  maxHeaderSize: number;
  /** Time for a client to send a request's head: from connecting, or beyond the keep-alive time. */
  headersTimeoutMs: number;
  /** Silence this long while a response is written: closed. */
  idleTimeoutMs: number;
  /** Between requests, a kept-alive connection is closed after this long (advertised in Keep-Alive). */
  keepAliveTimeoutMs: number;
}

/**
 * For the endpoint's net.Server, as node:http's own: a client that closes its sending side right
 * after its request (`printf … | nc -N`, curl's --http1.0 with a shut-down) still gets the answer,
 * which may come turns later (a family's /metrics); answers go out without Nagle's delay.
 */
export const SERVER_OPTIONS: net.ServerOpts = { allowHalfOpen: true, noDelay: true };

/** What the routes read of a request (the names node:http uses; header names lower-case). */
export interface EndpointRequest {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
};

/** The response to one request: headers set, then `end(body)` writes it whole (the subset of ServerResponse the routes use). */
export class EndpointResponse {
  statusCode = 200;
  headersSent = false;
  private readonly fields = new Map<string, [string, string]>();

  constructor(
    private readonly connection: Connection,
    private readonly head: boolean,
  ) {}

  get destroyed(): boolean {
    return this.connection.socket.destroyed;
  }

  setHeader(name: string, value: string | number): void {
    this.fields.set(name.toLowerCase(), [name, String(value)]);
  }

  end(body: string): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const close = !this.connection.keepAlive || this.connection.ended || this.fields.get('connection')?.[1].toLowerCase() === 'close';
    this.fields.delete('connection');
    let text = `HTTP/1.1 ${this.statusCode} ${REASONS[this.statusCode] ?? 'Unknown'}\r\n`;
    for (const [name, value] of this.fields.values()) text += `${name}: ${value}\r\n`;
    text += `Date: ${new NodeDate().toUTCString()}\r\n`;
    text += close
      ? 'Connection: close\r\n\r\n'
      : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.connection.limits.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
    if (!this.head) text += body;
    this.connection.finish(text, close);
  }
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;
/** Bytes no HTTP/1 request starts with (a TLS ClientHello's 0x16, binary): refused at once, not after the head timeout. */
const NOT_A_METHOD = /^[^!#$%&'*+.^_`|~0-9A-Za-z\r-]/;
/** A LF without its CR: node:http refuses such a head with 400, so does the endpoint, at once. */
const BARE_LF = /(?:^|[^\r])\n/;

/** One connection: request heads parsed in turn, each answered before the next is read. */
export class Connection {
  /** The next request's bytes so far (latin1: one character per byte). */
  private pending = '';
  private answering = false;
  /** Refused (400, 408, 431): nothing more is read, the connection ends once the answer is out. */
  private refused = false;
  private deadline: NodeJS.Timeout | undefined;
  /** The client closed its sending side: what it sent is answered, then the connection ends. */
  ended = false;
  keepAlive = false;

  constructor(
    readonly socket: net.Socket,
    readonly limits: Limits,
    private readonly onRequest: (req: EndpointRequest, res: EndpointResponse) => void,
  ) {
    socket.on('data', (chunk: Buffer) => guard('prometheus.read', () => this.read(chunk)));
    // The endpoint's own socket: an error (a client's reset) only ends it.
    socket.on('error', () => {});
    socket.on('end', () => guard('prometheus.end', () => this.peerEnded()));
    socket.on('timeout', () => socket.destroy());
    socket.on('close', () => clearTimeout(this.deadline));
    this.expect(limits.headersTimeoutMs, false);
  }

  private read(chunk: Buffer): void {
    if (this.refused) return;
    this.pending += chunk.toString('latin1');
    // Bounded: a client that keeps sending while its request is answered is not read further
    // until the answer is out (node:http pauses a pipelining socket likewise).
    if (this.answering && this.pending.length > this.limits.maxHeaderSize) this.socket.pause();
    this.next();
  }

  private peerEnded(): void {
    this.ended = true;
    if (this.answering) return; // the answer in progress closes the connection (finish)
    this.next(); // a complete head still unread is answered
    if (!this.answering) this.socket.end();
  }

  /**
   * The next request's head must be complete within `ms`, else 408; after an answer (`kept`), a
   * connection that sent nothing since is closed quietly, as node:http closes an idle kept-alive one.
   */
  private expect(ms: number, kept: boolean): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(
      () =>
        guard('prometheus.deadline', () => {
          if (kept && this.pending === '') this.socket.destroy();
          else this.refuse(408);
        }),
      ms,
    );
    this.deadline.unref();
  }

  private next(): void {
    if (this.answering || this.socket.destroyed) return;
    // Empty lines before a request line are allowed (RFC 9112 2.2).
    while (this.pending.startsWith('\r\n')) this.pending = this.pending.slice(2);
    const end = this.pending.indexOf('\r\n\r\n');
    if (end === -1 ? this.pending.length > this.limits.maxHeaderSize : end > this.limits.maxHeaderSize) {
      this.refuse(431);
      return;
    }
    // A head that can never end in CRLF CRLF is answered now: otherwise the client would wait for
    // the head timeout and then read 408 (node:http answered 400 at once).
    if (NOT_A_METHOD.test(this.pending) || BARE_LF.test(end === -1 ? this.pending : this.pending.slice(0, end + 2))) {
      this.refuse(400);
      return;
    }
    // A request line already complete and not HTTP/1 (`GET /metrics` of HTTP/0.9, a version 2.0):
    // 400 now, not 408 once the head timeout is over.
    const lineEnd = this.pending.indexOf('\r\n');
    if (lineEnd !== -1 && !REQUEST_LINE.test(this.pending.slice(0, lineEnd))) {
      this.refuse(400);
      return;
    }
    if (end === -1) return;
    const head = this.pending.slice(0, end);
    this.pending = this.pending.slice(end + 4);
    const parsed = parseHead(head);
    if (parsed === undefined) {
      this.refuse(400);
      return;
    }
    const { req, minor } = parsed;
    const connection = req.headers.connection?.toLowerCase() ?? '';
    // HTTP/1.1 keeps the connection unless asked not to, HTTP/1.0 only when asked. A request with a
    // body is answered and the connection closed: the endpoint reads no bodies.
    const hasBody =
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') ||
      req.headers['transfer-encoding'] !== undefined;
    this.keepAlive = !this.ended && !hasBody && (minor === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection));
    this.answering = true;
    clearTimeout(this.deadline);
    this.socket.setTimeout(this.limits.idleTimeoutMs);
    this.onRequest(req, new EndpointResponse(this, req.method === 'HEAD'));
  }

  /** Writes a response; then the connection ends, or waits for the next request. */
  finish(text: string, close: boolean): void {
    if (this.socket.destroyed) return;
    if (close) {
      this.socket.end(text);
      return;
    }
    this.socket.write(text, () =>
      guard('prometheus.written', () => {
        if (this.socket.destroyed) return;
        this.socket.setTimeout(0);
        this.socket.resume();
        if (this.pending === '') return this.answered();
        // A request that came meanwhile (pipelined) is answered in a later turn of the event loop,
        // still `answering` until then: a client that sends thousands in one write held the app's
        // loop for all of them at once (2,000 scrapes: 141 ms). An unref'd immediate alone does not
        // wake a loop asleep in its poll (an idle app's), so whichever comes first of it and an
        // unref'd 0 ms timer (../../agent/first-turn.ts); neither keeps the process alive.
        inNextTurn(() => guard('prometheus.pipelined', () => this.answered()));
      }),
    );
  }

  /** The answer is out: the next request (one already sent, or later), or the connection's end. */
  private answered(): void {
    if (this.socket.destroyed) return;
    this.answering = false;
    this.next();
    if (this.answering) return;
    if (this.ended)
      this.socket.end(); // the client sends nothing more
    else this.expect(this.limits.keepAliveTimeoutMs + this.limits.headersTimeoutMs, true);
  }

  /** An error status and the connection closed (what node:http answers bad requests with). */
  private refuse(status: number): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    this.answering = true;
    this.refused = true; // nothing more is read
    this.pending = '';
    clearTimeout(this.deadline);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // Closed once the answer is out, whether or not the client ever closes its side; a client that
    // takes nothing of it is cut off after the idle timeout.
    socket.setTimeout(this.limits.idleTimeoutMs);
    socket.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
  }
}

/** The request line and header fields of a head (and its HTTP/1.x minor version), or undefined when it is not valid. */
function parseHead(head: string): { req: EndpointRequest; minor: string } | undefined {
  const lines = head.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]);
  if (m === null) return undefined;
  const headers: Record<string, string | undefined> = Object.create(null); // no inherited names ('constructor', '__proto__')
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const key = name.toLowerCase();
    // A body's length said twice, or both ways, or not as digits: the request smuggling shapes
    // (RFC 9112 6.3). Taking the first would read another's length than a proxy in front did.
    if ((key === 'content-length' || key === 'transfer-encoding') && headers[key] !== undefined) return undefined;
    // The first of repeated fields (node:http keeps the first Authorization too).
    headers[key] ??= line.slice(colon + 1).trim();
  }
  const length = headers['content-length'];
  if (length !== undefined && (!/^\d+$/.test(length) || headers['transfer-encoding'] !== undefined)) return undefined;
  return { req: { method: m[1], url: m[2], headers }, minor: m[3] };
}
