// The heavy half of the Prometheus output (prom-client, the metrics, the sums), loaded by ./index.ts
// at the first reset, scrape, family exchange or `registry` access: an app that never resets and
// is never scraped does not pay for it at start. What the endpoint serves is built here.
import { collectCluster, combine, sumSnapshots, answerPrimary, isClusterWorker, type Snapshot } from './cluster';
import { render, withTotalNames, type MetricJSON } from './render';
import { registry } from './metrics';
import { family, recent, peers } from './record';
import type { ResetRecord } from './recent';
import { Rendered, stampOf } from './unchanged';

export { registry, connectionCounts, schema } from './metrics';
export { configure, peers, record, recordEvent, setFamily } from './record';
export { PendingRecord } from './recent';
export { SampleReplica } from './replica';
export { answerPrimary, isClusterWorker };

/** This process's metrics (main thread plus forwarded worker-thread resets) and recent resets. */
export async function localSnapshot(): Promise<Snapshot> {
  // Each metric's own values, without the registry's default (constant) labels: render() adds those.
  const metrics = await Promise.all(registry.getMetricsAsArray().map((m) => (m as unknown as { get(): Promise<MetricJSON> }).get()));
  return { metrics: withTotalNames(metrics), recent: recent.list() };
}

/** This process's own state: local, or in a cluster primary with workers the sum over all of them. */
export async function ownSnapshot(): Promise<Snapshot & { workers?: { answered: number; total: number } }> {
  const local = await localSnapshot();
  return (await collectCluster(local, recent.capacity, peers.max)) ?? local;
}

type Served = Snapshot & { workers?: { answered: number; total: number }; family?: number };
let inflight: Promise<Served> | undefined;

/** What the endpoint serves: this process's own state, plus the family's when it leads one. Concurrent scrapes share one collection. */
function snapshot(): Promise<Served> {
  if (inflight === undefined) {
    inflight = (async () => {
      const mine = await ownSnapshot();
      if (family === undefined) return mine;
      const all = await family.collect(mine);
      return { ...all, workers: mine.workers };
    })();
    const clear = () => {
      inflight = undefined;
    };
    inflight.then(clear, clear);
  }
  return inflight;
}

const rendered = new Rendered();

export async function exposition(openMetrics: boolean): Promise<string> {
  // Taken before collecting: a change meanwhile makes the next scrape's stamp differ (./unchanged.ts).
  const stamp = stampOf(family);
  const again = rendered.get(openMetrics, stamp);
  if (again !== undefined) return again;
  // A collection already under way (for /resets) began before the stamp: its text is not kept.
  const fresh = inflight === undefined;
  const snap = await snapshot();
  const text = await render(snap.metrics, openMetrics);
  rendered.set(openMetrics, fresh ? stamp : undefined, text);
  return text;
}

export async function recentResets(
  limit: number,
): Promise<{ events: ResetRecord[]; workers?: { answered: number; total: number }; family?: number }> {
  const snap = await snapshot();
  return { events: snap.recent.slice(0, limit), workers: snap.workers, family: snap.family };
}

export function sum(parts: Snapshot[]): Promise<Snapshot> {
  return sumSnapshots(parts, recent.capacity, peers.max);
}

export function combineParts(parts: Snapshot[]): Promise<Snapshot> {
  return combine(parts, recent.capacity);
}
