// The Prometheus metric families, on resetwatch's own Registry (the default registry is never
// touched), built from the contract (agent/contract.ts). Counters the agent keeps anyway
// (connections, agent errors, drops) are read at collection time: no per-connection work.
import { Counter, Gauge, Histogram, Registry } from './client';
import type { Counter as CounterType } from 'prom-client';
import { stats } from '../../agent/stats';
import { VERSION } from '../../agent/version';
import { DIRECTIONS } from '../../agent/types';
import { LABELS, METRICS, OUTPUTS, HISTOGRAM_LABELS, type RESET_LABELS } from '../../agent/contract';

type ConnectionLabel = typeof LABELS.direction | typeof LABELS.tls;
import { threadCounts } from './threads';
import { connectionCounts } from './quiet';
import type { Schema } from './family-validate';
import { foldedPeers, ownTotals, sampleTotals, type SampleTotals } from './tallies';
import type { HistogramTotals } from './totals';

export { connectionCounts };

/** resetwatch's own registry, for apps that serve their own /metrics. */
export const registry = new Registry();

/** The metrics made from reset samples: this process's own, and each family replica's (./replica.ts). */
export interface SampleMetrics {
  resets: CounterType<(typeof RESET_LABELS)[number]>;
  receivedBytes: Histogram<(typeof HISTOGRAM_LABELS)[number]>;
  sentBytes: Histogram<(typeof HISTOGRAM_LABELS)[number]>;
  age: Histogram<(typeof HISTOGRAM_LABELS)[number]>;
  idle: Histogram<(typeof HISTOGRAM_LABELS)[number]>;
  /** Their values, counted per reset (./record.ts observe()) and handed to them when collected (./totals.ts). */
  totals: SampleTotals;
}

export { foldedPeers, histogramLabels, type SampleTotals } from './tallies';

/** The prom-client metrics of a SampleMetrics (what a registry registers). */
export function sampleMetricList(m: SampleMetrics): [CounterType<string>, ...Histogram<string>[]] {
  return [m.resets, m.receivedBytes, m.sentBytes, m.age, m.idle];
}

/** A fresh, unregistered set of the sample metrics, serving `totals`. */
export function sampleMetrics(totals: SampleTotals = sampleTotals()): SampleMetrics {
  return {
    resets: new Counter({
      name: METRICS.resets.name,
      help: METRICS.resets.help,
      labelNames: METRICS.resets.labels,
      // prom-client refuses exemplars on a text-format registry at construction; they are only ever
      // rendered in OpenMetrics (exporters/prometheus/render.ts), so register by hand. An app that
      // renders `registry` itself in the text format simply gets no exemplars.
      registers: [],
      enableExemplars: true,
      collect: totals.resets.collector(),
    }),
    receivedBytes: histogram(METRICS.receivedBytes, totals.receivedBytes),
    sentBytes: histogram(METRICS.sentBytes, totals.sentBytes),
    age: histogram(METRICS.connectionAge, totals.age),
    idle: histogram(METRICS.idleBeforeReuse, totals.idle),
    totals,
  };
}

type Spec = { name: string; help: string; buckets: readonly number[] };

function histogram(spec: Spec, totals: HistogramTotals): Histogram<(typeof HISTOGRAM_LABELS)[number]> {
  return new Histogram({
    name: spec.name,
    help: spec.help,
    labelNames: HISTOGRAM_LABELS,
    buckets: [...spec.buckets],
    registers: [],
    collect: totals.collector(),
  });
}

/** This process's own sample metrics, on `registry`. */
export const own = sampleMetrics(ownTotals);
registry.registerMetric(own.resets);

/** An unregistered connections counter; `collect` fills it at collection time. */
export function connectionsCounter(collect?: () => void): CounterType<ConnectionLabel> {
  return new Counter({
    name: METRICS.connections.name,
    help: METRICS.connections.help,
    labelNames: METRICS.connections.labels,
    registers: [],
    collect,
  });
}

registry.registerMetric(
  connectionsCounter(function (this: CounterType<ConnectionLabel>) {
    this.reset();
    const counts = connectionCounts();
    for (const direction of DIRECTIONS) {
      this.inc({ [LABELS.direction]: direction, [LABELS.tls]: 'true' }, counts[direction].tls);
      this.inc({ [LABELS.direction]: direction, [LABELS.tls]: 'false' }, counts[direction].plain);
    }
  }),
);

for (const h of [own.receivedBytes, own.sentBytes, own.age, own.idle]) registry.registerMetric(h);

new Gauge({
  name: METRICS.info.name,
  help: METRICS.info.help,
  labelNames: METRICS.info.labels,
  registers: [registry],
  aggregator: 'max',
  collect() {
    this.reset();
    this.set({ version: VERSION, node_version: process.version }, 1);
  },
});

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
      this.inc({ [LABELS.exporter]: name }, (stats.dropped[name] ?? 0) + (threadCounts.dropped[name] ?? 0));
    }
  },
});

new Counter({
  name: METRICS.peersFolded.name,
  help: METRICS.peersFolded.help,
  registers: [registry],
  collect() {
    this.reset();
    this.inc(foldedPeers.count);
  },
});

/**
 * The registry's metrics as registered here. Each reads its value at collection time from the
 * agent's own counters (the reset totals, ../../agent/stats.ts, `foldedPeers`) or is a constant:
 * an app's `registry.resetMetrics()` changes nothing that is served, and what is served changes
 * only with those counters (./unchanged.ts).
 */
export const ownMetrics: readonly unknown[] = registry.getMetricsAsArray().slice();

/** resetwatch's own metrics as this registry defines them: what a family member's state may hold (./family-validate.ts). */
export function schema(): Schema {
  const out: Schema = new Map();
  for (const m of registry.getMetricsAsArray()) {
    const { name, labelNames, aggregator } = m as unknown as { name: string; labelNames?: string[]; aggregator?: string };
    const type = m instanceof Histogram ? 'histogram' : m instanceof Gauge ? 'gauge' : 'counter';
    const labels = new Set(labelNames ?? []);
    if (type === 'histogram') labels.add('le');
    const def = { type, labels, aggregator: aggregator ?? 'sum' } as const;
    out.set(name, def);
    if (type === 'counter' && !name.endsWith('_total')) out.set(`${name}_total`, def);
  }
  return out;
}
