// OpenTelemetry instruments: the same measurements as the Prometheus exporter, named per
// OpenTelemetry conventions (docs/opentelemetry.md has the mapping table). One set of instruments
// per MeterProvider (the app's, or our private one). Connection counts, agent errors and drops
// are observable instruments read from agent/stats.ts at collection time: no per-connection work.
import type { Attributes, Counter, Meter, MeterProvider, ObservableCounter, ObservableResult } from '@opentelemetry/api';
import { stats } from '../../agent/stats';
import type { Config } from '../../agent/config';
import type { ResetEvent } from '../../agent/types';
import { VERSION } from '../../agent/version';
import { METRICS } from '../../agent/contract';
import type { HistogramSink, LocalHistograms } from './histograms';
import { OTHER_PEER, peerOf, type PeerLimiter } from '../shared/peers';

/** One `resetwatch.resets` series, counted here and observed at collection time. */
interface ResetSeries {
  attrs: Attributes;
  n: number;
}

export interface Instruments {
  /**
   * `resetwatch.resets` (an ObservableCounter): counted in this map by a string key of the few
   * attribute values, handed to the SDK at collection — no attribute hashing per reset. Bounded:
   * direction × phase × error type × tls × RESETWATCH_MAX_PEERS peers.
   */
  resets: Map<string, ResetSeries>;
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

function create(meter: Meter, local: LocalHistograms | undefined): Instruments {
  const inst: Instruments = {
    resets: new Map(),
    received: histogram(meter, local, 'received'),
    sent: histogram(meter, local, 'sent'),
    age: histogram(meter, local, 'age'),
    idle: histogram(meter, local, 'idle'),
    folded: counter(meter, METRICS.peersFolded.otel),
  };
  const resets = observableCounter(meter, METRICS.resets.otel);
  resets.addCallback((r: ObservableResult) => {
    for (const series of inst.resets.values()) r.observe(series.n, series.attrs);
  });
  const connections = observableCounter(meter, METRICS.connections.otel);
  const errors = observableCounter(meter, METRICS.agentErrors.otel);
  const dropped = observableCounter(meter, METRICS.dropped.otel);
  connections.addCallback((r: ObservableResult) => {
    for (const direction of ['client', 'server'] as const) {
      const c = stats.connections[direction];
      r.observe(c.plain, { 'resetwatch.direction': direction, 'resetwatch.tls': false });
      r.observe(c.tls, { 'resetwatch.direction': direction, 'resetwatch.tls': true });
    }
  });
  errors.addCallback((r: ObservableResult) => r.observe(stats.agentErrors));
  dropped.addCallback((r: ObservableResult) => {
    for (const [exporter, n] of Object.entries(stats.dropped)) r.observe(n, { 'resetwatch.exporter': exporter });
  });
  return inst;
}

/**
 * Histogram attributes per (direction, phase): one frozen object reused for every reset, so the
 * SDK sanitises and hashes the same small object instead of a fresh one each time.
 */
const baseAttrs = new Map<string, Attributes>();

function baseFor(direction: string, phase: string): Attributes {
  const key = `${direction}|${phase}`;
  let a = baseAttrs.get(key);
  if (a === undefined) {
    a = Object.freeze({ 'resetwatch.direction': direction, 'resetwatch.phase': phase });
    baseAttrs.set(key, a);
  }
  return a;
}

export function record(inst: Instruments, e: ResetEvent, config: Config, peers: PeerLimiter): void {
  // The same peer key and admission as the Prometheus label (exporters/shared/peers.ts).
  const peer = peerOf(e, config.serverPeers);
  const folded = peers.label(peer) === OTHER_PEER && peer !== OTHER_PEER;
  // 's' + address[:port] (client side), 'c' + address (server side)
  let peerKey: string | undefined;
  if (e.direction === 'client') {
    if (e.serverAddress !== undefined) {
      if (folded) peerKey = `s${OTHER_PEER}`;
      else peerKey = e.serverPort !== undefined ? `s${e.serverAddress}:${e.serverPort}` : `s${e.serverAddress}`;
    }
  } else if (config.serverPeers && e.peerAddress !== undefined) {
    peerKey = folded ? `c${OTHER_PEER}` : `c${e.peerAddress}`;
  }
  if (folded) inst.folded.add(1);
  const key = `${e.direction}|${e.phase}|${e.errorType}|${e.tls}|${peerKey ?? ''}`;
  const series = inst.resets.get(key);
  if (series !== undefined) {
    series.n++;
  } else {
    const attrs: Attributes = {
      'resetwatch.direction': e.direction,
      'resetwatch.phase': e.phase,
      'error.type': e.errorType,
      'resetwatch.tls': e.tls,
    };
    if (e.direction === 'client') {
      if (e.serverAddress !== undefined) {
        if (folded) {
          attrs['server.address'] = OTHER_PEER;
        } else {
          attrs['server.address'] = e.serverAddress;
          if (e.serverPort !== undefined) attrs['server.port'] = e.serverPort;
        }
      }
    } else if (peerKey !== undefined && e.peerAddress !== undefined) {
      attrs['client.address'] = folded ? OTHER_PEER : e.peerAddress;
    }
    inst.resets.set(key, { attrs: Object.freeze(attrs), n: 1 });
  }
  const base = baseFor(e.direction, e.phase);
  inst.received.record(e.bytesReceived, base);
  inst.sent.record(e.bytesSent, base);
  inst.age.record(e.connectionAgeMs / 1000, base);
  if (e.idleBeforeReuseMs !== undefined) inst.idle.record(e.idleBeforeReuseMs / 1000, base);
}
