// OpenTelemetry exporter: a span and metrics per reset, through the app's providers when it
// registered any (looked up at each event, so a NodeSDK started after the preload is used), else
// through private providers when the standard OTEL_* variables ask for export, else nowhere.
// Never registers anything globally (docs/opentelemetry.md).
import type { MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import { otelApi } from '../../agent/otel-api';
import { subscribe } from '../../agent/bus';
import { guard } from '../../agent/guard';
import { choreWithin } from '../../agent/awake';
import { countDropped } from '../../agent/stats';
import { RateLimiter } from '../shared/rate-limit';
import type { Config } from '../../agent/config';
import type { ResetEvent } from '../../agent/types';
import { toAttributes } from '../shared/attributes';
import { appMeterProvider, appTracerProvider } from './global';
import { applyLogLevel, checkSdkDisabled, exportPlan, sdkDisabled, type ExportPlan } from './env';
import { otelDiag } from '../../agent/diag';
import { instrumentsFor, record, type Instruments } from './metrics';
import { PeerLimiter } from '../shared/peers';
import { VERSION } from '../../agent/version';
import type { PrivateProviders } from './private';
import type { Exporter } from '../types';
import { SpanGroup, type SpanParts } from './span-group';

/** Span name and kind (docs/opentelemetry.md "Spans"). */
export const SPAN_NAME = 'connection reset';
export const SPAN_KIND = 0; // SpanKind.INTERNAL (the API itself is loaded at the first reset)
/**
 * When we first look for a MeterProvider without a reset having happened (for the connection
 * counts), and how often afterwards (cheap: one property read). Late enough that a short-lived
 * process never loads the SDK for nothing and an app that starts its own SDK during startup is
 * found; a reset before then decides at once.
 */
const PROVIDER_FIRST_CHECK_MS = 1000;
const PROVIDER_CHECK_MS = 5000;
/**
 * While a look finds what the last one found (no provider at all, the default; or the same one,
 * e.g. our private one with OTLP export on), the wait doubles up to this, so an idle app is not
 * woken every 5 s for it (docs/benchmarks.md); a scrape or an export that wakes the process
 * anyway takes the look from half the wait on (agent/awake.ts), so a scraped app is never woken
 * for it. A reset still looks at once; an app's late SDK gets its connection counts within a minute.
 */
const PROVIDER_CHECK_MAX_MS = 60000;

const tracers = new WeakMap<object, Tracer>();

function tracerFor(provider: TracerProvider): Tracer {
  let t = tracers.get(provider);
  if (t === undefined) {
    t = provider.getTracer('resetwatch', VERSION);
    tracers.set(provider, t);
  }
  return t;
}

/**
 * `own`: the provider is resetwatch's private one. Its sampler is one of the SDK's built-in ones
 * (OTEL_TRACES_SAMPLER), which neither read nor add attributes, so the attributes are set on the
 * started span: the SDK's startSpan copies and checks attributes passed to it twice for the sampler
 * before the span checks them again: building a span took 6.0 µs warm that way, 2.35 µs this way
 * (docs/benchmarks.md). The exported span is the same. An app's provider may have a sampler that
 * reads them: it gets them at start.
 */
export function recordSpan(provider: TracerProvider, event: ResetEvent, rootSpans: boolean, own = false): void {
  if (event.context === undefined && !rootSpans) return;
  buildSpan(provider, partsOf(event), own);
}

/** What the reset's span is made of, read at the reset (a grouped span is built later: ./span-group.ts). */
function partsOf(event: ResetEvent): SpanParts {
  return { attributes: toAttributes(event), time: event.time, message: event.message, context: event.context };
}

function buildSpan(provider: TracerProvider, p: SpanParts, own: boolean): void {
  const { ROOT_CONTEXT, SpanStatusCode } = otelApi();
  const span = tracerFor(provider).startSpan(
    SPAN_NAME,
    own ? { kind: SPAN_KIND, startTime: p.time } : { kind: SPAN_KIND, startTime: p.time, attributes: p.attributes },
    p.context ?? ROOT_CONTEXT,
  );
  if (own) span.setAttributes(p.attributes);
  span.setStatus({ code: SpanStatusCode.ERROR, message: p.message });
  span.end(p.time);
}

const buildOwn = (provider: TracerProvider, p: SpanParts): void => buildSpan(provider, p, true);

/**
 * The request's own span (the HTTP CLIENT or SERVER span a tracer made), when still open, is marked
 * failed as the recording-errors guidance and the HTTP conventions ask of a request that ended in a
 * network error: `error.type` and status Error, no `exception` event (those are for exceptions
 * that escape the span's code). Only that span: a caller's or a parent INTERNAL span may well
 * handle or retry the failure, and the guidance leaves those spans alone (docs/opentelemetry.md).
 */
export function annotateParent(event: ResetEvent): void {
  if (event.context === undefined || event.request === undefined) return;
  const api = otelApi();
  const parent = api.trace.getSpan(event.context);
  if (parent === undefined || !parent.isRecording()) return;
  // SDK spans expose their kind; a span that does not is not known to be the request's own.
  const kind = (parent as { kind?: number }).kind;
  if (kind !== (event.direction === 'client' ? api.SpanKind.CLIENT : api.SpanKind.SERVER)) return;
  parent.setAttribute('error.type', event.errorType);
  parent.setStatus({ code: api.SpanStatusCode.ERROR, message: event.message });
}

export const otelExporter: Exporter = {
  name: 'otel',
  start({ config, isMainThread }) {
    applyLogLevel();
    if (isMainThread) checkSdkDisabled();
    if (sdkDisabled()) {
      if (isMainThread)
        otelDiag(
          'warn',
          'OTEL_SDK_DISABLED=true: no OpenTelemetry spans or metrics from resetwatch (log lines and Prometheus metrics unaffected)',
        );
      return () => {};
    }
    const plan: ExportPlan = exportPlan();
    // A worker thread's private metrics would repeat the main thread's series under the same
    // resource: only spans leave worker threads through our own providers (an app that registers
    // a MeterProvider in the worker still gets that worker's resets).
    if (!isMainThread) delete plan.metrics;
    const wantsPrivate = plan.traces !== undefined || plan.metrics !== undefined;
    let priv: PrivateProviders | undefined;
    const privateProviders = (): PrivateProviders | undefined => {
      if (priv === undefined && wantsPrivate) {
        // Loaded only now: the SDK never loads unless the OTEL_* variables ask for export.
        const mod = require('./private') as typeof import('./private');
        priv = new mod.PrivateProviders(plan);
        priv.beforeFlush = () => spans.flush();
      }
      return priv;
    };
    const peers = new PeerLimiter(config.maxPeers);
    // RESETWATCH_SPAN_RATE: under a storm the span processor's queue would drop the excess anyway,
    // after the span was built; dropping before building keeps the reset path cheap.
    const spanLimiter = new RateLimiter(config.spanRate);
    // Spans for our own provider, built in groups (./span-group.ts).
    const spans = new SpanGroup(buildOwn);
    const groupSpan = (tp: TracerProvider, event: ResetEvent) => spans.add(tp, partsOf(event));

    const meterProvider = (): MeterProvider | undefined => {
      const app = appMeterProvider();
      if (app !== undefined) {
        if (priv?.hasMetrics) priv.retireMetrics();
        return app;
      }
      return plan.metrics !== undefined ? privateProviders()?.meterProvider() : undefined;
    };
    // Observable instruments (connection counts) should exist before the first reset: look for
    // a provider a second after start and now and then afterwards (one unref'd timer, or a scrape
    // or export that wakes the process anyway: agent/awake.ts).
    let wait = PROVIDER_CHECK_MS;
    let cancelCheck = () => {};
    let last: MeterProvider | undefined;
    const schedule = (ms: number) => {
      cancelCheck = choreWithin('otel.providers.chore', ms, check);
    };
    const check = () => {
      const mp = guard('otel.providers', () => {
        const found = meterProvider();
        if (found) instrumentsFor(found, priv?.histogramsFor(found));
        return found;
      });
      // A new provider: look again soon; the same as last time (or none again): less and less often.
      wait = mp !== last ? PROVIDER_CHECK_MS : Math.min(wait * 2, PROVIDER_CHECK_MAX_MS);
      last = mp;
      schedule(wait);
    };
    schedule(PROVIDER_FIRST_CHECK_MS);

    // This end's address is read for the resets that may get a span (agent/bus.ts needsLocal).
    const tracing = () => (appTracerProvider() !== undefined || plan.traces !== undefined) && spanLimiter.ready();
    const unsubscribe = subscribe((event) => handle(event, config), tracing);

    function handle(event: ResetEvent, cfg: Config): void {
      // Only a reset inside a request's span has a parent to mark (annotateParent's own first test,
      // here so that the usual reset, with none, does not pay the guarded call).
      if (event.context !== undefined && event.request !== undefined) guard('otel.parent', annotateParent, event);
      const app = appTracerProvider();
      const tp = app ?? (plan.traces !== undefined ? privateProviders()?.tracerProvider() : undefined);
      if (tp !== undefined && (event.context !== undefined || cfg.rootSpans)) {
        if (event.fatal || spanLimiter.take()) {
          // Our own provider's spans wait for their group under OTLP only: a console exporter prints
          // each span as it ends, and an exit that skips beforeExit (process.exit()) would lose them.
          // Otherwise (an app's provider, a fatal reset: the process is going down) the waiting
          // ones are built first, in the order of their resets, then this one.
          if (!event.fatal && app === undefined && plan.traces?.kind === 'otlp') guard('otel.span', groupSpan, tp, event);
          else {
            spans.flush();
            guard('otel.span', recordSpan, tp, event, cfg.rootSpans, app === undefined);
          }
        } else countDropped('otel_rate');
      }
      const mp = meterProvider();
      if (mp !== undefined) guard('otel.metrics', recordMetrics, mp, event, cfg); // no closure per reset
      priv?.markDirty();
    }

    // The instruments of the provider the last reset went to: the same one reset after reset, so
    // no WeakMap look-up per reset; a new provider (the app's, after ours) looks them up again.
    let lastProvider: MeterProvider | undefined;
    let lastInstruments: Instruments | undefined;
    function recordMetrics(mp: MeterProvider, event: ResetEvent, cfg: Config): void {
      if (mp !== lastProvider || lastInstruments === undefined) {
        lastInstruments = instrumentsFor(mp, priv?.histogramsFor(mp));
        lastProvider = mp;
      }
      record(lastInstruments, event, cfg, peers);
    }

    return () => {
      unsubscribe();
      spans.flush();
      lastProvider = lastInstruments = undefined;
      cancelCheck();
      priv?.stop();
    };
  },
};
