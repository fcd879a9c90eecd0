// resetwatch's private OpenTelemetry providers, built from the SDK's components when the
// standard variables ask for export and the app registered no providers of its own. Loaded with
// require() only then: the preload never pays for the SDK otherwise. Never registered globally.
//
// Exit: on 'beforeExit' (a normal exit: the event loop ran dry) pending spans and metrics are
// flushed, holding the loop for at most FLUSH_BUDGET_MS; then batches still in flight (a stalled
// collector, a retry wait) are cut and counted as dropped. No signal handler, nothing on 'exit'.
// An abrupt exit (crash, process.exit(), a signal) loses what the periodic export has not sent
// yet: at most OTEL_BSP_SCHEDULE_DELAY (5 s) of spans and OTEL_METRIC_EXPORT_INTERVAL (60 s) of
// metric changes.
import type { MeterProvider as ApiMeterProvider, TracerProvider as ApiTracerProvider } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  type ResourceDetector,
  type Resource,
} from '@opentelemetry/resources';
import { constantLabels } from '../shared/labels';
import { guard } from '../../agent/guard';
import { otelDiag as diag } from '../../agent/diag';
import { addBelowLimit } from '../../agent/bus';
import { k8sAttributes, resourceDetectors, type DetectorName, type ExportPlan } from './env';
import { FLUSH_BUDGET_MS, OtlpMetricExporter, OtlpSpanExporter, type OtlpSender, type Temporality } from './otlp';
import { LocalHistograms } from './histograms';
import { setTimeout, clearTimeout, NodeDate } from '../../agent/timers';

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  diag('warn', `${name}=${JSON.stringify(raw)} is not valid; using ${fallback}`);
  return fallback;
}

function temporality(): Temporality {
  const raw = (process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE ?? 'cumulative').trim().toLowerCase();
  if (raw === 'cumulative' || raw === 'delta' || raw === 'lowmemory') return raw;
  diag('warn', `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=${JSON.stringify(raw)} is not valid; using cumulative`);
  return 'cumulative';
}

const k8sDetector: ResourceDetector = { detect: () => ({ attributes: k8sAttributes() }) };

/** service.instance.id: a random UUID per process (the semantic conventions' recommendation). */
function detectorsFor(name: DetectorName): ResourceDetector[] {
  switch (name) {
    case 'host':
      return [hostDetector];
    case 'os':
      return [osDetector];
    case 'serviceinstance':
      return [serviceInstanceIdDetector];
    case 'process':
      return [processDetector];
    case 'env':
      return [k8sDetector, envDetector];
  }
}

/** The line about the app's 'beforeExit' listener limit was written (once per process). */
let saidAtLimit = false;

export class PrivateProviders {
  private resource?: Resource;
  private tracer?: BasicTracerProvider;
  private meter?: MeterProvider;
  /** The reset histograms of `meter`, handed to its reader at collection (otel-histograms.ts). */
  private histograms?: LocalHistograms;
  private metricsRetired = false;
  private readonly senders: OtlpSender[] = [];
  private dirty = false;
  private flushing = false;
  private listening = false;
  /** The 'beforeExit' listener is on: `listening`, and it was below the app's limit. */
  private listenerAdded = false;
  private exitDeadline: number | undefined;
  private readonly onBeforeExit = () => guard('otel.beforeExit', () => this.flushForExit());

  constructor(private readonly plan: ExportPlan) {}

  private getResource(): Resource {
    // Default: service.name=unknown_service:node. Later detectors win: OTEL_SERVICE_NAME and
    // OTEL_RESOURCE_ATTRIBUTES (env) over the Kubernetes variables over everything detected.
    // RESETWATCH_LABELS are process-wide identity, which OpenTelemetry keeps in the Resource; every
    // detected attribute (OTEL_RESOURCE_ATTRIBUTES included) wins over them on a shared key.
    this.resource ??= defaultResource()
      .merge(resourceFromAttributes({ ...constantLabels() }))
      .merge(detectResources({ detectors: resourceDetectors().flatMap(detectorsFor) }));
    return this.resource;
  }

  tracerProvider(): ApiTracerProvider | undefined {
    const plan = this.plan.traces;
    if (plan === undefined) return undefined;
    if (this.tracer === undefined) {
      let processor: SpanProcessor;
      if (plan.kind === 'otlp') {
        const exporter = new OtlpSpanExporter(plan.protocol);
        this.senders.push(exporter.sender);
        diag('info', `OpenTelemetry: reset spans go to ${exporter.sender.url} (${plan.protocol})`);
        processor = new BatchSpanProcessor(exporter); // OTEL_BSP_* honoured by the processor
      } else {
        processor = new SimpleSpanProcessor(new ConsoleSpanExporter());
      }
      // OTEL_TRACES_SAMPLER(_ARG) and span limits are read by the provider.
      this.tracer = new BasicTracerProvider({ resource: this.getResource(), spanProcessors: [processor] });
      this.listen();
    }
    return this.tracer;
  }

