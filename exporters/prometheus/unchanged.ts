// An idle app is scraped for the same numbers every 15 s. What a process that serves its own
// metrics alone (no family member's, no cluster worker's, no app metric on `registry`) serves is
// made of a few counts: resets recorded and settings applied (./record.ts), connections, agent
// errors and drops (agent/stats.ts, worker threads' in ./threads.ts), plus its constant labels.
// While they read as they did, the text rendered then is served again: the snapshot and render
// are a quarter to a third of a scrape's CPU in an idle process (run cold: ~2.55 → ~2.0 ms per
// scrape; ~0.1 ms/s less for an app scraped every 15 s, docs/benchmarks.md "Seventeenth pass").
import { DIRECTIONS } from '../../agent/types';
import { stats } from '../../agent/stats';
import { constantLabels } from '../shared/labels';
import { noClusterParts } from './cluster';
import { connectionCounts } from './quiet';
import { threadCounts } from './threads';
import { changes } from './record';
import { registry, ownMetrics } from './metrics';
import type { Family } from './family';

/** What the last text was rendered from. */
interface Stamp {
  key: string;
  labels: Readonly<Record<string, string>>;
}

/** This process's stamp, or undefined where what it serves is not its own alone. */
export function stampOf(family: Family | undefined): Stamp | undefined {
  if (family !== undefined && !family.lone()) return undefined;
  if (!noClusterParts()) return undefined;
  const listed = registry.getMetricsAsArray();
  if (listed.length !== ownMetrics.length || listed.some((m, i) => m !== ownMetrics[i])) return undefined;
  // Each series' own count: a connection upgraded to TLS before any read moves from one to the
  // other, leaving the sum as it was (agent/sockets.ts uncount()).
  const counts = connectionCounts();
  let connections = '';
  for (const d of DIRECTIONS) connections += `${counts[d].tls},${counts[d].plain},`;
  // Drops and agent errors only grow, so equal sums are equal counts; a new kind of drop adds a series.
  let dropped = 0;
  let kinds = 0;
  for (const n of Object.values(stats.dropped)) {
    dropped += n;
    kinds++;
  }
  for (const n of Object.values(threadCounts.dropped)) {
    dropped += n;
    kinds++;
  }
  const errors = stats.agentErrors + threadCounts.agentErrors;
  return { key: `${changes.count} ${connections} ${errors} ${dropped} ${kinds}`, labels: constantLabels() };
}

function sameStamp(a: Stamp | undefined, b: Stamp | undefined): boolean {
  return a !== undefined && b !== undefined && a.key === b.key && a.labels === b.labels;
}

/** The last text served in each format (text, OpenMetrics), with what it was made of. */
export class Rendered {
  private readonly last: [{ stamp: Stamp; text: string } | undefined, { stamp: Stamp; text: string } | undefined] = [undefined, undefined];

  /** The text served last in this format, if it was made of what `stamp` says now. */
  get(openMetrics: boolean, stamp: Stamp | undefined): string | undefined {
    const last = this.last[openMetrics ? 1 : 0];
    return last !== undefined && sameStamp(last.stamp, stamp) ? last.text : undefined;
  }

  /** Keeps `text`, rendered from what `stamp` (taken before collecting) said; none kept when undefined. */
  set(openMetrics: boolean, stamp: Stamp | undefined, text: string): void {
    if (stamp === undefined) this.last[0] = this.last[1] = undefined;
    else this.last[openMetrics ? 1 : 0] = { stamp, text };
  }
}
