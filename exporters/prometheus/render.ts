// Turns metric snapshots (prom-client's getMetricsAsJSON shape) into the Prometheus text format or
// OpenMetrics, without touching the registry the app may share: prom-client's own OpenMetrics path
// renames counters in place (resetwatch_resets_total → resetwatch_resets) and the content type is
// per registry, so each scrape renders into a fresh, throwaway Registry of the asked-for type.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { Registry } from './client';
import { OTHER_PEER, type PeerLimiter } from '../shared/peers';
import { directionOfLabels, peerOfLabels, withPeer } from './peer-labels';
import { METRICS } from '../../agent/contract';
import { constantLabels } from '../shared/labels';

export type MetricJSON = MetricObjectWithValues<MetricValue<string>>;

export const RESETS = METRICS.resets.name;
export const FOLDED = METRICS.peersFolded.name;

/**
 * Every resetwatch counter is named `…_total` (the contract). An app that renders `registry` in
 * OpenMetrics itself lets prom-client rename our counters in place; undo that in the snapshot.
 */
export function withTotalNames(metrics: MetricJSON[]): MetricJSON[] {
  return metrics.map((m) => (String(m.type) === 'counter' && !m.name.endsWith('_total') ? { ...m, name: `${m.name}_total` } : m));
}

/**
 * The `_sum` samples of the seconds histograms. Every value observed is to the microsecond
 * (agent/event.ts), but their float sum depends on the order it was added in: a family or cluster
 * sum grouped differently (a departed member folded into the retired sum, a member's state plus
 * its streamed resets replaced by its own total) came out one bit lower, which Prometheus reads as
 * a counter reset. Served to the microsecond, every grouping gives the same value.
 */
const SECONDS: ReadonlySet<string> = new Set([METRICS.connectionAge.name, METRICS.idleBeforeReuse.name]);

function toMicroseconds(m: MetricJSON): MetricJSON {
  if (!SECONDS.has(m.name)) return m;
  const sum = `${m.name}_sum`;
  const values = (m.values as { value: number; metricName?: string }[]).map((v) =>
    v.metricName === sum ? { ...v, value: Math.round(v.value * 1e6) / 1e6 } : v,
  );
  return { ...m, values } as unknown as MetricJSON;
}

export async function render(metrics: MetricJSON[], openMetrics: boolean): Promise<string> {
  const reg = new Registry();
  // Constant labels are added here, when serving, never to the snapshots: family members and
  // cluster workers sum label-free series, and the process that serves labels the sum.
  reg.setDefaultLabels({ ...constantLabels() });
  if (openMetrics) reg.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  for (const m of withTotalNames(metrics)) {
    // OpenMetrics: the family is named without `_total`; prom-client appends it to each sample.
    const name = openMetrics && String(m.type) === 'counter' ? m.name.replace(/_total$/, '') : m.name;
    const snap = { ...toMicroseconds(m), name };
    reg.registerMetric({ name, get: () => snap } as never);
  }
  return reg.metrics();
}

/** A stable key for a label set. */
export function labelKey(labels: Record<string, unknown>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${String(labels[k])}`)
    .join('\u0000');
}

/**
 * Cluster: each worker bounds its own peers, so the sum could hold workers × maxPeers values.
 * The primary keeps its own admitted set (first come, never evicted, so every series stays
 * monotonic) and folds the rest into `_OTHER`. Mutates copies, not the inputs.
 */
export function foldPeers(metrics: MetricJSON[], admitted: PeerLimiter): MetricJSON[] {
  return metrics.map((m) => {
    if (m.name !== RESETS) return m;
    const values = m.values.map((v) => {
      const labels = v.labels as Record<string, string>;
      const peer = peerOfLabels(labels);
      if (peer === '' || peer === OTHER_PEER || admitted.admit(peer)) return v;
      return { ...v, labels: withPeer({ ...labels }, directionOfLabels(labels), OTHER_PEER) };
    });
    return { ...m, values };
  });
}
