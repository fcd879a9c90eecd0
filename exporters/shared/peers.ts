// RESETWATCH_MAX_PEERS, shared by every output that labels by peer: the first `max` distinct peers
// are admitted for good (never evicted, so every series stays monotonic); the rest fold into
// `_other`, which the caller counts.

export const OTHER_PEER = '_other';

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
}