  meterProvider(): ApiMeterProvider | undefined {
    const plan = this.plan.metrics;
    if (plan === undefined || this.metricsRetired) return undefined;
    if (this.meter === undefined) {
      let exporter: PushMetricExporter;
      // Histograms are delta under both the `delta` and `lowmemory` preferences (the console
      // exporter is cumulative).
      let delta = false;
      if (plan.kind === 'otlp') {
        const pref = temporality();
        delta = pref !== 'cumulative';
        const otlp = new OtlpMetricExporter(plan.protocol, pref);
        this.senders.push(otlp.sender);
        diag('info', `OpenTelemetry: resetwatch metrics go to ${otlp.sender.url} (${plan.protocol}, ${pref})`);
        exporter = otlp;
      } else {
        exporter = new ConsoleMetricExporter();
      }
      const interval = positiveInt('OTEL_METRIC_EXPORT_INTERVAL', 60000);
      const timeout = Math.min(positiveInt('OTEL_METRIC_EXPORT_TIMEOUT', 30000), interval);
      this.histograms = new LocalHistograms(() => this.getResource(), delta);
      const reader = new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: interval,
        exportTimeoutMillis: timeout,
        metricProducers: [this.histograms],
      });
      this.meter = new MeterProvider({ resource: this.getResource(), readers: [reader] });
      this.dirty = true; // connection counts: sent at least once, at exit if not before
      this.listen();
    }
    return this.meter;
  }

  /** The locally aggregated histograms when `provider` is ours, else undefined. */
  histogramsFor(provider: ApiMeterProvider): LocalHistograms | undefined {
    return provider === this.meter ? this.histograms : undefined;
  }

  /** The app registered its own MeterProvider: from now on metrics go there; send ours one last time. */
  retireMetrics(): void {
    if (this.metricsRetired) return;
    this.metricsRetired = true;
    const meter = this.meter;
    this.meter = undefined;
    if (meter !== undefined) void meter.shutdown().catch(() => {});
  }

  get hasMetrics(): boolean {
    return this.meter !== undefined;
  }

  /**
   * Builds the spans index.ts holds back for a group (./span-group.ts) before any flush: the exit's
   * and stop()'s.
   */
  beforeFlush: () => void = () => {};

  /** A reset went to our providers: there is something to flush on the way out. */
  markDirty(): void {
    this.dirty = true;
    if (this.listening && !this.listenerAdded) this.addListener();
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.addListener();
  }

  /**
   * Not past the app's listener limit, where one more would make Node print a warning the app
   * never did: then a normal exit sends nothing more (said once per process), and each reset
   * tries again (the app may have raised its limit or removed one of its own).
   */
  private addListener(): void {
    this.listenerAdded = addBelowLimit('beforeExit', this.onBeforeExit as (arg: unknown) => void);
    if (!this.listenerAdded && !saidAtLimit) {
      saidAtLimit = true;
      diag(
        'warn',
        "OpenTelemetry: the app has as many 'beforeExit' listeners as its limit; what is not exported yet at a normal exit is lost",
      );
    }
  }

  /**
   * Flush when there is new data; the ref'd timer holds the loop FLUSH_BUDGET_MS at most, in total
   * over every 'beforeExit' (an app may do more work from its own 'beforeExit' listeners).
   */
  private flushForExit(): void {
    // A batch waiting for its retry (an unref'd timer) would end with the process, uncounted: it
    // too is flushed, or given up and counted once the budget is spent.
    if (this.flushing || !(this.dirty || this.senders.some((s) => s.pending()))) return;
    this.beforeFlush();
    const now = NodeDate.now();
    this.exitDeadline ??= now + FLUSH_BUDGET_MS;
    const budget = this.exitDeadline - now;
    if (budget <= 0) {
      for (const s of this.senders) s.cut();
      return;
    }
    this.dirty = false;
    this.flushing = true;
    let finished = false;
    const finish = (late: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(hold);
      this.flushing = false;
      // Nothing of ours may outlast the budget: a stalled last attempt or a retry wait is cut.
      if (late) for (const s of this.senders) s.cut();
      // The deadline was this flush's: an app working on from 'beforeExit' gets retries again.
      for (const s of this.senders) s.endFinish();
    };
    const hold = setTimeout(() => guard('otel.exitHold', finish, true), budget);
    for (const s of this.senders) s.finishBy(now + budget);
    const flushes: Promise<unknown>[] = [];
    if (this.tracer !== undefined) flushes.push(this.tracer.forceFlush());
    if (this.meter !== undefined) flushes.push(this.meter.forceFlush());
    void Promise.allSettled(flushes)
      .then(() => Promise.allSettled(this.senders.map((s) => s.flush())))
      .finally(() => finish(false));
  }

  stop(): void {
    this.beforeFlush();
    if (this.listenerAdded) process.removeListener('beforeExit', this.onBeforeExit);
    this.listening = this.listenerAdded = false;
    const tracer = this.tracer;
    const meter = this.meter;
    this.tracer = undefined;
    this.meter = undefined;
    // The providers hand what they hold to the senders at once; the senders get FLUSH_BUDGET_MS
    // from now (an unref'd timer) to deliver it, then what is still in flight is cut and counted
    // (a collector that stalls must not keep a connection of a stopped agent open).
    const senders = [...this.senders];
    let cut = false;
    const cutAll = () => {
      if (cut) return;
      cut = true;
      clearTimeout(budget);
      for (const s of senders) s.cut();
    };
    const budget = setTimeout(() => guard('otel.stopBudget', cutAll), FLUSH_BUDGET_MS);
    budget.unref();
    for (const s of senders) s.finishBy(NodeDate.now() + FLUSH_BUDGET_MS);
    void Promise.allSettled([tracer?.shutdown(), meter?.shutdown()])
      .then(() => Promise.allSettled(senders.map((s) => s.flush())))
      .finally(cutAll);
  }
}
