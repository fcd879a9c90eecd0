// The Prometheus metric families, on resetwatch's own Registry (the default registry is never
// touched), built from the contract (agent/contract.ts). Counters the agent keeps anyway
// (connections, agent errors, drops) are read at collection time: no per-connection work.
import { Counter, Gauge, Histogram, Registry } from './client';
import { stats } from '../../agent/stats';
import { VERSION } from '../../agent/version';
import { DIRECTIONS } from '../../agent/types';
import { METRICS, OUTPUTS, HISTOGRAM_LABELS } from '../../agent/contract';
import { threadCounts } from './threads';

/** resetwatch's own registry, for apps that serve their own /metrics. */
export const registry = new Registry();

export const resets = new Counter({
  name: METRICS.resets.name,
  help: METRICS.resets.help,
  labelNames: METRICS.resets.labels,
  // prom-client refuses exemplars on a text-format registry at construction; they are only ever
  // rendered in OpenMetrics (exporters/prometheus/render.ts), so register by hand. An app that
  // renders `registry` itself in the text format simply gets no exemplars.
  registers: [],
  enableExemplars: true,
});
registry.registerMetric(resets);

new Counter({
  name: METRICS.connections.name,
  help: METRICS.connections.help,
  labelNames: METRICS.connections.labels,
  registers: [registry],
  collect() {
    this.reset();
    for (const direction of DIRECTIONS) {
      const threads = threadCounts.connections[direction];
      this.inc({ direction, tls: 'true' }, stats.connections[direction].tls + threads.tls);
      this.inc({ direction, tls: 'false' }, stats.connections[direction].plain + threads.plain);
    }
  },
});

type Spec = { name: string; help: string; buckets: readonly number[] };

function histogram(spec: Spec): Histogram<(typeof HISTOGRAM_LABELS)[number]> {
  return new Histogram({ name: spec.name, help: spec.help, labelNames: HISTOGRAM_LABELS, buckets: [...spec.buckets], registers: [registry] });
}

export const receivedBytes = histogram(METRICS.receivedBytes);
export const sentBytes = histogram(METRICS.sentBytes);
export const age = histogram(METRICS.connectionAge);
export const idle = histogram(METRICS.idleBeforeReuse);

const info = new Gauge({
  name: METRICS.info.name,
  help: METRICS.info.help,
  labelNames: METRICS.info.labels,
  registers: [registry],
  aggregator: 'max',
});
info.set({ version: VERSION, node_version: process.version }, 1);

new Counter({
  name: METRICS.agentErrors.name,
  help: METRICS.agentErrors.help,
  registers: [registry],
  collect() {
    this.reset();
    this.inc(stats.agentErrors + threadCounts.agentErrors);
  },
});

new Counter({
  name: METRICS.dropped.name,
  help: METRICS.dropped.help,
  labelNames: METRICS.dropped.labels,
  registers: [registry],
  collect() {
    this.reset();
    // Every output has a series (0 until it drops), plus whatever else counted drops.
    const names = new Set<string>([...OUTPUTS, ...Object.keys(stats.dropped), ...Object.keys(threadCounts.dropped)]);
    for (const name of [...names].sort()) {
      this.inc({ exporter: name }, (stats.dropped[name] ?? 0) + (threadCounts.dropped[name] ?? 0));
    }
  },
});

export const folded = new Counter({
  name: METRICS.peersFolded.name,
  help: METRICS.peersFolded.help,
  registers: [registry],
});
