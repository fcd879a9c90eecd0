// Counters read by exporters at collection time. Incremented in place: no event per connection.
import type { AgentStats } from './types';
import { nowIfStarted } from './clock';

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

/** When an output last read the connection counts (clock ms). */
let connectionsRead = -Infinity;

/**
 * The connection counts, for an output about to report them. Every reader goes through here: a
 * watch undone later (sockets.ts uncount()) takes its count back only if no reader has read the
 * counts since the socket was counted, so no output ever sees a connection counter go down.
 */
export function readConnections(): AgentStats['connections'] {
  connectionsRead = nowIfStarted();
  return stats.connections;
}

/** True when the counts may have been read since `start` (clock ms, at or before a socket was counted). */
export function countsReadSince(start: number): boolean {
  return connectionsRead >= start;
}
