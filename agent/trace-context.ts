// The OpenTelemetry context active right now, read from the app's registered context manager
// directly (not through our copy of @opentelemetry/api, which ignores a manager registered by an
// older 1.x minor version of the API). Undefined when the app registered none: nothing to link.
import type { Context } from '@opentelemetry/api';
import { kOtelGlobal } from './symbols';

interface Registry { context?: { active(): Context } }

export function activeContext(): Context | undefined {
  const manager = (globalThis as { [kOtelGlobal]?: Registry })[kOtelGlobal]?.context;
  return manager === undefined ? undefined : manager.active();
}
