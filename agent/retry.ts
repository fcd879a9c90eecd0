// Whether what was in flight when the connection ended can be retried without risk (README "Retry").
// `safe` only where the request provably never reached the peer's application:
// - `connect`: TCP was never established; `tls_handshake`: nothing was sent over TLS yet; a
//   forward proxy's CONNECT not yet answered: nothing was sent through the tunnel yet;
// - an HTTP client request with an idempotent method sent on a reused keep-alive socket, and not
//   one byte of a response read since the previous exchange ended, ended within RACE_WINDOW_MS of
//   being sent: the peer had closed (or was closing) the idle connection, so the request met a
//   dead socket (the keep-alive race).
// `unsafe`: any other HTTP client request in flight (it may have been processed).
// `unknown`: everything else — servers, raw TCP, database protocols (the agent cannot tell
// whether a query was idempotent), idle connections with nothing in flight.
import type { ResetEvent, Retry } from './types';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * A request that met a dead pooled connection hears so within a round trip: the peer's FIN was on
 * its way, or the RST its kernel (or a middlebox without the connection's state) answers with.
 * One that waited longer for its reset was held by a live peer (its request timeout, a crash).
 * Measured when the reset is handled, so an event loop delay counts too: round trips and loop
 * delays fit under it, a peer's timeouts (seconds) do not. A peer that takes a request and resets
 * it sooner (150 ms in a gateway trial) still reads as a race.
 */
export const RACE_WINDOW_MS = 500;

/**
 * The request in flight was sent on a reused connection and met its end at once (RACE_WINDOW_MS).
 * A request Node never published has no age: one that went out as it was made met the dead socket
 * as it did (event.ts wentOutAtOnce); another (a streaming upload, a response begun) may be old.
 */
export function metDeadSocket(e: ResetEvent, ageUnknown = false): boolean {
  if (e.reusedSocket !== true || e.request === undefined) return false;
  const age = e.request.ageMs;
  return age !== undefined ? age < RACE_WINDOW_MS : !ageUnknown;
}

export function retryOf(e: ResetEvent, responseBegun: boolean, ageUnknown = false): Retry {
  // Only the side that dialled can retry: a server's handshake reset is not `safe`, it is not its call.
  if (e.direction !== 'client') return 'unknown';
  if (e.phase === 'connect' || e.phase === 'tls_handshake') return 'safe';
  if (e.request === undefined) return 'unknown';
  // A proxy's tunnel not yet open: the request it was for has not left this host.
  if (e.request.method === 'CONNECT' && !responseBegun) return 'safe';
  if (metDeadSocket(e, ageUnknown) && !responseBegun && IDEMPOTENT.has(e.request.method.toUpperCase())) return 'safe';
  return 'unsafe';
}
