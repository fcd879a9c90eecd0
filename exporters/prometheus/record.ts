// Recording a reset into the Prometheus metrics: the event becomes a small Sample (also what a
// worker thread posts to its main thread and a family member streams to its leader), its peer is
// admitted or folded, and its totals (./tallies.ts) are counted, without prom-client (./metrics.ts
// reads them when it collects). Recent resets (for /resets) are kept here too.
import type { ResetEvent } from '../../agent/types';
import type { Config } from '../../agent/config';
import { DEFAULT_MAX_PEERS, LABELS, UNKNOWN_PROTOCOL } from '../../agent/contract';
import { OTHER_PEER, PeerLimiter } from '../shared/peers';
import { withPeer } from './peer-labels';
import { afterHandshake } from '../shared/attributes';
import { Recent, PendingRecord, toRecord, type ResetRecord } from './recent';
import type { Sample } from './threads';
import type { Family } from './family';
import { foldedPeers, histogramLabels, ownTotals, type SampleTotals } from './tallies';
import { answering, sendCrash } from './cluster-crashes';
import { toSample } from './sample';

let serverPeers = false;
export const peers = new PeerLimiter(DEFAULT_MAX_PEERS);
export let recent = new Recent(200);
/** The process family this process belongs to (a fixed port on Linux), if any (./family.ts). */
export let family: Family | undefined;

/**
 * Resets recorded and settings applied here: with ../../agent/stats.ts, what a lone process's
 * exposition is made of changes only with these counts (./unchanged.ts).
 */
export const changes = { count: 0 };

export function configure(config: Config): void {
  changes.count++;
  peers.max = config.maxPeers;
  serverPeers = config.serverPeers;
  recent = new Recent(config.recent);
}

export function setFamily(f: Family | undefined): void {
  family = f;
}

/** One reset of this thread, recorded: the whole per-reset path in one call from ./index.ts. `keep`: for /resets. */
export function recordEvent(e: ResetEvent, keep: boolean): void {
  record(toSample(e, serverPeers), keep ? new PendingRecord(e) : undefined, e.fatal);
}

/**
 * `fatal`: the process is about to crash on this reset: a family member hands it over at once, a
 * cluster worker sends it to its primary (./cluster-crashes.ts).
 */
export function record(s: Sample, rec: ResetRecord | PendingRecord | undefined, fatal = false): void {
  const peer = peers.label(s.peer);
  if (peer === OTHER_PEER && s.peer !== OTHER_PEER) foldedPeers.count++;
  changes.count++;
  observe(ownTotals, s, peer);
  if (rec !== undefined) recent.push(rec);
  if (family !== undefined) family.recorded(s, rec, fatal);
  else if (fatal && answering) sendCrash(s, rec instanceof PendingRecord ? toRecord(rec.event) : rec);
}

/**
 * One sample into a set of totals (./tallies.ts), under the (already admitted or folded) `peer`;
 * prom-client reads them when it collects (./totals.ts).
 */
export function observe(totals: SampleTotals, s: Sample, peer: string): void {
  let exemplar: Record<string, string> | undefined;
  if (s.traceId) {
    exemplar = { trace_id: s.traceId };
    if (s.spanId) exemplar.span_id = s.spanId;
  }
  // Found by the label values themselves (../shared/series-index.ts): no key string per reset.
  const { direction, phase, errorType } = s;
  const protocol = s.protocol ?? UNKNOWN_PROTOCOL;
  const tls = afterHandshake(s.tls, phase);
  if (!totals.resets.inc(direction, phase, errorType, protocol, tls, peer, exemplar))
    totals.resets.add(direction, phase, errorType, protocol, tls, peer, resetLabels(s, peer), exemplar);
  const h = histogramLabels(s.direction, s.phase);
  totals.receivedBytes.observe(h, s.bytesReceived);
  totals.sentBytes.observe(h, s.bytesSent);
  totals.age.observe(h, s.connectionAgeMs / 1000);
  if (s.idleBeforeReuseMs !== undefined) totals.idle.observe(h, s.idleBeforeReuseMs / 1000);
}

/** The reset counter's labels (agent/contract.ts RESET_LABELS): the metric attributes as translated. */
export function resetLabels(s: Sample, peer: string): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.direction]: s.direction,
    [LABELS.phase]: s.phase,
    [LABELS.errorType]: s.errorType,
    [LABELS.protocol]: s.protocol ?? UNKNOWN_PROTOCOL,
    [LABELS.tlsEstablished]: String(afterHandshake(s.tls, s.phase)),
  };
  return withPeer(labels, s.direction, peer);
}
