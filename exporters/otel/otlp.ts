// resetwatch's own OTLP/HTTP sender, used only by the private providers (otel-private.ts).
// Settings come from the standard OTEL_EXPORTER_OTLP_* variables through the OTLP exporters' own
// parser; requests are serialised with their own serialisers. Unlike the stock exporters it:
// - never keeps the process alive: its sockets and timers are unref'd and it never waits between
//   retries (the stock retry timers are ref'd and hold a process up to the 10 s export timeout);
// - hands each batch back to the SDK at once and keeps at most MAX_INFLIGHT requests per signal:
//   anything beyond is dropped and counted (resetwatch_dropped_events_total{resetwatch_exporter="otel"});
// - is not watched by resetwatch itself (a resetting collector must not make more resets to
//   export) and suppresses tracing, so an app's http instrumentation does not trace our exports.
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import { context } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InstrumentType, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { disown } from '../../agent/sockets';
import { countDropped } from '../../agent/stats';
import { otelDiag as diag } from '../../agent/diag';

export const MAX_INFLIGHT = 2;

interface Serializer<T> {
  serializeRequest(request: T): Uint8Array | undefined;
}
interface HttpSettings {
  url: string;
  headers: () => Promise<Record<string, string>>;
  compression: 'gzip' | 'none';
  timeoutMillis: number;
  agentFactory: (protocol: string) => http.Agent | Promise<http.Agent>;
}

export type Signal = 'TRACES' | 'METRICS';
export type Protocol = 'http/protobuf' | 'http/json';

/**
 * A keep-alive agent whose sockets are unref'd and not watched by resetwatch. `tlsOptions` (ca,
 * cert, key from OTEL_EXPORTER_OTLP_CERTIFICATE and friends) come from the stock configuration.
 */
function quietAgent(secure: boolean, tlsOptions: tls.ConnectionOptions): http.Agent {
  const Base = secure ? https.Agent : http.Agent;
  const agent = new Base({ keepAlive: true, maxSockets: MAX_INFLIGHT, ...(secure ? tlsOptions : {}) });
  const internals = agent as unknown as {
    createConnection(options: net.TcpNetConnectOpts & tls.ConnectionOptions): net.Socket;
    reuseSocket(socket: net.Socket, req: http.ClientRequest): void;
  };
  internals.createConnection = (options) => {
    const raw = new net.Socket();
    disown(raw); // resetwatch's client hook skips it
    raw.unref();
    raw.connect({ host: options.host, port: options.port } as net.TcpNetConnectOpts);
    if (!secure) return raw;
    const secured = tls.connect({ ...options, socket: raw });
    secured.unref();
    return secured;
  };
  const reuse = Base.prototype as unknown as typeof internals;
  internals.reuseSocket = (socket, req) => {
    // Node's agent ref()s a pooled socket when it is reused: undo that.
    reuse.reuseSocket.call(agent, socket, req);
    socket.unref();
  };
  return agent;
}

export class OtlpSender {
  readonly url: string;
  private readonly settings: HttpSettings;
  private agent: http.Agent | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly requests = new Set<http.ClientRequest>();
  private failedOnce = false;

  constructor(
    signal: Signal,
    readonly protocol: Protocol,
  ) {
    const { convertLegacyHttpOptions } =
      require('@opentelemetry/otlp-exporter-base/node-http') as typeof import('@opentelemetry/otlp-exporter-base/node-http');
    const contentType = protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
    this.settings = convertLegacyHttpOptions({}, signal, signal === 'TRACES' ? 'v1/traces' : 'v1/metrics', { 'Content-Type': contentType });
    this.url = this.settings.url;
  }

  private async getAgent(): Promise<http.Agent> {
    if (this.agent === undefined) {
      const protocol = new URL(this.url).protocol;
      // The stock agent carries the TLS settings read from the environment; we only take those.
      const template = await this.settings.agentFactory(protocol);
      const { ca, cert, key } = (template as { options?: tls.ConnectionOptions }).options ?? {};
      template.destroy();
      this.agent ??= quietAgent(protocol === 'https:', { ca, cert, key });
    }
    return this.agent;
  }

