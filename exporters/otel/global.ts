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

/** The TracerProvider the app registered (an SDK's, behind the API's proxy), or undefined. */
export function appTracerProvider(): TracerProvider | undefined {
  const registered = registry()?.trace;
  if (registered == null) return undefined;
  const real = typeof registered.getDelegate === 'function' ? registered.getDelegate() : registered;
  if (real == null || isNoop(real)) return undefined;
  // Hand out the registered object (the app's proxy): what the app's own tracers go through.
  return registered;
}

/** The MeterProvider the app registered, or undefined. */
export function appMeterProvider(): MeterProvider | undefined {
  const registered = registry()?.metrics;
  if (registered == null || isNoop(registered)) return undefined;
  return registered;
}
