// OpenTelemetry instruments: the same measurements as the Prometheus exporter, named per
// OpenTelemetry conventions (docs/opentelemetry.md has the mapping table). One set of instruments
// per MeterProvider (the app's, or our private one). Connection counts, agent errors and drops
// are observable instruments read from agent/stats.ts at collection time: no per-connection work.
import type { Attributes, Counter, Histogram, Meter, MeterProvider, ObservableResult } from '@opentelemetry/api';
import { stats } from '../agent/stats';
import type { Config } from '../agent/config';
import type { ResetEvent } from '../agent/types';
import { VERSION } from './otel-version';
import { BUCKETS } from './prometheus';

export const OTHER = '_other';

export interface Instruments {
  resets: Counter;
  received: Histogram;
  sent: Histogram;
  age: Histogram;
  idle: Histogram;
  folded: Counter;
}

const byProvider = new WeakMap<object, Instruments>();

/** The instruments on `provider`, created (with the observable ones) the first time it is seen. */
export function instrumentsFor(provider: MeterProvider): Instruments {
  let inst = byProvider.get(provider);
  if (inst === undefined) {
    inst = create(provider.getMeter('resetwatch', VERSION));
    byProvider.set(provider, inst);
  }
  return inst;
}

function create(meter: Meter): Instruments {
  const inst: Instruments = {
    resets: meter.createCounter('resetwatch.resets', {
      unit: '{reset}', description: 'Connection resets seen by resetwatch.',
    }),
    received: meter.createHistogram('resetwatch.reset.received.size', {
      unit: 'By', description: 'Bytes the connection had received when it was reset.',
      advice: { explicitBucketBoundaries: BUCKETS.bytes },
    }),
    sent: meter.createHistogram('resetwatch.reset.sent.size', {
      unit: 'By', description: 'Bytes the connection had sent when it was reset.',
      advice: { explicitBucketBoundaries: BUCKETS.bytes },
    }),
    age: meter.createHistogram('resetwatch.reset.connection.duration', {
      unit: 's', description: 'Age of the connection when it was reset.',
      advice: { explicitBucketBoundaries: BUCKETS.age },
    }),
    idle: meter.createHistogram('resetwatch.reset.idle_before_reuse', {
      unit: 's', description: 'How long a reused keep-alive socket sat idle before the request that met the reset.',
      advice: { explicitBucketBoundaries: BUCKETS.idle },
    }),
    folded: meter.createCounter('resetwatch.peers.folded', {
      unit: '{reset}', description: 'Resets whose peer attributes were folded into "_other" because RESETWATCH_MAX_PEERS distinct peers were already in use.',
    }),
  };
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

/** Bounds the distinct peers in metric attributes (RESETWATCH_MAX_PEERS), folding the rest. */
export class PeerLimiter {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  admit(key: string): boolean {
    if (this.seen.has(key)) return true;
    if (this.seen.size >= this.max) return false;
    this.seen.add(key);
    return true;
  }
}

export function record(inst: Instruments, e: ResetEvent, config: Config, peers: PeerLimiter): void {
  const base: Attributes = { 'resetwatch.direction': e.direction, 'resetwatch.phase': e.phase };
  const attrs: Attributes = { ...base, 'error.type': e.errorType, 'resetwatch.tls': e.tls };
  if (e.direction === 'client') {
    if (e.serverAddress !== undefined) {
      if (peers.admit(`${e.serverAddress}:${e.serverPort ?? ''}`)) {
        attrs['server.address'] = e.serverAddress;
        if (e.serverPort !== undefined) attrs['server.port'] = e.serverPort;
      } else {
        attrs['server.address'] = OTHER;
        inst.folded.add(1);
      }
    }
  } else if (config.serverPeers && e.peerAddress !== undefined) {
    if (peers.admit(e.peerAddress)) {
      attrs['client.address'] = e.peerAddress;
    } else {
      attrs['client.address'] = OTHER;
      inst.folded.add(1);
    }
  }
  inst.resets.add(1, attrs);
  inst.received.record(e.bytesReceived, base);
  inst.sent.record(e.bytesSent, base);
  inst.age.record(e.connectionAgeMs / 1000, base);
  if (e.idleBeforeReuseMs !== undefined) inst.idle.record(e.idleBeforeReuseMs / 1000, base);
}
