// The OTLP sender's HTTP/1.1 POST, written by hand on net/tls sockets: the request head and body
// out, the status line, headers and body (Content-Length, chunked, or up to the close) in.
// Not node:http: a ClientRequest shares OutgoingMessage, IncomingMessage and the parser's code
// with the app's own HTTP server, and V8 deoptimises and re-optimises those for both at the first
// export; the app's requests stay slower for the life of the process (callgrind, keep-alive:
// +5k instructions per app request after one export; docs/benchmarks.md "Keep-alive attribution").
// Kept-alive connections are reused, at most `maxSockets` of them; every socket is unref'd and
// not watched by resetwatch (a resetting collector must not make more resets to export).
// Each exchange ends in an Outcome that says whether trying again may help (./retries.ts); the
// retries themselves are the sender's (./otlp.ts). node:tls is imported statically: the agent's
// TLS hook loads it at preload anyway (agent/hooks), so loading it lazily here saved nothing.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { disown } from '../../agent/sockets';
import { guard } from '../../agent/guard';
import { TOKEN } from '../shared/http-syntax';
import { MAX_TIMER_MS, retryableError, retryableStatus } from './retries';
import { setTimeout, clearTimeout } from '../../agent/timers';

/** How one POST ended: `failure` undefined on a 2xx; else why, and whether another attempt may succeed. */
export interface Outcome {
  failure?: string;
  retryable: boolean;
  /** The collector's Retry-After field, raw (undefined when absent, '' when given twice). */
  retryAfter?: string;
  /** The status of a non-2xx answer; undefined when the connection failed before one arrived. */
  status?: number;
}

const DELIVERED: Outcome = { retryable: false };
const refused = (failure: string): Outcome => ({ failure, retryable: false });

/** What a response is waiting for: the head, then the body by length or by chunks, or the close. */
interface Exchange {
  done: (outcome: Outcome, reusable: boolean) => void;
  head?: { status: number; length: number; chunked: boolean; close: boolean; keepAliveMs?: number; retryAfter?: string };
  /** Bytes received and not yet consumed. */
  buf: Buffer;
  /** Chunked: bytes of the current chunk still to skip (-1: at a chunk-size line). */
  chunkLeft: number;
  /** Chunked: past the last chunk, in the trailer. */
  trailer: boolean;
}

type Conn = net.Socket & { exchange?: Exchange };

