// OpenTelemetry instruments: the same measurements as the Prometheus exporter, named per
// OpenTelemetry conventions (docs/opentelemetry.md has the mapping table). One set of instruments
// per MeterProvider (the app's, or our private one). Connection counts, agent errors and drops
// are observable instruments read from agent/stats.ts at collection time: no per-connection work.
import type { Attributes, Counter, Meter, MeterProvider, ObservableCounter, ObservableResult } from '@opentelemetry/api';
import { readConnections, stats } from '../../agent/stats';
import type { Config } from '../../agent/config';
import type { Direction, Phase, ResetEvent } from '../../agent/types';
import { VERSION } from '../../agent/version';
import { METRIC_ATTRIBUTES as A, METRICS, OUTPUTS } from '../../agent/contract';
import { protocolOf, tlsEstablished } from '../shared/attributes';
import type { HistogramSink, LocalHistograms } from './histograms';
import { OTHER_PEER, peerOf, peerParts, type PeerLimiter } from '../shared/peers';
import { SeriesIndex } from '../shared/series-index';
import { phaseLabels } from '../shared/phase-labels';
import { racedOnReuse } from '../../agent/hints';

/** One `resetwatch.resets` series, counted here and observed at collection time. */
interface ResetSeries {
  attrs: Attributes;
  n: number;
}

export interface Instruments {
  /**
   * `resetwatch.resets` (an ObservableCounter): counted here, found by the attribute values
   * themselves (../shared/series-index.ts: no key string per reset), handed to the SDK at
   * collection — no attribute hashing per reset. First seen first. Bounded: direction × phase ×
   * error type × protocol × tls × RESETWATCH_MAX_PEERS peers.
   */
  resets: ResetSeries[];
  resetIndex: SeriesIndex<ResetSeries>;
  /** SDK histograms on the app's provider; on our private one, aggregated here (otel-histograms.ts). */
  received: HistogramSink;
  sent: HistogramSink;
  age: HistogramSink;
  idle: HistogramSink;
  folded: Counter;
}

const byProvider = new WeakMap<object, Instruments>();

/**
 * The instruments on `provider`, created (with the observable ones) the first time it is seen.
 * `local`: the provider is our private one, whose reader takes these histograms at collection.
 */
export function instrumentsFor(provider: MeterProvider, local?: LocalHistograms): Instruments {
  let inst = byProvider.get(provider);
  if (inst === undefined) {
    inst = create(provider.getMeter('resetwatch', VERSION), local);
    byProvider.set(provider, inst);
  }
  return inst;
}

const HISTOGRAMS = {
  received: METRICS.receivedBytes,
  sent: METRICS.sentBytes,
  age: METRICS.connectionAge,
  idle: METRICS.idleBeforeReuse,
};

function histogram(meter: Meter, local: LocalHistograms | undefined, which: keyof typeof HISTOGRAMS): HistogramSink {
  const {
    otel: { name, unit, description },
    buckets: boundaries,
  } = HISTOGRAMS[which];
  if (local !== undefined) return local.create(name, { unit, description, boundaries });
  return meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: [...boundaries] } });
}

type OtelSpec = { name: string; unit: string; description: string };

function counter(meter: Meter, { name, unit, description }: OtelSpec): Counter {
  return meter.createCounter(name, { unit, description });
}

function observableCounter(meter: Meter, { name, unit, description }: OtelSpec): ObservableCounter {
  return meter.createObservableCounter(name, { unit, description });
}

/**
 * Histogram attributes per (direction, phase), one frozen object each (../shared/phase-labels.ts):
 * the SDK sanitises and hashes the same small object instead of a fresh one each time.
 */
const baseFor = phaseLabels(A.direction, A.phase) as (direction: Direction, phase: Phase) => Attributes;

