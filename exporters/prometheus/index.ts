// Prometheus exporter (prom-client): metrics on a private Registry (./metrics.ts), recorded per
// reset (./record.ts), served by its own endpoint (./server.ts). Metric names and labels are a
// public contract: agent/contract.ts, docs/prometheus.md.
//
// Who serves what:
// - the main thread of a process that is not a cluster worker binds the endpoint;
// - cluster workers never bind: the primary asks them for their metrics at scrape time and serves
//   the sum (./cluster.ts);
// - worker threads never bind: they forward each reset to their process's main thread, which
//   records it as its own (./threads.ts).
import { onReset } from '../../agent/bus';
import { PendingRecord, toRecord, type ResetRecord } from './recent';
import { startMetricsServer } from './server';
import { isClusterWorker, answerPrimary, collectCluster, type Snapshot } from './cluster';
import { forwardToMainThread, receiveFromThreads } from './threads';
import { render, withTotalNames } from './render';
import { registry } from './metrics';
import { configure, peers, recent, record, toSample } from './record';
import type { Exporter } from '../types';

export { registry };

// ---- what the endpoint serves ----

/** This process's metrics (main thread plus forwarded worker-thread resets) and recent resets. */
async function localSnapshot(): Promise<Snapshot> {
  return { metrics: withTotalNames(await registry.getMetricsAsJSON()), recent: recent.list() };
}

let inflight: Promise<Snapshot & { workers?: { answered: number; total: number } }> | undefined;

/** Local snapshot, or in a cluster primary with workers the sum over all of them. Concurrent scrapes share one collection. */
function snapshot(): Promise<Snapshot & { workers?: { answered: number; total: number } }> {
  if (inflight === undefined) {
    inflight = (async () => {
      const local = await localSnapshot();
      const merged = await collectCluster(local, recent.capacity, peers.max);
      return merged ?? local;
    })();
    const clear = () => { inflight = undefined; };
    inflight.then(clear, clear);
  }
  return inflight;
}

export async function exposition(openMetrics: boolean): Promise<string> {
  const snap = await snapshot();
  return render(snap.metrics, openMetrics);
}

export async function recentResets(limit: number): Promise<{ events: ResetRecord[]; workers?: { answered: number; total: number } }> {
  const snap = await snapshot();
  return { events: snap.recent.slice(0, limit), workers: snap.workers };
}

// ---- lifecycle ----

export const prometheusExporter: Exporter = {
  name: 'prometheus',
  start({ config, isMainThread }) {
    configure(config);
    if (!isMainThread) {
      // Worker threads never bind: each reset goes to the main thread (./threads.ts).
      return forwardToMainThread((e) => ({ sample: toSample(e), record: recent.capacity > 0 ? toRecord(e) : undefined }));
    }
    const stops: (() => void)[] = [];
    stops.push(onReset((e) => record(toSample(e), recent.capacity > 0 ? new PendingRecord(e) : undefined)));
    stops.push(receiveFromThreads((m) => record(m.sample, m.record)));
    if (isClusterWorker()) {
      stops.push(answerPrimary(localSnapshot));
    } else if (config.port !== 'off') {
      stops.push(startMetricsServer(config, { exposition, recentResets }));
    }
    return () => { for (const stop of stops.splice(0).reverse()) stop(); };
  },
};
