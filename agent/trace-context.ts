// Which OpenTelemetry context a reset belongs to.
//
// The active context is read from the app's registered context manager directly (not through our
// copy of @opentelemetry/api, which ignores a manager registered by an older 1.x minor version of
// the API). But the context active when a request starts is not always the request's own span:
// tracers make that span in ways resetwatch's hooks do not see in time (docs/opentelemetry.md,
// "Parent span"):
// - OpenTelemetry's http instrumentation makes its CLIENT span active only while `http.request()`
//   runs; the request is sent (`http.client.request.start`) when the app calls `end()`, usually
//   outside. Node ≥ 22.12 announces the request inside `http.request()` (`http.client.request.created`).
// - undici/fetch instrumentations and Sentry make the CLIENT span in a diagnostics_channel
//   subscriber and never make it active; what they leave is the trace header they inject into the
//   request: `requestContext()` reads it back with the app's propagator.
// - @sentry/node 11 no longer sets up OpenTelemetry by default: it injects only its own
//   `sentry-trace` header (`<trace id>-<span id>[-<sampled>]`), read directly where a request
//   carries no `traceparent` and the app registered no propagator (sentryContext()); Sentry's own
//   propagator reads it where Sentry set up OpenTelemetry (10).
// - OpenTelemetry's http instrumentation makes the SERVER span active only around
//   `server.emit('request')`, after `http.server.request.start`; it binds the response's listeners
//   to that context, which `boundContext()` reads.
import { EventEmitter } from 'node:events';
import type { Context, TextMapGetter, TextMapPropagator } from '@opentelemetry/api';
import { otelApi } from './otel-api';
import { kOtelGlobal } from './symbols';
import { otelDiag } from './diag';

const INVALID_TRACE = '00000000000000000000000000000000';

interface Registry {
  context?: { active(): Context };
}

/**
 * The app's active context, or undefined. A context manager that throws, or hands back something
 * that is no Context (no getValue), gives no trace: the reset is still recorded, without one.
 */
export function activeContext(): Context | undefined {
  const manager = (globalThis as { [kOtelGlobal]?: Registry })[kOtelGlobal]?.context;
  if (manager == null) return undefined;
  try {
    const context = manager.active();
    return typeof context?.getValue === 'function' ? context : undefined;
  } catch {
    return undefined;
  }
}

/** The trace and span id of a context's span, when it has a valid one. */
export function spanIds(context: Context | undefined): { traceId: string; spanId: string } | undefined {
  if (context === undefined) return undefined;
  const sc = otelApi().trace.getSpanContext(context);
  return sc !== undefined && sc.traceId !== INVALID_TRACE ? sc : undefined;
}

/**
 * Without an app propagator, what OTEL_PROPAGATORS asks for among what resetwatch ships
 * (@opentelemetry/core): `tracecontext` (also the default) is read; `baggage` is accepted but
 * carries nothing resetwatch records; `none` reads nothing; anything else (b3, jaeger, xray…)
 * needs the app's own propagator: one line, ignored (named alone, no header is read, as the SDK
 * would read none of W3C's either). Null: nothing to read.
 */
export function fallbackPropagator(env: NodeJS.ProcessEnv = process.env): TextMapPropagator | null {
  const names = propagatorNames(env);
  if (names.includes('none')) return null;
  const unknown = names.filter((n) => n !== 'tracecontext' && n !== 'baggage');
  const reads = names.includes('tracecontext');
  if (unknown.length > 0)
    otelDiag(
      'warn',
      `OTEL_PROPAGATORS: ${unknown.join(', ')} not available to resetwatch without the app's own propagator (it reads tracecontext, and accepts baggage); ignored, ${reads ? 'traceparent is read' : 'no trace header is read'}`,
    );
  if (!reads) return null;
  const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  return new core.W3CTraceContextPropagator();
}

/** OTEL_PROPAGATORS' names, lower case; `tracecontext` when it names none. */
function propagatorNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = (env.OTEL_PROPAGATORS ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  return names.length > 0 ? names : ['tracecontext'];
}

/**
 * The app's registered propagator when it has one (it reads whatever its tracer injects);
 * otherwise `fallbackPropagator()`, decided on first use.
 */
let fallback: TextMapPropagator | null | undefined;
function extract<C>(base: Context, carrier: C, getter?: TextMapGetter<C>): Context {
  const { propagation } = otelApi();
  if (propagation.fields().length > 0) return propagation.extract(base, carrier, getter);
  if (fallback === undefined) fallback = fallbackPropagator();
  if (fallback === null) return base;
  return fallback.extract(base, carrier, getter ?? (otelApi().defaultTextMapGetter as TextMapGetter<C>));
}

/**
 * Nothing to read: no propagator of the app's, and no `traceparent` on the request for the
 * fallback's. Then neither the API nor @opentelemetry/core is loaded for it (a process without
 * OpenTelemetry spent ~80 ms loading both at its first HTTP reset).
 */
function nothingToRead(traceparent: unknown): boolean {
  return traceparent === undefined && !appPropagator();
}

