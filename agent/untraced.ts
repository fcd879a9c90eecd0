// Runs the agent's own connections out of the app's traces. A neighbour's net instrumentation
// (OpenTelemetry's auto-instrumentation) traced the family's connections to the leader as
// `ipc.connect` spans: the app's traces got two spans of ours per member, and exporting them kept a
// short-lived member alive (`node -e 1` waited for its export, and with the collector unreachable
// for its retries: seconds instead of none).
import type { Context } from '@opentelemetry/api';
import { diag } from './diag';
import { kOtelGlobal } from './symbols';

/** @opentelemetry/core's key (its createContextKey is Symbol.for), read by every SDK tracer. */
const SUPPRESS_TRACING = Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

interface Manager {
  active(): Context;
  with<T>(context: Context, fn: () => T): T;
}

/**
 * Runs `fn` with tracing suppressed in the app's registered context manager, read off the global
 * registry (no API loaded where nothing is registered, as in a quiet member without a neighbour).
 * Runs `fn` once whatever that manager does: one that throws, or never calls `fn`, costs the
 * suppression only (a debug line), never `fn`.
 */
export function untraced<T>(fn: () => T): T {
  let ran = false;
  let result: T | undefined;
  let failed = false;
  let error: unknown;
  const run = () => {
    ran = true;
    try {
      result = fn();
    } catch (err) {
      failed = true;
      error = err;
    }
    return result as T;
  };
  try {
    const manager = (globalThis as { [kOtelGlobal]?: { context?: Manager } })[kOtelGlobal]?.context;
    if (manager != null && typeof manager.with === 'function' && typeof manager.active === 'function') {
      manager.with(manager.active().setValue(SUPPRESS_TRACING, true), run);
    }
  } catch (err) {
    if (!ran)
      diag(
        'debug',
        `the app's OpenTelemetry context manager failed (${err instanceof Error ? err.message : String(err)}); the family's connections may be traced`,
      );
  }
  if (!ran) run();
  if (failed) throw error;
  return result as T;
}
