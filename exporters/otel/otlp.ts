// resetwatch's own OTLP/HTTP sender, used only by the private providers (otel-private.ts).
// Settings come from the standard OTEL_EXPORTER_OTLP_* variables through the OTLP exporters' own
// parser; requests are serialised with their own serialisers. Unlike the stock exporters it:
// - never keeps the process alive: its sockets and timers are unref'd, its retry waits too (the
//   stock retry timers are ref'd and hold a process up to the 10 s export timeout);
// - tries a batch again on 429, 502, 503, 504 and connection errors, within the export timeout
//   (./retries.ts; docs/opentelemetry.md "Retries of resetwatch's own exporter");
// - hands each batch back to the SDK at once and keeps at most MAX_INFLIGHT requests per signal,
//   a batch waiting for its retry included: anything beyond is dropped and counted
//   (resetwatch_dropped_events_total{resetwatch_exporter="otel"} with its spans, "otel_metrics"
//   with its data points: those are no reset events), as is a batch given up;
// - is not watched by resetwatch itself (a resetting collector must not make more resets to
//   export) and suppresses tracing, so an app's instrumentation does not trace our exports;
// - speaks HTTP/1.1 itself on net/tls sockets (./post.ts), not through node:http, whose objects
//   would slow the app's own HTTP server down for good after the first export.
import type * as http from 'node:http';
import type * as tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import { context } from '@opentelemetry/api';
import { ExportResultCode, suppressTracing, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InstrumentType, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { Poster, type Outcome } from './post';
import { isHttpUrl } from './env';
import { EXIT_RETRY_MARGIN_MS, MAX_RETRIES, MAX_TIMER_MS, retryDelayMs } from './retries';
import { countDropped } from '../../agent/stats';
import { guard } from '../../agent/guard';
import { awake } from '../../agent/awake';
import { otelDiag as diag } from '../../agent/diag';
import { setTimeout, clearTimeout, setImmediate, NodeDate } from '../../agent/timers';

export const MAX_INFLIGHT = 2;
/** How long an exit (or stop()) waits for batches in flight before it cuts their connections. */
export const FLUSH_BUDGET_MS = 1000;

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

/**
 * The `resetwatch_exporter` label a given-up batch is counted under: its spans are reset events;
 * a metrics batch's data points are not (its cumulative sums come again with the next export).
 */
const DROPPED: Record<Signal, string> = { TRACES: 'otel', METRICS: 'otel_metrics' };
export type Protocol = 'http/protobuf' | 'http/json';

export class OtlpSender {
  readonly url: string;
  /** The label this signal's losses are counted under (DROPPED). */
  readonly dropped: string;
  private readonly settings: HttpSettings;
  private poster: Poster | undefined;
  private readonly inflight = new Set<Promise<void>>();
  /**
   * The batches holding one of the MAX_INFLIGHT slots: one given up frees its slot at once, not
   * microtasks later when its promise settles (the exit flush's last batch is sent in that tick).
   */
  private active = 0;
  private failedOnce = false;
  /** The line saying export works again after the failure line was written (once, as that one). */
  private recoveredOnce = false;
  /** Bumped by cut(): a batch sent before gives up instead of trying again. */
  private generation = 0;
  /**
   * The retry waits in progress: when each ends, and whether the collector answered (a status) or
   * the connection failed. cut() and finishBy() end them early.
   */
  private readonly waits = new Map<() => void, { ends: number; answered: boolean }>();
  /** Set by finishBy() for one exit flush or stop(), cleared by endFinish(): no retry past this. */
  private retryUntil = Number.POSITIVE_INFINITY;

  constructor(
    signal: Signal,
    readonly protocol: Protocol,
  ) {
    const { convertLegacyHttpOptions } =
      require('@opentelemetry/otlp-exporter-base/node-http') as typeof import('@opentelemetry/otlp-exporter-base/node-http');
    this.dropped = DROPPED[signal];
    const contentType = protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
    this.settings = convertLegacyHttpOptions({}, signal, signal === 'TRACES' ? 'v1/traces' : 'v1/metrics', { 'Content-Type': contentType });
    // Another scheme (ftp://…) would be spoken to as http: the default instead, as ./env.ts says.
    this.url = isHttpUrl(this.settings.url)
      ? this.settings.url
      : `http://localhost:4318/${signal === 'TRACES' ? 'v1/traces' : 'v1/metrics'}`;
  }

  private async getPoster(): Promise<Poster> {
    if (this.poster === undefined) {
      const url = new URL(this.url);
      let tlsOptions: tls.ConnectionOptions | undefined;
      if (url.protocol === 'https:') {
        // The stock agent carries the TLS settings read from the environment; we only take those.
        // (Only for https: making the stock agent loads node:https, and with it node:http.)
        const template = await this.settings.agentFactory(url.protocol);
        const { ca, cert, key } = (template as { options?: tls.ConnectionOptions }).options ?? {};
        template.destroy();
        tlsOptions = { ca, cert, key };
      }
      this.poster ??= new Poster(url, tlsOptions, MAX_INFLIGHT);
    }
    return this.poster;
  }

  /** Sends one request without waiting for it. `items` is what a drop loses (spans / points). */
  send(body: Uint8Array | undefined, items: number): void {
    if (body === undefined || body.length === 0) return;
    if (this.active >= MAX_INFLIGHT) {
      countDropped(this.dropped, items);
      return;
    }
    this.active++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.active--;
    };
    const p = context.with(suppressTracing(context.active()), () => this.post(body, items, release));
    this.inflight.add(p);
    void p.finally(() => {
      release();
      this.inflight.delete(p);
    });
  }

  /** Batches not yet delivered or given up (a retry wait included). */
  pending(): boolean {
    return this.inflight.size > 0;
  }

  /**
   * Resolves when every batch in flight has been delivered or given up: each is bounded by the
   * OTLP timeout, its retries included, and by cut() (exit and stop() cut at FLUSH_BUDGET_MS).
   */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /**
   * Gives up the batches in flight: their connections are destroyed and their retry waits ended
   * (exit, stop). A batch whose 2xx status had already arrived counts as delivered. Later sends
   * work as before.
   */
  cut(): void {
    this.generation++;
    for (const wake of [...this.waits.keys()]) wake();
    this.poster?.destroy();
  }

  /**
   * The process is on its way out by `deadline` (exit flush, stop()). Until endFinish(), only a
   * collector's answer (429, 503...) whose retry is due EXIT_RETRY_MARGIN_MS before then is tried
   * again; a connection failure (refused, unreachable, reset) is given up at once, as is a wait
   * that cannot end in time: a short CLI without a collector exits as fast as without retries,
   * and a collector answering 503 does not hold the exit for the whole budget.
   */
  finishBy(deadline: number): void {
    this.retryUntil = Math.min(this.retryUntil, deadline);
    for (const [wake, w] of [...this.waits]) if (!w.answered || w.ends > deadline - EXIT_RETRY_MARGIN_MS) wake();
  }

  /** The exit flush (or stop()) is over: batches sent later get their full retries again. */
  endFinish(): void {
    this.retryUntil = Number.POSITIVE_INFINITY;
  }

  /** An unref'd wait; false when cut() or finishBy() ended it (its batch's slot freed at once). */
  private wait(ms: number, answered: boolean, release: () => void): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waits.delete(wake);
        release();
        resolve(false);
      };
      const timer = setTimeout(
        () => {
          this.waits.delete(wake);
          resolve(true);
        },
        Math.min(ms, MAX_TIMER_MS),
      );
      timer.unref();
      this.waits.set(wake, { ends: NodeDate.now() + ms, answered });
    });
  }

  /**
   * The first attempt and its retries, all within OTEL_EXPORTER_OTLP_TIMEOUT from the first:
   * undefined once delivered, else the last failure and how many attempts it took.
   */
  private async attempts(
    poster: Poster,
    headers: Record<string, string>,
    payload: Uint8Array,
    generation: number,
    release: () => void,
  ): Promise<string | undefined> {
    const first = NodeDate.now();
    const deadline = first + this.settings.timeoutMillis;
    let outcome: Outcome = { failure: 'not sent', retryable: false };
    let tries = 0;
    let why: string | undefined;
    for (;;) {
      // Cut while this batch waited (for its headers, the TLS settings, a retry): no new connection
      // is opened after exit or stop().
      if (generation !== this.generation) {
        why = 'cut at exit or stop';
        break;
      }
      tries++;
      outcome = await poster.exchange(headers, payload, Math.max(1, deadline - NodeDate.now()));
      if (outcome.failure === undefined) return undefined;
      if (!outcome.retryable) break;
      if (generation !== this.generation) {
        why = 'cut at exit or stop';
        break;
      }
      if (tries > MAX_RETRIES) break;
      const delay = retryDelayMs(tries, outcome.retryAfter, NodeDate.now());
      // Never beyond the export timeout: a wait that ends past it would find no time to send in.
      if (NodeDate.now() + delay >= deadline) {
        why = `next attempt would be past the ${this.settings.timeoutMillis} ms export timeout`;
        break;
      }
      const answered = outcome.status !== undefined;
      const finishing = this.retryUntil !== Number.POSITIVE_INFINITY;
      if (finishing && (!answered || NodeDate.now() + delay > this.retryUntil - EXIT_RETRY_MARGIN_MS)) {
        why = 'cut at exit or stop';
        break;
      }
      if (!(await this.wait(delay, answered, release))) {
        why = 'cut at exit or stop';
        break;
      }
    }
    const attempts = tries === 0 ? 'no attempt' : tries === 1 ? '1 attempt' : `${tries} attempts in ${NodeDate.now() - first} ms`;
    return `${outcome.failure}; ${attempts}${why === undefined ? '' : `, ${why}`}`;
  }

  private async post(body: Uint8Array, items: number, release: () => void): Promise<void> {
    let failure: string | undefined;
    const generation = this.generation;
    try {
      const headers = { ...(await this.settings.headers()) };
      let payload: Uint8Array = body;
      if (this.settings.compression === 'gzip') {
        payload = gzipSync(body);
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(payload.length);
      headers['User-Agent'] = 'resetwatch';
      const poster = await this.getPoster();
      failure = await this.attempts(poster, headers, payload, generation, release);
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    if (failure === undefined && this.failedOnce && !this.recoveredOnce) {
      this.recoveredOnce = true;
      diag(
        'warn',
        `OpenTelemetry export to ${this.url} works again (what failed meanwhile is counted in resetwatch_dropped_events_total{resetwatch_exporter="${this.dropped}"})`,
      );
    }
    if (failure !== undefined) {
      countDropped(this.dropped, items);
      if (!this.failedOnce) {
        this.failedOnce = true;
        diag(
          'warn',
          `OpenTelemetry export to ${this.url} failed (${failure}); further failures are only counted in resetwatch_dropped_events_total{resetwatch_exporter="${this.dropped}"}`,
        );
      } else {
        diag('debug', `OpenTelemetry export to ${this.url} failed again (${failure})`); // OTEL_LOG_LEVEL=debug
      }
    }
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

/**
 * Spans serialised per turn of the event loop (http/protobuf). The SDK's serialiser takes a batch
 * in one synchronous call: 500 spans (5 s of a storm at the span rate's 100/s) held the app's loop
 * 12–20 ms, and at 10,000 resets/s that one task backed the storm up into the 20–90 ms event-loop
 * delays of the bench's Bo (docs/benchmarks.md "The 10,000/s storm's event-loop delay"). In slices
 * each task is ~1–2 ms. Serialised OTLP messages concatenate into one message whose repeated
 * fields are the parts' together, so the request is still one POST: one ResourceSpans per slice,
 * the resource and scope written again in each (~0.9 KB per slice: 500 spans 418 → 425 KB).
 * CPU: the same within noise (500 spans warm, in one go or in slices: 5.7–6.8 ms either way).
 */
export const SPANS_PER_SLICE = 64;

export class OtlpSpanExporter implements SpanExporter {
  readonly sender: OtlpSender;
  private readonly serializer: Serializer<ReadableSpan[]>;
  /** JSON documents do not concatenate: a JSON batch is serialised in one go. */
  private readonly sliced: boolean;
  constructor(protocol: Protocol) {
    this.sender = new OtlpSender('TRACES', protocol);
    this.serializer = serializers(protocol).traces;
    this.sliced = protocol === 'http/protobuf';
  }
  /**
   * The SDK waits for `done` before it exports the next batch and when it flushes (exit, stop()),
   * so `done` comes once the whole batch has been handed to the sender.
   */
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    if (!this.sliced || spans.length <= SPANS_PER_SLICE) {
      try {
        this.sender.send(this.serializer.serializeRequest(spans), spans.length);
      } catch {
        countDropped('otel', spans.length);
      }
      done(OK);
      return;
    }
    const parts: Uint8Array[] = [];
    let next = 0;
    /** One slice; true while slices are left. Outside guard() it would throw into the app's loop. */
    const step = (): boolean => {
      const part = this.serializer.serializeRequest(spans.slice(next, next + SPANS_PER_SLICE));
      if (part === undefined) throw new Error('not serialised');
      parts.push(part);
      next += SPANS_PER_SLICE;
      if (next < spans.length) return true;
      this.sender.send(Buffer.concat(parts), spans.length);
      return false;
    };
    // `done` whatever happens to a slice (guard() returns undefined for a failure, an injected one
    // included): the SDK's export timeout, a ref'd 30 s timer, waits for it, and so would the exit.
    const slice = (): void => {
      const more = guard('otel.exportSlice', step);
      if (more === true) {
        setImmediate(slice);
        return;
      }
      if (more === undefined) countDropped('otel', spans.length);
      done(OK);
    };
    slice();
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
      countDropped(this.sender.dropped, points);
    }
    done(OK);
    awake(); // the reader's timer woke the process: the agent's due chores run now (agent/awake.ts)
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