const EMPTY = Buffer.alloc(0);
const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
/** Header values node:http accepts (RFC 9110 5.5); names are tokens. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export class Poster {
  private readonly idle: Conn[] = [];
  private readonly open = new Set<Conn>();
  private readonly host: string;
  private readonly port: number;
  private readonly path: string;
  /** The Host field: the endpoint's host and port as the URL spells them. */
  private readonly hostHeader: string;
  private secureContext: tls.SecureContext | undefined;

  constructor(
    url: URL,
    private readonly tlsOptions: tls.ConnectionOptions | undefined,
    private readonly maxSockets: number,
  ) {
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = Number(url.port) || (tlsOptions ? 443 : 80);
    this.path = `${url.pathname}${url.search}`;
    this.hostHeader = url.host;
  }

  /** POSTs `payload`; resolves with undefined on a 2xx, else with why not. Never rejects. */
  async post(headers: Record<string, string>, payload: Uint8Array, timeoutMs: number): Promise<string | undefined> {
    return (await this.exchange(headers, payload, timeoutMs)).failure;
  }

  /** POSTs `payload`; resolves with how it ended. Never rejects. */
  exchange(headers: Record<string, string>, payload: Uint8Array, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      // One field per name, the last one given winning, whatever its case (as setHeader did):
      // OTEL_EXPORTER_OTLP_HEADERS may name Host, User-Agent or Content-Type too, and a collector
      // refuses a request with two Host fields (Go's net/http: 400).
      const fields = new Map<string, string>([['host', `Host: ${this.hostHeader}`]]);
      for (const [k, v] of Object.entries(headers)) {
        // As http.request refuses them (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR): a header from
        // OTEL_EXPORTER_OTLP_HEADERS must not split the request, nor make one a collector refuses.
        if (!TOKEN.test(k)) {
          resolve(refused(`invalid header name ${JSON.stringify(k)} (not an HTTP token)`));
          return;
        }
        if (BAD_VALUE.test(v)) {
          resolve(refused(`invalid character in header ${JSON.stringify(k)}`));
          return;
        }
        fields.set(k.toLowerCase(), `${k}: ${v}`);
      }
      fields.set('connection', 'Connection: keep-alive');
      let head = `POST ${this.path} HTTP/1.1\r\n`;
      for (const field of fields.values()) head += `${field}\r\n`;
      head += '\r\n';
      let socket: Conn;
      try {
        let kept = this.idle.pop();
        while (kept?.destroyed) kept = this.idle.pop(); // closed, its 'close' not emitted yet
        if (kept !== undefined) kept.setTimeout(0);
        socket = kept ?? this.connect();
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        resolve(refused(`TLS settings (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY) not usable: ${why}`));
        return;
      }
      const timer = setTimeout(
        () => socket.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        Math.min(timeoutMs, MAX_TIMER_MS),
      );
      timer.unref();
      socket.exchange = {
        buf: EMPTY,
        chunkLeft: -1,
        trailer: false,
        done: (outcome, reusable) => {
          clearTimeout(timer);
          // The collector's Keep-Alive: timeout=N: the connection is let go a second before it
          // would close it, as node:http's agent does, so that no export is sent into its close.
          const keepAliveMs = socket.exchange?.head?.keepAliveMs;
          socket.exchange = undefined;
          const keep = reusable && (keepAliveMs === undefined || keepAliveMs > 1000);
          if (keep && this.idle.length < this.maxSockets && !socket.destroyed) {
            if (keepAliveMs !== undefined) socket.setTimeout(keepAliveMs - 1000);
            this.idle.push(socket);
          } else socket.destroy();
          resolve(outcome);
        },
      };
      // Head and body in one segment: written apart on a kept-alive connection, Nagle held the body
      // back until the collector's delayed ACK of the head, ~40 ms per export (node:http corks too).
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(payload);
      socket.uncork();
    });
  }

  /**
   * Closes every connection; exchanges in flight end with 'connection closed', or delivered when
   * a 2xx status had already arrived (the collector took the batch; only its answer was cut).
   */
  destroy(): void {
    for (const socket of this.open) socket.destroy();
    this.idle.length = 0;
  }

  private connect(): Conn {
    // The TLS context before the socket: key or certificate material that does not parse throws
    // here. Thrown by tls.connect, it left a connecting socket nobody listened to: its refused
    // connect crashed the app, an accepted one stayed open, one more per export.
    if (this.tlsOptions) this.secureContext ??= tls.createSecureContext(this.tlsOptions);
    const raw: Conn = new net.Socket();
    disown(raw); // resetwatch's client hook skips it
    raw.unref();
    raw.setNoDelay(true); // as node:http's agent; applied once connected
    raw.connect({ host: this.host, port: this.port });
    let socket: Conn = raw;
    if (this.tlsOptions) {
      // `host`: the name or address the certificate must be for. Without it, over a socket of our
      // own, an IP address was never checked: any trusted certificate passed for any address.
      const servername = net.isIP(this.host) ? undefined : this.host;
      socket = tls.connect({ secureContext: this.secureContext, socket: raw, host: this.host, servername });
      disown(socket); // ours too: kept out of the hooks' counts and the activity wrapper's shapes
      socket.unref();
    }
    this.open.add(socket);
    socket.on('data', (chunk: Buffer) =>
      guard('otel.read', () => {
        const x = socket.exchange;
        if (x === undefined) {
          socket.destroy(); // bytes nobody asked for: the connection cannot be trusted
          return;
        }
        x.buf = x.buf.length === 0 ? chunk : Buffer.concat([x.buf, chunk]);
        consume(x);
      }),
    );
    socket.on('error', (err: NodeJS.ErrnoException) =>
      guard('otel.error', () => {
        const x = socket.exchange;
        if (x === undefined) return;
        // After the status line, the status is the answer (a 2xx: the collector took the batch).
        if (x.head !== undefined) x.done(status(x.head), false);
        else x.done({ failure: err.message, retryable: retryableError(err.code) }, false);
      }),
    );
    // Idle past the collector's keep-alive time (only idle sockets have a timeout).
    socket.on('timeout', () => socket.destroy());
    socket.on('close', () =>
      guard('otel.close', () => {
        this.open.delete(socket);
        const i = this.idle.indexOf(socket);
        if (i !== -1) this.idle.splice(i, 1);
        const x = socket.exchange;
        // A body that runs to the close ends here; so does one cut short: the status was the answer
        // (a 2xx: delivered; a 503: tried again). Closed before any status: maybe a kept-alive
        // connection the collector closed as we sent: tried again.
        if (x?.head !== undefined) x.done(status(x.head), false);
        else x?.done({ failure: 'connection closed', retryable: true }, false);
      }),
    );
    return socket;
  }
}

