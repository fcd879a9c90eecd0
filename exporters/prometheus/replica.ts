// Another family member's state as this process knows it (./family.ts): its last full snapshot
// plus the resets it streamed since, recorded into sample metrics of their own.
import { DIRECTIONS } from '../../agent/types';
import { PeerLimiter } from '../shared/peers';
import { Registry } from './client';
import { Recent, type ResetRecord } from './recent';
import { withTotalNames } from './render';
import type { Snapshot } from './cluster';
import type { Sample } from './threads';
import type { Connections, Replica } from './family';
import { connectionsCounter, sampleMetricList, sampleMetrics, type SampleMetrics } from './metrics';
import { LABELS } from '../../agent/contract';
import { observe, peers, recent } from './record';

export class SampleReplica implements Replica {
  private base: Snapshot | undefined;
  private metrics: SampleMetrics | undefined;
  private connections: ReturnType<typeof connectionsCounter> | undefined;
  private peers = new PeerLimiter(peers.max);
  private records = new Recent(recent.capacity);

  set(snapshot: Snapshot): void {
    this.base = snapshot;
    this.metrics = undefined;
    this.connections = undefined;
    this.peers = new PeerLimiter(peers.max);
    this.records = new Recent(recent.capacity);
  }

  add(s: Sample, rec: ResetRecord | undefined): void {
    this.metrics ??= sampleMetrics();
    observe(this.metrics.totals, s, this.peers.label(s.peer));
    if (rec !== undefined) this.records.push(rec);
  }

  addConnections(delta: Connections): void {
    this.connections ??= connectionsCounter();
    for (const direction of DIRECTIONS) {
      if (delta[direction].tls > 0) this.connections.inc({ [LABELS.direction]: direction, [LABELS.tls]: 'true' }, delta[direction].tls);
      if (delta[direction].plain > 0)
        this.connections.inc({ [LABELS.direction]: direction, [LABELS.tls]: 'false' }, delta[direction].plain);
    }
  }

  async parts(): Promise<Snapshot[]> {
    const out: Snapshot[] = this.base === undefined ? [] : [this.base];
    if (this.metrics !== undefined || this.connections !== undefined) {
      const reg = new Registry();
      if (this.metrics !== undefined) for (const m of sampleMetricList(this.metrics)) reg.registerMetric(m);
      if (this.connections !== undefined) reg.registerMetric(this.connections);
      out.push({ metrics: withTotalNames(await reg.getMetricsAsJSON()), recent: this.records.list() });
    }
    return out;
  }
}