  /** Sends one request without waiting for it. `items` is what a drop loses (spans / points). */
  send(body: Uint8Array | undefined, items: number): void {
    if (body === undefined || body.length === 0) return;
    if (this.inflight.size >= MAX_INFLIGHT) {
      countDropped('otel', items);
      return;
    }
    const p = context.with(suppressTracing(context.active()), () => this.post(body, items));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Resolves when every request in flight has finished (each is bounded by the OTLP timeout). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** Abandons requests in flight (exit, stop). */
  abort(): void {
    for (const req of this.requests) req.destroy();
    this.agent?.destroy();
  }

  private async post(body: Uint8Array, items: number): Promise<void> {
    let failure: string | undefined;
    try {
      const headers = { ...(await this.settings.headers()) };
      let payload: Uint8Array = body;
      if (this.settings.compression === 'gzip') {
        payload = gzipSync(body);
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(payload.length);
      headers['User-Agent'] = 'resetwatch';
      failure = await this.request(payload, headers, await this.getAgent());
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    if (failure !== undefined) {
      countDropped('otel', items);
      if (!this.failedOnce) {
        this.failedOnce = true;
        diag(
          'warn',
          `OpenTelemetry export to ${this.url} failed (${failure}); further failures are only counted in resetwatch_dropped_events_total{resetwatch_exporter="otel"}`,
        );
      } else {
        diag('debug', `OpenTelemetry export to ${this.url} failed again (${failure})`); // OTEL_LOG_LEVEL=debug
      }
    }
  }

  private request(payload: Uint8Array, headers: Record<string, string>, agent: http.Agent): Promise<string | undefined> {
    return new Promise((resolve) => {
      const url = new URL(this.url);
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method: 'POST', headers, agent });
      this.requests.add(req);
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer within ${this.settings.timeoutMillis} ms`)),
        this.settings.timeoutMillis,
      );
      timer.unref();
      const done = (failure: string | undefined) => {
        clearTimeout(timer);
        this.requests.delete(req);
        resolve(failure);
      };
      req.on('response', (res) => {
        res.on('error', () => {});
        res.resume();
        res.on('end', () => done(res.statusCode !== undefined && res.statusCode < 300 ? undefined : `HTTP ${res.statusCode}`));
        res.on('close', () => done(res.complete ? undefined : 'response cut short'));
      });
      req.on('error', (err) => done(err.message));
      req.on('close', () => done('connection closed'));
      req.end(payload);
    });
  }
}

function serializers(protocol: Protocol): {
  traces: Serializer<ReadableSpan[]>;
  metrics: Serializer<ResourceMetrics>;
} {
  const t = require('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer');
  return protocol === 'http/json'
    ? { traces: t.JsonTraceSerializer, metrics: t.JsonMetricsSerializer }
    : { traces: t.ProtobufTraceSerializer, metrics: t.ProtobufMetricsSerializer };
}

const OK: ExportResult = { code: ExportResultCode.SUCCESS };

export class OtlpSpanExporter implements SpanExporter {
  readonly sender: OtlpSender;
  private readonly serializer: Serializer<ReadableSpan[]>;
  constructor(protocol: Protocol) {
    this.sender = new OtlpSender('TRACES', protocol);
    this.serializer = serializers(protocol).traces;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    try {
      this.sender.send(this.serializer.serializeRequest(spans), spans.length);
    } catch {
      countDropped('otel', spans.length);
    }
    done(OK);
  }
  forceFlush(): Promise<void> {
    return this.sender.flush();
  }
  shutdown(): Promise<void> {
    return this.sender.flush();
  }
}

export type Temporality = 'cumulative' | 'delta' | 'lowmemory';

export class OtlpMetricExporter implements PushMetricExporter {
  readonly sender: OtlpSender;
  private readonly serializer: Serializer<ResourceMetrics>;
  constructor(
    protocol: Protocol,
    private readonly temporality: Temporality,
  ) {
    this.sender = new OtlpSender('METRICS', protocol);
    this.serializer = serializers(protocol).metrics;
  }
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void): void {
    const points = metrics.scopeMetrics.reduce((n, s) => n + s.metrics.reduce((m, x) => m + x.dataPoints.length, 0), 0);
    try {
      this.sender.send(this.serializer.serializeRequest(metrics), points);
    } catch {
      countDropped('otel', points);
    }
    done(OK);
  }
  // The spec's temporality preferences (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    if (this.temporality === 'cumulative') return AggregationTemporality.CUMULATIVE;
    const upDown = type === InstrumentType.UP_DOWN_COUNTER || type === InstrumentType.OBSERVABLE_UP_DOWN_COUNTER;
    if (upDown) return AggregationTemporality.CUMULATIVE;
    if (this.temporality === 'lowmemory' && type === InstrumentType.OBSERVABLE_COUNTER) return AggregationTemporality.CUMULATIVE;
    return AggregationTemporality.DELTA;
  }
  forceFlush(): Promise<void> {
    return this.sender.flush();
  }
  shutdown(): Promise<void> {
    return this.sender.flush();
  }
}
