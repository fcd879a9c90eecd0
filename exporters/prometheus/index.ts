// Prometheus exporter (prom-client): metrics on a private Registry (./metrics.ts), recorded per
// reset (./record.ts), served by its own endpoint (./server.ts). Metric names and labels are a
// public contract: agent/contract.ts, docs/prometheus.md.
//
// Who serves what:
// - with a fixed port, the processes started under the same settings (a process tree under one
//   NODE_OPTIONS) form a family: one of them binds the endpoint and serves the sum of all
//   (./family.ts, ./replica.ts); with RESETWATCH_PORT=0 each process binds its own free port;
// - cluster workers never bind: the primary asks them for their metrics at scrape time and serves
//   the sum (./cluster.ts);
// - worker threads never bind: they forward each reset to their process's main thread, which
//   records it as its own (./threads.ts).
import { onReset } from '../../agent/bus';
import { PendingRecord, toRecord, type ResetRecord } from './recent';
import { startMetricsServer } from './server';
import { isClusterWorker, answerPrimary, collectCluster, combine, sumSnapshots, type Snapshot } from './cluster';
import { joinFamily } from './family';
import { SampleReplica } from './replica';
import { forwardToMainThread, receiveFromThreads } from './threads';
import { render, withTotalNames, type MetricJSON } from './render';
import { constantLabels } from '../shared/labels';
import { connectionCounts, registry, schema } from './metrics';
import { configure, family, peers, recent, record, setFamily, toSample } from './record';
import type { Exporter } from '../types';

export { registry };

// ---- what the endpoint serves ----

/** This process's metrics (main thread plus forwarded worker-thread resets) and recent resets. */
async function localSnapshot(): Promise<Snapshot> {
  // Each metric's own values, without the registry's default (constant) labels: render() adds those.
  const metrics = await Promise.all(registry.getMetricsAsArray().map((m) => (m as unknown as { get(): Promise<MetricJSON> }).get()));
  return { metrics: withTotalNames(metrics), recent: recent.list() };
}

/** This process's own state: local, or in a cluster primary with workers the sum over all of them. */
async function ownSnapshot(): Promise<Snapshot & { workers?: { answered: number; total: number } }> {
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

export async function exposition(openMetrics: boolean): Promise<string> {
  const snap = await snapshot();
  return render(snap.metrics, openMetrics);
}

export async function recentResets(
  limit: number,
): Promise<{ events: ResetRecord[]; workers?: { answered: number; total: number }; family?: number }> {
  const snap = await snapshot();
  return { events: snap.recent.slice(0, limit), workers: snap.workers, family: snap.family };
}

// ---- lifecycle ----

export const prometheusExporter: Exporter = {
  name: 'prometheus',
  start({ config, isMainThread }) {
    configure(config);
    // For apps that render `registry` themselves; our endpoint adds them in render().
    registry.setDefaultLabels({ ...constantLabels() });
    if (!isMainThread) {
      // Worker threads never bind: each reset goes to the main thread (./threads.ts).
      return forwardToMainThread((e) => ({ sample: toSample(e), record: recent.capacity > 0 ? toRecord(e) : undefined }));
    }
    const stops: (() => void)[] = [];
    stops.push(onReset((e) => record(toSample(e), recent.capacity > 0 ? new PendingRecord(e) : undefined)));
    stops.push(receiveFromThreads((m) => record(m.sample, m.record)));
    const serve = (takeover = false) => startMetricsServer(config, { exposition, recentResets }, takeover);
    if (isClusterWorker()) {
      stops.push(answerPrimary(localSnapshot));
    } else if (config.port === 'off') {
      // No endpoint: metrics only in `registry`.
    } else if (config.port === 0) {
      stops.push(serve()); // each process its own free port: nothing to share
    } else {
      // A fixed port: every process started under the same settings serves through one (./family.ts).
      const joined = joinFamily(config, {
        own: ownSnapshot,
        connections: connectionCounts,
        replica: () => new SampleReplica(),
        sum: (parts) => sumSnapshots(parts, recent.capacity, peers.max),
        combine: (parts) => combine(parts, recent.capacity),
        serve,
        schema,
        maxPeers: () => peers.max,
      });
      if (joined === undefined) {
        stops.push(serve());
      } else {
        setFamily(joined);
        stops.push(() => {
          joined.stop();
          if (family === joined) setFamily(undefined);
        });
      }
    }
    return () => {
      for (const stop of stops.splice(0).reverse()) stop();
    };
  },
};
