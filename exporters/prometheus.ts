// Prometheus exporter (prom-client): metrics on a private Registry, served by its own endpoint
// (exporters/metrics-server.ts). Metric names and labels are a public contract: docs/prometheus.md.
//
// Who serves what:
// - with a fixed port, the processes started under the same settings (a process tree under one
//   NODE_OPTIONS) form a family: one of them binds the endpoint and serves the sum of all
//   (exporters/family.ts); with RESETWATCH_PORT=0 each process binds its own free port;
// - cluster workers never bind: the primary asks them for their metrics at scrape time and serves
//   the sum (exporters/cluster.ts);
// - worker threads never bind: they forward each reset to their process's main thread, which
//   records it as its own (exporters/prometheus-threads.ts).
import { Counter, Gauge, Histogram, Registry } from './prometheus-client';
import type { Counter as CounterType } from 'prom-client';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { onReset } from '../agent/bus';
import { stats } from '../agent/stats';
import { diag } from '../agent/diag';
import { DIRECTIONS, type ResetEvent } from '../agent/types';
import type { Config } from '../agent/config';
import { PendingRecord, Recent, toRecord, type ResetRecord } from './recent';
import { startMetricsServer } from './metrics-server';
import { isClusterWorker, answerPrimary, collectCluster, combine, sumSnapshots, type Snapshot } from './cluster';
import { joinFamily, type Connections, type Family, type Replica } from './family';
import { forwardToMainThread, receiveFromThreads, threadCounts, type Sample } from './prometheus-threads';
import { render, withTotalNames } from './prometheus-render';
import { OTHER_PEER, PeerLimiter } from './peer-limit';
import type { Schema } from './family-validate';
import type { Exporter } from './types';

/** resetwatch's own registry, for apps that serve their own /metrics. The default registry is never touched. */
export const registry = new Registry();

const RESET_LABELS = ['direction', 'phase', 'error_type', 'peer', 'tls'] as const;
const HIST_LABELS = ['direction', 'phase'] as const;
/** Longest `peer` label value: a DNS name (253) plus `:port`. */
const MAX_PEER_LENGTH = 260;

/**
 * Buckets (docs/prometheus.md "Buckets"). Bytes: 0 separates resets before any data; then decades
 * up to 1 GB. Age: connect-time failures (ms) up to long-lived connections cut by NAT/LB idle
 * timers (350 s, 900 s, 1 h). Idle before reuse: dense around the common server keep-alive timeouts
 * (Node/Apache 5 s, AWS ALB 60 s, nginx 75 s) where the keep-alive race lives.
 */
export const BUCKETS = {
  bytes: [0, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000],
  age: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600],
  idle: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5, 6, 10, 15, 30, 55, 60, 65, 75, 90, 120, 300, 600],
};

/** The metrics made from reset samples: this process's own, and each family replica's (below). */
interface SampleMetrics {
  resets: CounterType<(typeof RESET_LABELS)[number]>;
  receivedBytes: Histogram<(typeof HIST_LABELS)[number]>;
  sentBytes: Histogram<(typeof HIST_LABELS)[number]>;
  age: Histogram<(typeof HIST_LABELS)[number]>;
  idle: Histogram<(typeof HIST_LABELS)[number]>;
}

function sampleMetrics(): SampleMetrics {
  return {
    resets: new Counter({
      name: 'resetwatch_resets_total',
      help: 'Connection resets seen by resetwatch, one per reset event.',
      labelNames: RESET_LABELS,
      // prom-client refuses exemplars on a text-format registry at construction; they are only ever
      // rendered in OpenMetrics (exporters/prometheus-render.ts), so register by hand. An app that
      // renders `registry` itself in the text format simply gets no exemplars.
      registers: [],
      enableExemplars: true,
    }),
    receivedBytes: histogram('resetwatch_reset_received_bytes', 'Bytes received on the connection before it was reset.', BUCKETS.bytes),
    sentBytes: histogram('resetwatch_reset_sent_bytes', 'Bytes sent on the connection before it was reset.', BUCKETS.bytes),
    age: histogram('resetwatch_reset_connection_age_seconds', 'Age of the connection when it was reset, in seconds.', BUCKETS.age),
    idle: histogram('resetwatch_reset_idle_before_reuse_seconds',
      'For resets on a reused keep-alive socket: how long it sat idle in the pool before the request, in seconds.', BUCKETS.idle),
  };
}

