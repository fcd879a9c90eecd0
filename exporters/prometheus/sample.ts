// A reset as the Prometheus metrics count it (a Sample, ./threads.ts): built where the reset
// happened. Apart from ./record.ts because a worker thread only posts its samples to its main
// thread: it needs none of the recording's state (peers, recent resets, totals), and before
// that split it loaded prom-client for them (~9 ms and ~2 MB of heap at its first reset, in
// every worker; found by a trial of worker-thread pools).
import type { ResetEvent } from '../../agent/types';
import { peerOf } from '../shared/peers';
import { protocolOf, tlsEstablished } from '../shared/attributes';
import { racedOnReuse } from '../../agent/hints';
import type { Sample } from './threads';

/** `serverPeers`: RESETWATCH_SERVER_PEERS (a server event's peer is the client's address). */
export function toSample(e: ResetEvent, serverPeers: boolean): Sample {
  const s: Sample = {
    direction: e.direction,
    phase: e.phase,
    errorType: e.errorType,
    tls: tlsEstablished(e),
    protocol: protocolOf(e),
    peer: peerOf(e, serverPeers),
    bytesReceived: e.bytesReceived,
    bytesSent: e.bytesSent,
    connectionAgeMs: e.connectionAgeMs,
  };
  // Only a request that raced (not every reset on a reused connection): the histogram behind the keep-alive alert.
  if (racedOnReuse(e)) s.idleBeforeReuseMs = e.idleBeforeReuseMs;
  if (e.traceId) {
    s.traceId = e.traceId;
    if (e.spanId) s.spanId = e.spanId;
  }
  return s;
}
