// Counters read by exporters at collection time. Incremented in place: no event per connection.
import type { AgentStats } from './types';

export const stats: AgentStats = {
  connections: { client: { tls: 0, plain: 0 }, server: { tls: 0, plain: 0 } },
  agentErrors: 0,
  dropped: {},
  resets: 0,
};

/** An exporter could not take an event: count it so a struggling output is visible. */
export function countDropped(exporter: string, n = 1): void {
  stats.dropped[exporter] = (stats.dropped[exporter] ?? 0) + n;
}
