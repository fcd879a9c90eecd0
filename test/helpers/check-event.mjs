// Asserts every attribute of a reset event: `spec` must name each key the event has (a value to
// compare with deepStrictEqual, or a predicate), so no attribute goes unchecked.
import assert from 'node:assert/strict';

export const any = {
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  port: (v) => Number.isInteger(v) && v > 0 && v < 65536,
  loopback: (v) => v === '127.0.0.1' || v === '::1' || v === '::ffff:127.0.0.1',
  nonNegative: (v) => typeof v === 'number' && v >= 0,
  positive: (v) => typeof v === 'number' && v > 0,
  recent: (v) => typeof v === 'number' && Math.abs(Date.now() - v) < 30000,
  string: (v) => typeof v === 'string' && v.length > 0,
};

/** The addresses of a client event for a connection dialled to 127.0.0.1:`port`. */
export const dialled = (port) => ({
  peerAddress: '127.0.0.1',
  peerPort: port,
  serverAddress: '127.0.0.1',
  serverPort: port,
  localAddress: any.loopback,
  localPort: any.port,
});

/** The error of a reset met by a read: the peer's RST. */
export const readReset = { errorType: 'ECONNRESET', code: 'ECONNRESET', message: 'read ECONNRESET', syscall: 'read' };
/** This host's own abort of the connection (ss -K, SOCK_DESTROY), met by a read. */
export const readAbort = { errorType: 'ECONNABORTED', code: 'ECONNABORTED', message: 'read ECONNABORTED', syscall: 'read' };
/** undici's own error for a peer's FIN with a request in flight. */
export const otherSideClosed = { errorType: 'peer_closed', code: 'UND_ERR_SOCKET', message: 'other side closed', syscall: undefined };
/** A plain TCP client connection to 127.0.0.1:port that was up (not HTTP/1: a database's, a broker's). */
export const establishedClient = (port) => ({ time: any.recent, direction: 'client', phase: 'established', ...dialled(port), tls: false });
/** A connection that moved bytes both ways and ended outside any HTTP/1 request: no retry verdict, not fatal. */
export const movedNoVerdict = {
  bytesReceived: any.positive,
  bytesSent: any.positive,
  connectionAgeMs: any.positive,
  idleMs: any.nonNegative,
  retry: 'unknown',
  fatal: false,
};

/** The same over a connection an HTTP/2 session owns: no idleMs (it reads and writes natively). */
export const http2Moved = { ...movedNoVerdict, idleMs: undefined };

export function checkEvent(event, spec) {
  const { context, ...e } = event;
  const keys = new Set([...Object.keys(e), ...Object.keys(spec)]);
  for (const key of keys) {
    assert.ok(key in spec, `event has ${key}=${JSON.stringify(e[key])} that the test does not check`);
    const want = spec[key];
    if (typeof want === 'function') assert.ok(want(e[key]), `${key}=${JSON.stringify(e[key])} fails ${want.name || 'predicate'}`);
    else assert.deepStrictEqual(e[key], want, `${key}`);
  }
  if (e.traceId === undefined) assert.equal(context, undefined, 'context without traceId');
  else assert.ok(context, 'traceId without context');
}
