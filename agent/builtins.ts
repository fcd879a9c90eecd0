// Node built-ins the agent loads at a moment of its choosing: it asks which are loaded already, and
// takes node:http early where an ESM preload may follow.

/**
 * Whether a Node built-in is loaded in this thread (Node's list of loaded modules: a load fires no
 * event); undefined where the list is missing.
 */
export function builtinLoaded(name: string): boolean | undefined {
  return (process as { moduleLoadList?: string[] }).moduleLoadList?.includes(`NativeModule ${name}`);
}

// node:http for the metrics endpoint (exporters/prometheus/server.ts). The endpoint starts in the
// event loop's first turn, but where an ESM preload may set up OpenTelemetry's hooks after this
// one (agent/preload.ts esmPreloads()), loading node:http then makes its http instrumentation
// patch the module a second time (two CLIENT spans per outgoing request, test/neighbours). There
// the preload takes it at once (register.ts), before any later preload's hooks, and the endpoint
// uses that copy.
let http: typeof import('node:http') | undefined;

export function httpModule(): typeof import('node:http') {
  http ??= require('node:http') as typeof import('node:http');
  return http;
}
