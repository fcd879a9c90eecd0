// OpenTelemetry instruments: the same measurements as the Prometheus exporter, named per
// OpenTelemetry conventions (docs/opentelemetry.md has the mapping table). One set of instruments
// per MeterProvider (the app's, or our private one). Connection counts, agent errors and drops
// are observable instruments read from agent/stats.ts at collection time: no per-connection work.
import type { Attributes, Counter, Meter, MeterProvider, ObservableResult } from '@opentelemetry/api';
import { stats } from '../../agent/stats';
import type { Config } from '../../agent/config';
import type { ResetEvent } from '../../agent/types';
import { VERSION } from './version';
import { BUCKETS } from '../prometheus';
import type { HistogramSink, LocalHistograms } from './histograms';
import { OTHER_PEER, type PeerLimiter } from '../shared/peers';


/** One `resetwatch.resets` series, counted here and observed at collection time. */
interface ResetSeries { attrs: Attributes; n: number }

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
  received: { name: 'resetwatch.reset.received.size', unit: 'By', description: 'Bytes the connection had received when it was reset.', boundaries: BUCKETS.bytes },
  sent: { name: 'resetwatch.reset.sent.size', unit: 'By', description: 'Bytes the connection had sent when it was reset.', boundaries: BUCKETS.bytes },
  age: { name: 'resetwatch.reset.connection.duration', unit: 's', description: 'Age of the connection when it was reset.', boundaries: BUCKETS.age },
  idle: { name: 'resetwatch.reset.idle_before_reuse', unit: 's', description: 'How long a reused keep-alive socket sat idle before the request that met the reset.', boundaries: BUCKETS.idle },
};

function histogram(meter: Meter, local: LocalHistograms | undefined, which: keyof typeof HISTOGRAMS): HistogramSink {
  const { name, unit, description, boundaries } = HISTOGRAMS[which];
  if (local !== undefined) return local.create(name, { unit, description, boundaries });
  return meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: [...boundaries] } });
}

function create(meter: Meter, local: LocalHistograms | undefined): Instruments {
  const inst: Instruments = {
    resets: new Map(),
    received: histogram(meter, local, 'received'),
    sent: histogram(meter, local, 'sent'),
    age: histogram(meter, local, 'age'),
    idle: histogram(meter, local, 'idle'),
    folded: meter.createCounter('resetwatch.peers.folded', {
      unit: '{reset}', description: 'Resets whose peer attributes were folded into "_other" because RESETWATCH_MAX_PEERS distinct peers were already in use.',
    }),
  };
  const resets = meter.createObservableCounter('resetwatch.resets', {
    unit: '{reset}', description: 'Connection resets seen by resetwatch.',
  });
  resets.addCallback((r: ObservableResult) => {
    for (const series of inst.resets.values()) r.observe(series.n, series.attrs);
  });
  const connections = meter.createObservableCounter('resetwatch.connections', {
    unit: '{connection}', description: 'TCP connections opened (client) or accepted (server).',
  });
  const errors = meter.createObservableCounter('resetwatch.agent.errors', {
    unit: '{error}', description: "Failures inside resetwatch's own code (the app is unaffected).",
  });
  const dropped = meter.createObservableCounter('resetwatch.dropped_events', {
    unit: '{event}', description: 'Events an output could not take (rate limit, full queue, failed export).',
  });
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
  let peerKey: string | undefined; // 's' + address[:port] (client side), 'c' + address (server side)
  let folded = false;
  if (e.direction === 'client') {
    if (e.serverAddress !== undefined) {
      if (peers.admit(`${e.serverAddress}:${e.serverPort ?? ''}`)) {
        peerKey = e.serverPort !== undefined ? `s${e.serverAddress}:${e.serverPort}` : `s${e.serverAddress}`;
      } else {
        peerKey = `s${OTHER_PEER}`;
        folded = true;
      }
    }
  } else if (config.serverPeers && e.peerAddress !== undefined) {
    if (peers.admit(e.peerAddress)) {
      peerKey = `c${e.peerAddress}`;
    } else {
      peerKey = `c${OTHER_PEER}`;
      folded = true;
    }
  }
  if (folded) inst.folded.add(1);
  const key = `${e.direction}|${e.phase}|${e.errorType}|${e.tls}|${peerKey ?? ''}`;
  const series = inst.resets.get(key);
  if (series !== undefined) {
    series.n++;
  } else {
    const attrs: Attributes = {
      'resetwatch.direction': e.direction, 'resetwatch.phase': e.phase,
      'error.type': e.errorType, 'resetwatch.tls': e.tls,
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
    } else if (peerKey !== undefined) {
      attrs['client.address'] = folded ? OTHER_PEER : e.peerAddress!;
    }
    inst.resets.set(key, { attrs: Object.freeze(attrs), n: 1 });
  }
  const base = baseFor(e.direction, e.phase);
  inst.received.record(e.bytesReceived, base);
  inst.sent.record(e.bytesSent, base);
  inst.age.record(e.connectionAgeMs / 1000, base);
  if (e.idleBeforeReuseMs !== undefined) inst.idle.record(e.idleBeforeReuseMs / 1000, base);
}