const own = sampleMetrics();
registry.registerMetric(own.resets);

function connectionsCounter(collect?: () => void): CounterType<'direction' | 'tls'> {
  return new Counter({
    name: 'resetwatch_connections_total',
    help: 'TCP connections opened (client) or accepted (server): the denominator of the reset ratio.',
    labelNames: ['direction', 'tls'] as const,
    registers: [],
    collect,
  });
}

/** This process's connections: main thread plus what worker threads reported. */
function connectionCounts(): Connections {
  const out = {} as Connections;
  for (const d of DIRECTIONS) {
    out[d] = { tls: stats.connections[d].tls + threadCounts.connections[d].tls, plain: stats.connections[d].plain + threadCounts.connections[d].plain };
  }
  return out;
}

registry.registerMetric(connectionsCounter(function (this: CounterType<'direction' | 'tls'>) {
  this.reset();
  const counts = connectionCounts();
  for (const direction of DIRECTIONS) {
    this.inc({ direction, tls: 'true' }, counts[direction].tls);
    this.inc({ direction, tls: 'false' }, counts[direction].plain);
  }
}));

for (const h of [own.receivedBytes, own.sentBytes, own.age, own.idle]) registry.registerMetric(h);

const info = new Gauge({
  name: 'resetwatch_info',
  help: 'Always 1; labels carry the resetwatch and Node.js versions.',
  labelNames: ['version', 'node_version'] as const,
  registers: [registry],
  aggregator: 'max',
});
info.set({ version: packageVersion(), node_version: process.version }, 1);

new Counter({
  name: 'resetwatch_agent_errors_total',
  help: "Failures inside resetwatch's own code (caught; the app was not affected).",
  registers: [registry],
  collect() {
    this.reset();
    this.inc(stats.agentErrors + threadCounts.agentErrors);
  },
});

new Counter({
  name: 'resetwatch_dropped_events_total',
  help: 'Reset events an exporter could not take (queue full, rate limit, failure), by exporter.',
  labelNames: ['exporter'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const name of exporterNames()) {
      this.inc({ exporter: name }, (stats.dropped[name] ?? 0) + (threadCounts.dropped[name] ?? 0));
    }
  },
});

const folded = new Counter({
  name: 'resetwatch_peers_folded_total',
  help: 'Resets whose peer label was folded into peer="_other" because RESETWATCH_MAX_PEERS distinct peers were already in use.',
  registers: [registry],
});

function histogram(name: string, help: string, buckets: number[]): Histogram<(typeof HIST_LABELS)[number]> {
  return new Histogram({ name, help, labelNames: HIST_LABELS, buckets, registers: [] });
}

// ---- recording ----

let serverPeers = false;
/** The process family this process belongs to (a fixed port on Linux), if any. */
let family: Family | undefined;
const peers = new PeerLimiter(100);
let recent = new Recent(200);

/** The raw (unfolded, length-bounded) peer label of an event. */
export function peerOf(e: ResetEvent, withServerPeers: boolean): string {
  let value = '';
  if (e.direction === 'client') {
    const host = e.serverAddress ?? e.peerAddress;
    const port = e.serverAddress !== undefined ? e.serverPort : e.peerPort;
    if (host !== undefined && host !== '') {
      const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      value = port !== undefined ? `${h}:${port}` : h;
    }
  } else if (withServerPeers && e.peerAddress !== undefined) {
    value = e.peerAddress;
  }
  return bound(value);
}

function bound(value: string): string {
  let v = value.length > MAX_PEER_LENGTH ? value.slice(0, MAX_PEER_LENGTH) : value;
  const s = v as string & { toWellFormed?: () => string };
  if (typeof s.toWellFormed === 'function') v = s.toWellFormed();
  return v;
}

