// The OpenTelemetry context active right now, read from the app's registered context manager
// directly (not through our copy of @opentelemetry/api, which ignores a manager registered by an
// older 1.x minor version of the API). Undefined when the app registered none: nothing to link.
import type { Context } from '@opentelemetry/api';

const GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');

interface Registry { context?: { active(): Context } }

export function activeContext(): Context | undefined {
  const manager = (globalThis as { [GLOBAL_KEY]?: Registry })[GLOBAL_KEY]?.context;
  return manager === undefined ? undefined : manager.active();
}
