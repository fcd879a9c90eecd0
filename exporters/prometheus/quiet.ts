// What a family member that has nothing but connection counts sends its leader (./family.ts), built
// by hand: prom-client and the metrics (./collect.ts, ~15 ms of a start) load only once the process
// has something they are needed for (a reset, a scrape, an agent error, a cluster worker, an app's
// `registry`). The message has the shape of prom-client's own (getMetricsAsJSON), holding the one
// metric that is not all zeros in a quiet process: the leader accepts it as any state (a state may
// hold a subset of the metrics: ./family-validate.ts), no protocol change.
import { DIRECTIONS } from '../../agent/types';
import { LABELS, METRICS } from '../../agent/contract';
import { builtinLoaded } from '../../agent/builtins';
import { readConnections, stats } from '../../agent/stats';
import { threadCounts } from './threads';
import type { Snapshot } from './cluster';
import type { Connections } from './family';

/** This process's connections: main thread plus what worker threads reported. */
export function connectionCounts(): Connections {
  const out = {} as Connections;
  const own = readConnections();
  for (const d of DIRECTIONS) {
    out[d] = {
      tls: own[d].tls + threadCounts.connections[d].tls,
      plain: own[d].plain + threadCounts.connections[d].plain,
    };
  }
  return out;
}

/** Nothing but connections to tell: no agent error, no drop, no cluster worker to ask. */
function quiet(): boolean {
  if (stats.agentErrors + threadCounts.agentErrors > 0) return false;
  for (const n of Object.values(stats.dropped)) if (n > 0) return false;
  for (const n of Object.values(threadCounts.dropped)) if (n > 0) return false;
  if (builtinLoaded('cluster') !== false) {
    const cluster = require('node:cluster') as typeof import('node:cluster');
    if (cluster.isPrimary && Object.keys(cluster.workers ?? {}).length > 0) return false;
  }
  return true;
}

/** The state of a quiet process (its connection counts), or undefined when it has more to tell. */
export function quietSnapshot(): Snapshot | undefined {
  if (!quiet()) return undefined;
  const counts = connectionCounts();
  const values: { value: number; labels: Record<string, string> }[] = [];
  for (const d of DIRECTIONS) {
    values.push({ value: counts[d].tls, labels: { [LABELS.direction]: d, [LABELS.tls]: 'true' } });
    values.push({ value: counts[d].plain, labels: { [LABELS.direction]: d, [LABELS.tls]: 'false' } });
  }
  const connections = { help: METRICS.connections.help, name: METRICS.connections.name, type: 'counter', values, aggregator: 'sum' };
  return { metrics: [connections as unknown as Snapshot['metrics'][number]], recent: [] };
}