export function toSample(e: ResetEvent): Sample {
  const s: Sample = {
    direction: e.direction, phase: e.phase, errorType: e.errorType, tls: e.tls,
    peer: peerOf(e, serverPeers),
    bytesReceived: e.bytesReceived, bytesSent: e.bytesSent, connectionAgeMs: e.connectionAgeMs,
  };
  if (e.idleBeforeReuseMs !== undefined) s.idleBeforeReuseMs = e.idleBeforeReuseMs;
  if (e.traceId) {
    s.traceId = e.traceId;
    if (e.spanId) s.spanId = e.spanId;
  }
  return s;
}

/** Admits a peer value, or folds it into `_other` once maxPeers distinct values are in use. */
function admit(peer: string): string {
  return peer === '' || peers.admit(peer) ? peer : OTHER_PEER;
}

export function record(s: Sample, rec: ResetRecord | PendingRecord | undefined): void {
  const peer = admit(s.peer);
  if (peer === OTHER_PEER && s.peer !== OTHER_PEER) folded.inc();
  observe(own, s, peer);
  if (rec !== undefined) recent.push(rec);
  if (family !== undefined) family.recorded(s, rec);
}

function observe({ resets, receivedBytes, sentBytes, age, idle }: SampleMetrics, s: Sample, peer: string): void {
  const labels = { direction: s.direction, phase: s.phase, error_type: s.errorType, peer, tls: String(s.tls) };
  if (s.traceId) {
    const exemplarLabels: Record<string, string> = { trace_id: s.traceId };
    if (s.spanId) exemplarLabels.span_id = s.spanId;
    resets.inc({ labels, value: 1, exemplarLabels });
  } else {
    resets.inc({ labels, value: 1 }); // keeps the last exemplar of this series: a recent reset's trace
  }
  const h = { direction: s.direction, phase: s.phase };
  receivedBytes.observe(h, s.bytesReceived);
  sentBytes.observe(h, s.bytesSent);
  age.observe(h, s.connectionAgeMs / 1000);
  if (s.idleBeforeReuseMs !== undefined) idle.observe(h, s.idleBeforeReuseMs / 1000);
}

/**
 * Another family member's state as this process knows it (exporters/family.ts): its last full
 * snapshot plus the resets it streamed since, recorded into metrics of their own.
 */
class SampleReplica implements Replica {
  private base: Snapshot | undefined;
  private metrics: SampleMetrics | undefined;
  private connections: CounterType<'direction' | 'tls'> | undefined;
  private peers = new PeerLimiter(peers.max);
  private records = new Recent(recentCapacity);

  set(snapshot: Snapshot): void {
    this.base = snapshot;
    this.metrics = undefined;
    this.connections = undefined;
    this.peers = new PeerLimiter(peers.max);
    this.records = new Recent(recentCapacity);
  }

  add(s: Sample, rec: ResetRecord | undefined): void {
    this.metrics ??= sampleMetrics();
    observe(this.metrics, s, s.peer === '' || this.peers.admit(s.peer) ? s.peer : OTHER_PEER);
    if (rec !== undefined) this.records.push(rec);
  }

  addConnections(delta: Connections): void {
    this.connections ??= connectionsCounter();
    for (const direction of DIRECTIONS) {
      if (delta[direction].tls > 0) this.connections.inc({ direction, tls: 'true' }, delta[direction].tls);
      if (delta[direction].plain > 0) this.connections.inc({ direction, tls: 'false' }, delta[direction].plain);
    }
  }

  async parts(): Promise<Snapshot[]> {
    const out: Snapshot[] = this.base === undefined ? [] : [this.base];
    if (this.metrics !== undefined || this.connections !== undefined) {
      const reg = new Registry();
      for (const m of Object.values(this.metrics ?? {})) reg.registerMetric(m);
      if (this.connections !== undefined) reg.registerMetric(this.connections);
      out.push({ metrics: withTotalNames(await reg.getMetricsAsJSON()), recent: this.records.list() });
    }
    return out;
  }
}

