// The public contract of resetwatch's metrics, in one place: names, help texts, units, buckets,
// label names and values, the fold value and the defaults. The Prometheus and OpenTelemetry outputs
// build their instruments from it, the dashboards and alerts generator writes its queries against
// it, and test/contract.test.mjs checks the served metrics and the docs against it — so renaming a
// metric is one line here, and whatever still uses the old name fails the build or the tests.
import { DIRECTIONS, ERROR_TYPES, PHASES } from './types';

/**
 * The `server.address` / `client.address` value that collects peers beyond RESETWATCH_MAX_PEERS:
 * the semantic conventions' own fold value (`http.request.method` uses it for unknown methods).
 */
export const FOLDED_PEER = '_OTHER';

/** Default metrics endpoint (agent/config.ts DEFAULTS). */
export const DEFAULT_PORT = 9465;

/** Default RESETWATCH_MAX_PEERS: distinct peers per output before folding into FOLDED_PEER. */
export const DEFAULT_MAX_PEERS = 100;

/** The outputs by name, in start order: the `resetwatch_exporter` label values of the dropped-events counter. */
export const OUTPUTS = ['log', 'prometheus', 'otel'] as const;
export type OutputName = (typeof OUTPUTS)[number];

/**
 * Buckets (docs/prometheus.md "Buckets"), shared by both metric outputs. Bytes: 0 separates resets
 * before any data; then decades up to 1 GB. Age: connect-time failures (ms) up to long-lived
 * connections cut by NAT/LB idle timers (350 s, 900 s, 1 h). Idle before reuse: an edge at each
 * common server keep-alive timeout (2 s, Apache 5 s, Node 5 s + its 1 s buffer = 6 s, AWS ALB 60 s,
 * nginx 75 s) and one a little above it, because the race lives just above the timeout (a trial
 * behind nginx's 2 s: 2.004–2.038 s). With only the next round edge above it (2 → 4 s),
 * histogram_quantile interpolates to that bucket's middle (p50 3.0 s); 0.5 s above (2 s above the
 * minute-range ones) keeps the quantiles that close to the timeout, for five more series per label set.
 */
export const BUCKETS = {
  bytes: [0, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000],
  age: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600],
  idle: [0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 4, 5, 5.5, 6, 6.5, 10, 15, 30, 55, 60, 62, 65, 75, 77, 90, 120, 300, 600],
};

/**
 * The OpenTelemetry attribute keys on the metrics (docs/attributes.md): semantic conventions where
 * one fits, ours under `resetwatch.*`.
 */
export const METRIC_ATTRIBUTES = {
  direction: 'resetwatch.direction',
  phase: 'resetwatch.phase',
  errorType: 'error.type',
  protocol: 'resetwatch.protocol',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  clientAddress: 'client.address',
  tlsEstablished: 'tls.established',
  tls: 'resetwatch.tls',
  exporter: 'resetwatch.exporter',
} as const;

/**
 * The OTLP→Prometheus translation of an attribute key (every character outside [a-zA-Z0-9_]
 * becomes `_`): what a Collector, Prometheus' OTLP receiver and @opentelemetry/exporter-prometheus
 * write. The Prometheus output labels with exactly these names, so one set of dashboards and
 * alerts reads both paths.
 */
export function promLabel(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_').replace(/__+/g, '_');
}

/** The Prometheus label names: LABELS[k] === promLabel(METRIC_ATTRIBUTES[k]) (test/contract.test.mjs). */
export const LABELS = {
  direction: 'resetwatch_direction',
  phase: 'resetwatch_phase',
  errorType: 'error_type',
  protocol: 'resetwatch_protocol',
  serverAddress: 'server_address',
  serverPort: 'server_port',
  clientAddress: 'client_address',
  tlsEstablished: 'tls_established',
  tls: 'resetwatch_tls',
  exporter: 'resetwatch_exporter',
} as const satisfies Record<keyof typeof METRIC_ATTRIBUTES, string>;

/**
 * Label names of the reset counter and of the reset histograms. The peer is `server_address` +
 * `server_port` (client resets: what this process dialled) or `client_address` (server resets,
 * RESETWATCH_SERVER_PEERS); a series carries only the ones that apply.
 */
export const RESET_LABELS = [
  LABELS.direction,
  LABELS.phase,
  LABELS.errorType,
  LABELS.protocol,
  LABELS.serverAddress,
  LABELS.serverPort,
  LABELS.clientAddress,
  LABELS.tlsEstablished,
] as const;
export const HISTOGRAM_LABELS = [LABELS.direction, LABELS.phase] as const;

/** Label values, straight from the agent's own types. */
export const LABEL_VALUES = { [LABELS.direction]: DIRECTIONS, [LABELS.phase]: PHASES, [LABELS.errorType]: ERROR_TYPES } as const;

/** `resetwatch.protocol` when the event names none. */
export const UNKNOWN_PROTOCOL = 'unknown';