/** The app registered a propagator (it reads whatever its tracer injects, Sentry's header among them where Sentry registered it). */
const appPropagator = () => (globalThis as { [kOtelGlobal]?: { propagation?: unknown } })[kOtelGlobal]?.propagation != null;

const SENTRY_TRACE = /^([0-9a-f]{32})-([0-9a-f]{16})(?:-([01]))?$/;

/** A `sentry-trace` header's span as a remote parent on `base`, or undefined when it is not one. */
function sentryContext(base: Context | undefined, header: unknown): Context | undefined {
  const m = typeof header === 'string' ? SENTRY_TRACE.exec(header.trim()) : null;
  if (m === null || m[1] === INVALID_TRACE || /^0+$/.test(m[2]) || propagatorNames().includes('none')) return undefined;
  const api = otelApi();
  return api.trace.setSpanContext(base ?? api.ROOT_CONTEXT, {
    traceId: m[1],
    spanId: m[2],
    traceFlags: m[3] === '1' ? 1 : 0,
    isRemote: true,
  });
}

/** The caller's trace context, from an incoming request's headers (traceparent, else sentry-trace). */
export function callerContext(headers: Record<string, unknown>): Context | undefined {
  if (headers.traceparent === undefined && headers['sentry-trace'] !== undefined && !appPropagator()) {
    const sentry = sentryContext(undefined, headers['sentry-trace']);
    if (sentry !== undefined) return sentry;
  }
  if (nothingToRead(headers.traceparent)) return undefined;
  return extract(otelApi().ROOT_CONTEXT, headers);
}

/** Node's ClientRequest: its outgoing headers. */
const clientRequestGetter: TextMapGetter<{ getHeader(name: string): unknown; getHeaderNames(): string[] }> = {
  get: (req, key) => {
    const v = req.getHeader(key);
    return typeof v === 'number' ? String(v) : (v as string | string[] | undefined);
  },
  keys: (req) => req.getHeaderNames(),
};

/** undici's request: headers as a flat [name, value, …] array (undici ≥ 6) or raw header lines (5). */
const undiciGetter: TextMapGetter<{ headers?: unknown }> = {
  get: (req, key) => {
    const h = req.headers;
    if (Array.isArray(h)) {
      for (let i = 0; i + 1 < h.length; i += 2) if (String(h[i]).toLowerCase() === key) return String(h[i + 1]);
    } else if (typeof h === 'string') {
      for (const line of h.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === key) return line.slice(colon + 1).trim();
      }
    }
    return undefined;
  },
  keys: () => [],
};

/**
 * An outgoing request's own span: when a tracer injected trace headers for a span other than the
 * one active when the request started (`captured`), that injected span made the request; its
 * context (remote: the span object itself is the tracer's) is returned on top of `captured`.
 * Otherwise `captured`.
 */
export function requestContext(captured: Context | undefined, request: object, kind: 'http' | 'undici'): Context | undefined {
  const http = kind === 'http' && typeof (request as { getHeader?: unknown }).getHeader === 'function';
  if (kind === 'http' && !http) return captured;
  const header = (name: string) =>
    http ? clientRequestGetter.get(request as never, name) : undiciGetter.get(request as { headers?: unknown }, name);
  const traceparent = header('traceparent');
  if (traceparent === undefined && !appPropagator()) {
    const sentry = sentryContext(captured, header('sentry-trace'));
    if (sentry !== undefined) return spanIds(sentry)?.spanId === spanIds(captured)?.spanId ? captured : sentry;
  }
  if (nothingToRead(traceparent)) return captured;
  const base = captured ?? otelApi().ROOT_CONTEXT;
  const injected = http
    ? extract(base, request as never, clientRequestGetter)
    : extract(base, request as { headers?: unknown }, undiciGetter);
  const ids = spanIds(injected);
  if (ids === undefined || ids.spanId === spanIds(captured)?.spanId) return captured;
  return injected;
}

const kProbe = Symbol('resetwatch.probe');

/**
 * The context an OpenTelemetry context manager bound an emitter's listeners to
 * (`context.bind(ctx, emitter)`), or undefined. Read by adding a listener through the bound
 * `on` and calling the wrapper it made, then removing it again: nothing is emitted. Skipped when
 * the emitter's `on` is the standard one (nothing bound) or someone watches its listeners.
 */
export function boundContext(emitter: EventEmitter): Context | undefined {
  if (!Object.hasOwn(emitter, 'on') || emitter.on === EventEmitter.prototype.on) return undefined;
  if (emitter.listenerCount('newListener') > 0 || emitter.listenerCount('removeListener') > 0) return undefined;
  let seen: Context | undefined;
  const probe = (): void => {
    seen = activeContext();
  };
  emitter.on(kProbe, probe);
  let wrappers: ((...args: unknown[]) => unknown)[];
  try {
    wrappers = emitter.rawListeners(kProbe);
  } finally {
    emitter.removeListener(kProbe, probe);
  }
  if (wrappers.length !== 1 || wrappers[0] === probe) return undefined;
  const now = activeContext();
  wrappers[0].call(emitter);
  // A wrapper that did not switch contexts binds nothing.
  return seen === now ? undefined : seen;
}