// ---- what the endpoint serves ----

/** This process's metrics (main thread plus forwarded worker-thread resets) and recent resets. */
async function localSnapshot(): Promise<Snapshot> {
  return { metrics: withTotalNames(await registry.getMetricsAsJSON()), recent: recent.list() };
}

/** This process's own state: local, or in a cluster primary with workers the sum over all of them. */
async function ownSnapshot(): Promise<Snapshot & { workers?: { answered: number; total: number } }> {
  const local = await localSnapshot();
  return (await collectCluster(local, recentCapacity, peers.max)) ?? local;
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
    const clear = () => { inflight = undefined; };
    inflight.then(clear, clear);
  }
  return inflight;
}

let recentCapacity = 200;

export async function exposition(openMetrics: boolean): Promise<string> {
  const snap = await snapshot();
  return render(snap.metrics, openMetrics);
}

export async function recentResets(limit: number): Promise<{ events: ResetRecord[]; workers?: { answered: number; total: number }; family?: number }> {
  const snap = await snapshot();
  return { events: snap.recent.slice(0, limit), workers: snap.workers, family: snap.family };
}

// ---- lifecycle ----

export const prometheusExporter: Exporter = {
  name: 'prometheus',
  start({ config, isMainThread }) {
    configure(config);
    if (!isMainThread) {
      // Worker threads never bind: each reset goes to the main thread (exporters/prometheus-threads.ts).
      return forwardToMainThread((e) => ({ sample: toSample(e), record: recent.capacity > 0 ? toRecord(e) : undefined }));
    }
    const stops: (() => void)[] = [];
    stops.push(onReset((e) => record(toSample(e), recent.capacity > 0 ? new PendingRecord(e) : undefined)));
    stops.push(receiveFromThreads((m) => record(m.sample!, m.record)));
    const serve = (takeover = false) => startMetricsServer(config, { exposition, recentResets }, takeover);
    if (isClusterWorker()) {
      stops.push(answerPrimary(localSnapshot));
    } else if (config.port === 'off') {
      // No endpoint: metrics only in `registry`.
    } else if (config.port === 0) {
      stops.push(serve()); // each process its own free port: nothing to share
    } else {
      // A fixed port: every process started under the same settings serves through one (exporters/family.ts).
      const joined = joinFamily(config, {
        own: ownSnapshot,
        connections: connectionCounts,
        replica: () => new SampleReplica(),
        sum: (parts) => sumSnapshots(parts, recentCapacity, peers.max),
        combine: (parts) => combine(parts, recentCapacity),
        serve,
        schema,
        maxPeers: () => peers.max,
      });
      if (joined === undefined) {
        stops.push(serve());
      } else {
        family = joined;
        stops.push(() => { joined.stop(); if (family === joined) family = undefined; });
      }
    }
    return () => { while (stops.length) stops.pop()!(); };
  },
};

/** resetwatch's own metrics as this registry defines them: what a family member's state may hold. */
function schema(): Schema {
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

function configure(config: Config): void {
  peers.max = config.maxPeers;
  serverPeers = config.serverPeers;
  recentCapacity = config.recent;
  recent = new Recent(config.recent);
}

function packageVersion(): string {
  try {
    // dist/exporters/prometheus.js → package.json at the package root.
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return typeof pkg.version === 'string' ? pkg.version.slice(0, 64) : 'unknown';
  } catch {
    diag('debug', 'could not read the package version for resetwatch_info');
    return 'unknown';
  }
}

/** Every registered exporter's name, so each has a dropped-events series (0 until it drops). */
function exporterNames(): string[] {
  const names = new Set<string>([...Object.keys(stats.dropped), ...Object.keys(threadCounts.dropped)]);
  try {
    // Read at collect time: exporters/index.ts imports this module.
    const { exporters } = require('./index') as typeof import('./index');
    for (const e of exporters) names.add(e.name);
  } catch {
    names.add('prometheus');
  }
  return [...names].sort();
}