/**
 * One metric: its Prometheus family and its OpenTelemetry instrument (docs/opentelemetry.md has the
 * mapping). Instrument names carry their unit's Prometheus word (`_bytes`, `_seconds`): the
 * Collector and Prometheus add it only when missing, @opentelemetry/exporter-prometheus never, so
 * with it in the name every translator yields the `name` below (test/dashboards-otlp.test.mjs).
 */
export interface MetricSpec {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
  /** The OpenTelemetry instrument; absent for metrics only Prometheus has. */
  otel?: { name: string; unit: string; description: string };
}

export const METRICS = {
  resets: {
    name: 'resetwatch_resets_total',
    type: 'counter',
    labels: RESET_LABELS,
    help: 'Connection resets seen by resetwatch, one per reset event.',
    otel: { name: 'resetwatch.resets', unit: '{reset}', description: 'Connection resets seen by resetwatch.' },
  },
  connections: {
    name: 'resetwatch_connections_total',
    type: 'counter',
    labels: [LABELS.direction, LABELS.tls],
    help: 'TCP connections opened (client) or accepted (server): the denominator of the reset ratio.',
    otel: { name: 'resetwatch.connections', unit: '{connection}', description: 'TCP connections opened (client) or accepted (server).' },
  },
  receivedBytes: {
    name: 'resetwatch_reset_received_bytes',
    type: 'histogram',
    labels: HISTOGRAM_LABELS,
    buckets: BUCKETS.bytes,
    help: 'Bytes received on the connection before it was reset.',
    otel: { name: 'resetwatch.reset.received_bytes', unit: 'By', description: 'Bytes the connection had received when it was reset.' },
  },
  sentBytes: {
    name: 'resetwatch_reset_sent_bytes',
    type: 'histogram',
    labels: HISTOGRAM_LABELS,
    buckets: BUCKETS.bytes,
    help: 'Bytes sent on the connection before it was reset.',
    otel: { name: 'resetwatch.reset.sent_bytes', unit: 'By', description: 'Bytes the connection had sent when it was reset.' },
  },
  connectionAge: {
    name: 'resetwatch_reset_connection_age_seconds',
    type: 'histogram',
    labels: HISTOGRAM_LABELS,
    buckets: BUCKETS.age,
    help: 'Age of the connection when it was reset, in seconds.',
    otel: { name: 'resetwatch.reset.connection_age_seconds', unit: 's', description: 'Age of the connection when it was reset.' },
  },
  idleBeforeReuse: {
    name: 'resetwatch_reset_idle_before_reuse_seconds',
    type: 'histogram',
    labels: HISTOGRAM_LABELS,
    buckets: BUCKETS.idle,
    help: 'For requests on a reused keep-alive socket that met its reset at once, before any response (the keep-alive race): how long it sat idle in the pool before the request, in seconds.',
    otel: {
      name: 'resetwatch.reset.idle_before_reuse_seconds',
      unit: 's',
      description:
        'How long a reused keep-alive socket sat idle before a request that met its reset at once, before any response (the keep-alive race).',
    },
  },
  info: {
    name: 'resetwatch_info',
    type: 'gauge',
    labels: ['version', 'node_version'],
    help: 'Always 1; labels carry the resetwatch and Node.js versions.',
    // Attributes named like the labels (the info-metric convention), so the translation matches.
    otel: { name: 'resetwatch.info', unit: '', description: 'Always 1; attributes carry the resetwatch and Node.js versions.' },
  },
  agentErrors: {
    name: 'resetwatch_agent_errors_total',
    type: 'counter',
    labels: [],
    help: "Failures inside resetwatch's own code (caught; the app was not affected).",
    otel: {
      name: 'resetwatch.agent.errors',
      unit: '{error}',
      description: "Failures inside resetwatch's own code (the app is unaffected).",
    },
  },
  dropped: {
    name: 'resetwatch_dropped_events_total',
    type: 'counter',
    labels: [LABELS.exporter],
    help: 'Reset events an exporter could not take (queue full, rate limit, failure), by exporter; otel_metrics: data points of OTLP metric exports given up.',
    otel: {
      name: 'resetwatch.dropped_events',
      unit: '{event}',
      description: 'Events an output could not take (rate limit, full queue, failed export).',
    },
  },
  peersFolded: {
    name: 'resetwatch_peers_folded_total',
    type: 'counter',
    labels: [],
    help: `Resets whose peer labels were folded into server_address/client_address="${FOLDED_PEER}" because RESETWATCH_MAX_PEERS distinct peers were already in use.`,
    otel: {
      name: 'resetwatch.peers.folded',
      unit: '{reset}',
      description: `Resets whose peer attributes were folded into "${FOLDED_PEER}" because RESETWATCH_MAX_PEERS distinct peers were already in use.`,
    },
  },
} as const satisfies Record<string, MetricSpec>;

type MetricKey = keyof typeof METRICS;

/** The Prometheus names by key, for queries (dashboards/, alerts): `M.resets` is 'resetwatch_resets_total'. */
export const M = Object.fromEntries(Object.entries(METRICS).map(([k, m]) => [k, m.name])) as {
  readonly [K in MetricKey]: (typeof METRICS)[K]['name'];
};
