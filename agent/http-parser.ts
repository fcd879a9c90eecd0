// What Node's HTTP parser of a server connection says at reset time, in place of a per-request
// diagnostics-channel subscription. `parser.duration()` (Node ≥ 18, used by the server's own
// headers/request timeouts) is the time in ms since the current request message began, 0 while
// no request is arriving (between requests, or once the request was read in full).
import type { Sock } from './internal-types';

type Parser = { duration?: () => number };

/** ms since the request now arriving on a server socket began; 0 none; undefined unknown (no parser). */
export function arrivingMs(socket: Sock): number | undefined {
  const parser = socket.parser as Parser | null | undefined;
  if (typeof parser?.duration !== 'function') return undefined;
  const ms = parser.duration();
  return typeof ms === 'number' ? ms : undefined;
}