function create(meter: Meter, local: LocalHistograms | undefined): Instruments {
  const inst: Instruments = {
    resets: [],
    resetIndex: new SeriesIndex(),
    received: histogram(meter, local, 'received'),
    sent: histogram(meter, local, 'sent'),
    age: histogram(meter, local, 'age'),
    idle: histogram(meter, local, 'idle'),
    folded: counter(meter, METRICS.peersFolded.otel),
  };
  // As on /metrics (exporters/prometheus/metrics.ts): the keep-alive race histogram's two client
  // series from the start, at 0, so that a backend's increase() counts the first burst.
  for (const phase of ['request', 'response'] as const) inst.idle.seed?.(baseFor('client', phase));
  const resets = observableCounter(meter, METRICS.resets.otel);
  resets.addCallback((r: ObservableResult) => {
    for (const series of inst.resets) r.observe(series.n, series.attrs);
  });
  const connections = observableCounter(meter, METRICS.connections.otel);
  const errors = observableCounter(meter, METRICS.agentErrors.otel);
  const dropped = observableCounter(meter, METRICS.dropped.otel);
  connections.addCallback((r: ObservableResult) => {
    const own = readConnections();
    for (const direction of ['client', 'server'] as const) {
      const c = own[direction];
      r.observe(c.plain, { [A.direction]: direction, [A.tls]: false });
      r.observe(c.tls, { [A.direction]: direction, [A.tls]: true });
    }
  });
  errors.addCallback((r: ObservableResult) => r.observe(stats.agentErrors));
  // Every output has a series (0 until it drops), as on /metrics.
  dropped.addCallback((r: ObservableResult) => {
    for (const exporter of new Set<string>([...OUTPUTS, ...Object.keys(stats.dropped)])) {
      r.observe(stats.dropped[exporter] ?? 0, { [A.exporter]: exporter });
    }
  });
  const info = meter.createObservableGauge(METRICS.info.otel.name, {
    unit: METRICS.info.otel.unit,
    description: METRICS.info.otel.description,
  });
  info.addCallback((r: ObservableResult) => r.observe(1, { version: VERSION, node_version: process.version }));
  inst.folded.add(0); // a 0 series from the start, as on /metrics
  return inst;
}

export function record(inst: Instruments, e: ResetEvent, config: Config, peers: PeerLimiter): void {
  // The same peer key, admission and split as the Prometheus labels (exporters/shared/peers.ts).
  const raw = peerOf(e, config.serverPeers);
  const peer = peers.label(raw);
  if (peer === OTHER_PEER && raw !== OTHER_PEER) inst.folded.add(1);
  const protocol = protocolOf(e);
  const tls = tlsEstablished(e);
  const series = inst.resetIndex.get(e.direction, e.phase, e.errorType, protocol, tls, peer);
  if (series !== undefined) {
    series.n++;
  } else {
    const attrs: Attributes = {
      [A.direction]: e.direction,
      [A.phase]: e.phase,
      [A.errorType]: e.errorType,
      [A.protocol]: protocol,
      [A.tlsEstablished]: tls,
    };
    const p = peerParts(e.direction, peer);
    if (p?.serverAddress !== undefined) attrs[A.serverAddress] = p.serverAddress;
    // An integer, as the conventions type server.port; translated, it is the same label value.
    if (p?.serverPort !== undefined) attrs[A.serverPort] = Number(p.serverPort);
    if (p?.clientAddress !== undefined) attrs[A.clientAddress] = p.clientAddress;
    const added = { attrs: Object.freeze(attrs), n: 1 };
    inst.resets.push(added);
    inst.resetIndex.set(e.direction, e.phase, e.errorType, protocol, tls, peer, added);
  }
  const base = baseFor(e.direction, e.phase);
  inst.received.record(e.bytesReceived, base);
  inst.sent.record(e.bytesSent, base);
  inst.age.record(e.connectionAgeMs / 1000, base);
  if (racedOnReuse(e)) inst.idle.record((e.idleBeforeReuseMs as number) / 1000, base);
}