function status(head: NonNullable<Exchange['head']>): Outcome {
  const code = head.status;
  if (code >= 200 && code < 300) return DELIVERED;
  return { failure: `HTTP ${code}`, retryable: retryableStatus(code), retryAfter: head.retryAfter, status: code };
}

/** A body that does not parse: after a 2xx status the collector took the batch all the same. */
function badBody(head: NonNullable<Exchange['head']>): Outcome {
  return head.status >= 200 && head.status < 300 ? DELIVERED : refused('bad chunked body');
}

/** Advances a response with the bytes in `x.buf`; calls `x.done` once it is complete. */
function consume(x: Exchange): void {
  for (;;) {
    if (x.head === undefined) {
      const end = x.buf.indexOf(CRLF2);
      if (end === -1) {
        if (x.buf.length > 65536) x.done(refused('response head too large'), false);
        return;
      }
      const lines = x.buf.toString('latin1', 0, end).split('\r\n');
      x.buf = x.buf.subarray(end + 4);
      const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
      if (m === null) {
        x.done(refused('not an HTTP response'), false);
        return;
      }
      const code = Number(m[2]);
      if (code < 200) continue; // 100 Continue and other interim answers
      let length = -1;
      let chunked = false;
      let close = m[1] === '0';
      let keepAliveMs: number | undefined;
      let retryAfter: string | undefined;
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(':');
        const name = lines[i].slice(0, colon).trim().toLowerCase();
        const raw = lines[i].slice(colon + 1).trim();
        const value = raw.toLowerCase();
        if (name === 'content-length') length = Number(value);
        else if (name === 'retry-after')
          retryAfter = retryAfter === undefined ? raw : ''; // twice: not valid
        else if (name === 'transfer-encoding') chunked = value.endsWith('chunked');
        else if (name === 'connection') close = value.includes('close') ? true : value.includes('keep-alive') ? false : close;
        else if (name === 'keep-alive') {
          const t = /(?:^|[\s,])timeout=(\d+)/.exec(value);
          if (t !== null) keepAliveMs = Number(t[1]) * 1000;
        }
      }
      if (code === 204 || code === 304) length = 0;
      if (!chunked && !(length >= 0)) {
        x.head = { status: code, length: -1, chunked, close: true, retryAfter }; // up to the close
        x.buf = EMPTY;
        return;
      }
      x.head = { status: code, length, chunked, close, keepAliveMs, retryAfter };
    }
    const h = x.head;
    if (!h.chunked) {
      if (h.length === -1) {
        x.buf = EMPTY; // up to the close
        return;
      }
      // The body is not needed, only its end: counted down, not kept (a collector's huge or
      // endless answer holds no memory; the export timeout ends it).
      if (x.buf.length < h.length) {
        h.length -= x.buf.length;
        x.buf = EMPTY;
        return;
      }
      x.done(status(h), !h.close && x.buf.length === h.length);
      return;
    }
    // Chunked: size lines, data and CRLF, a 0 chunk, then a trailer up to an empty line.
    if (x.chunkLeft > 0) {
      const skip = Math.min(x.chunkLeft, x.buf.length);
      x.buf = x.buf.subarray(skip);
      x.chunkLeft -= skip;
      if (x.chunkLeft > 0) return;
    }
    const eol = x.buf.indexOf(CRLF);
    if (eol === -1) {
      if (x.buf.length > 65536) x.done(badBody(h), false); // a size or trailer line without end
      return;
    }
    const line = x.buf.toString('latin1', 0, eol);
    x.buf = x.buf.subarray(eol + 2);
    if (x.trailer) {
      if (line === '') {
        x.done(status(h), !h.close && x.buf.length === 0);
        return;
      }
      continue;
    }
    if (x.chunkLeft === 0) {
      x.chunkLeft = -1; // the CRLF after a chunk's data
      if (line !== '') {
        x.done(badBody(h), false);
        return;
      }
      continue;
    }
    const size = Number.parseInt(line, 16);
    if (!(size >= 0)) {
      x.done(badBody(h), false);
      return;
    }
    if (size === 0) x.trailer = true;
    else x.chunkLeft = size;
  }
}
