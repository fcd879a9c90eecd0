// The parts of prom-client resetwatch uses, loaded without the rest of the package: its index also
// loads default metrics, Summary, Pushgateway and the cluster module, ~20 ms at every process start
// for code the agent never runs (the four parts below take ~2.5 ms). Same classes as
// `require('prom-client')` exports (its index re-exports these files), so `instanceof` holds. If a
// future prom-client hides its lib/ files, fall back to the package entry.
import type * as PromClient from 'prom-client';

type Parts = Pick<typeof PromClient, 'Registry' | 'Counter' | 'Gauge' | 'Histogram'>;

function load(): Parts {
  try {
    return {
      Registry: require('prom-client/lib/registry'),
      Counter: require('prom-client/lib/counter'),
      Gauge: require('prom-client/lib/gauge'),
      Histogram: require('prom-client/lib/histogram'),
    } as Parts;
  } catch {
    return require('prom-client') as Parts;
  }
}

const parts = load();
export const Registry = parts.Registry;
export const Counter = parts.Counter;
export const Gauge = parts.Gauge;
export const Histogram = parts.Histogram;
export type Registry = PromClient.Registry;
export type Histogram<T extends string> = PromClient.Histogram<T>;

/** prom-client's cluster aggregation, loaded only when a cluster primary sums its workers. */
export function aggregatorRegistry(): typeof PromClient.AggregatorRegistry {
  try {
    return require('prom-client/lib/cluster') as typeof PromClient.AggregatorRegistry;
  } catch {
    return (require('prom-client') as typeof PromClient).AggregatorRegistry;
  }
}
