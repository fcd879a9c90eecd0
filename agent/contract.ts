// The metric contract the dashboards and alerts are written against (README "Metrics"), in one place
// so that a renamed metric or label breaks the build here, not silently in Grafana.
import { DIRECTIONS, ERROR_TYPES, PHASES } from './types';

export const M = {
  resets: 'resetwatch_resets_total',
  connections: 'resetwatch_connections_total',
  receivedBytes: 'resetwatch_reset_received_bytes',
  sentBytes: 'resetwatch_reset_sent_bytes',
  connectionAge: 'resetwatch_reset_connection_age_seconds',
  idleBeforeReuse: 'resetwatch_reset_idle_before_reuse_seconds',
  info: 'resetwatch_info',
  agentErrors: 'resetwatch_agent_errors_total',
  dropped: 'resetwatch_dropped_events_total',
  peersFolded: 'resetwatch_peers_folded_total',
} as const;

/** Label values, straight from the agent's own types. */
export const LABEL_VALUES = { direction: DIRECTIONS, phase: PHASES, error_type: ERROR_TYPES } as const;

/** The peer label value that collects peers beyond RESETWATCH_MAX_PEERS. */
export const FOLDED_PEER = '_other';

/** Default metrics endpoint (agent/config.ts DEFAULTS). */
export const DEFAULT_PORT = 9465;
