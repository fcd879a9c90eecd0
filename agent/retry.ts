// Whether what was in flight when the connection ended can be retried without risk (README "Retry").
// `safe` only where the request provably never reached the peer's application:
// - `connect`: TCP was never established; `tls_handshake`: nothing was sent over TLS yet;
// - an HTTP client request with an idempotent method sent on a reused keep-alive socket, and not
//   one byte of a response read since the previous exchange ended: the peer had closed (or was
//   closing) the idle connection, so the request met a dead socket (the keep-alive race).
// `unsafe`: any other HTTP client request in flight (it may have been processed).
// `unknown`: everything else — servers, raw TCP, database protocols (the agent cannot tell
// whether a query was idempotent), idle connections with nothing in flight.
import type { SocketState } from './internal-types';
import type { ResetEvent, Retry } from './types';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function retryOf(e: ResetEvent, state: SocketState, bytesRead: number): Retry {
  // Only the side that dialled can retry: a server's handshake reset is not `safe`, it is not its call.
  if (e.direction !== 'client') return 'unknown';
  if (e.phase === 'connect' || e.phase === 'tls_handshake') return 'safe';
  if (e.request === undefined) return 'unknown';
  const noResponseByte = bytesRead === (state.http?.readMark ?? 0);
  if (e.reusedSocket === true && noResponseByte && IDEMPOTENT.has(e.request.method.toUpperCase())) return 'safe';
  return 'unsafe';
}
