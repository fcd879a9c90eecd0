// The app's own OpenTelemetry providers, looked up at each use (never cached across events), so a
// NodeSDK started after the preload is picked up. We only read the global registry, never write to
// it. We read it directly rather than through our copy of @opentelemetry/api: the API refuses a
// registration made by an older minor version than its own (an app on api 1.4 and us on 1.9),
// but the provider interfaces are stable across 1.x, so any 1.x registration works for us.
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { kOtelGlobal } from '../../agent/symbols';

interface GlobalApi {
  version?: string;
  trace?: TracerProvider & { getDelegate?: () => TracerProvider };
  metrics?: MeterProvider;
}

function registry(): GlobalApi | undefined {
  return (globalThis as { [kOtelGlobal]?: GlobalApi })[kOtelGlobal];
}

function isNoop(provider: object): boolean {
  const name = provider.constructor?.name;
  return name === 'NoopTracerProvider' || name === 'NoopMeterProvider';
}

interface SdkProviderInternals {
  /** SDK 2.x: a MultiSpanProcessor over the processors it was given. */
  _activeSpanProcessor?: { _spanProcessors?: unknown };
  /** SDK 1.x: a NoopSpanProcessor until the first is added (or one built from OTEL_TRACES_EXPORTER). */
  activeSpanProcessor?: object;
}

const noopProcessor = (p: unknown): boolean => (p as object | null)?.constructor?.name === 'NoopSpanProcessor';

/**
 * An SDK provider with no span processor sends nothing anywhere. Another agent may register one
 * for its own use: Instana's collector does (a BasicTracerProvider for the OpenTelemetry
 * instrumentations it wraps; it reads their spans itself and exports none of this provider's), and
 * resetwatch's spans went into it and were lost, OTLP export asked for or not (a trial). Such a
 * provider counts as none. One that shows neither field (another SDK, a bundle) is taken at its word.
 */
function sendsNothing(provider: SdkProviderInternals): boolean {
  const list = provider._activeSpanProcessor?._spanProcessors;
  if (Array.isArray(list)) return list.every(noopProcessor);
  return noopProcessor(provider.activeSpanProcessor);
}

/**
 * The TracerProvider the app registered (an SDK's, behind the API's proxy), or undefined: also
 * when it has no span processor (sendsNothing), looked at again at each use (one may be added later).
 */
export function appTracerProvider(): TracerProvider | undefined {
  const registered = registry()?.trace;
  if (registered == null) return undefined;
  const real = typeof registered.getDelegate === 'function' ? registered.getDelegate() : registered;
  if (real == null || isNoop(real) || sendsNothing(real as SdkProviderInternals)) return undefined;
  // Hand out the registered object (the app's proxy): what the app's own tracers go through.
  return registered;
}

/** The MeterProvider the app registered, or undefined. */
export function appMeterProvider(): MeterProvider | undefined {
  const registered = registry()?.metrics;
  if (registered == null || isNoop(registered)) return undefined;
  return registered;
}
