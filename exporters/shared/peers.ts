// The peer of a reset, as every output that labels by peer sees it, and RESETWATCH_MAX_PEERS: one
// key (peerOf) and one admission rule for all of them, so under the limit the Prometheus label and
// the OpenTelemetry attributes admit the same peers. The first `max` distinct peers are admitted
// for good (never evicted, so every series stays monotonic); the rest fold into `_other`, which
// the caller counts.
import { FOLDED_PEER } from '../../agent/contract';
import type { ResetEvent } from '../../agent/types';

export const OTHER_PEER = FOLDED_PEER;

/** Longest peer value: a DNS name (253) plus `:port`. */
const MAX_PEER_LENGTH = 260;

/**
 * The raw (unfolded, length-bounded) peer of an event: `host:port` (`[v6]:port`) of what a client
 * dialled, the remote address of a server-side connection when server peers are on, else ''.
 */
export function peerOf(e: ResetEvent, withServerPeers: boolean): string {
  let value = '';
  if (e.direction === 'client') {
    const host = e.serverAddress ?? e.peerAddress;
    const port = e.serverAddress !== undefined ? e.serverPort : e.peerPort;
    if (host !== undefined && host !== '') {
      const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      value = port !== undefined ? `${h}:${port}` : h;
    }
  } else if (withServerPeers && e.peerAddress !== undefined) {
    value = e.peerAddress;
  }
  return bound(value);
}

function bound(value: string): string {
  let v = value.length > MAX_PEER_LENGTH ? value.slice(0, MAX_PEER_LENGTH) : value;
  const s = v as string & { toWellFormed?: () => string };
  if (typeof s.toWellFormed === 'function') v = s.toWellFormed();
  return v;
}

export class PeerLimiter {
  private readonly seen = new Set<string>();
  /** Settable: the Prometheus exporter's limiter outlives a stop/start with a new config. */
  constructor(public max: number) {}

  /** True when `peer` is (or now becomes) one of the admitted peers. */
  admit(peer: string): boolean {
    if (this.seen.has(peer)) return true;
    if (this.seen.size >= this.max) return false;
    this.seen.add(peer);
    return true;
  }

  /** The value to label with: the peer itself ('' stays ''), or OTHER_PEER once the limit is reached. */
  label(peer: string): string {
    return peer === '' || this.admit(peer) ? peer : OTHER_PEER;
  }
}
