// node:http for the metrics endpoint (exporters/prometheus/server.ts). The endpoint starts in the
// event loop's first turn, but where an ESM preload may set up OpenTelemetry's hooks after this
// one (agent/preload.ts esmPreloads()), loading node:http then makes its http instrumentation
// patch the module a second time (two CLIENT spans per outgoing request, test/neighbours). There
// the preload takes it at once, before any later preload's hooks, and the endpoint uses that copy.
let http: typeof import('node:http') | undefined;

/** Loads node:http now (the preload, where ESM hooks may follow). */
export function takeHttpEarly(): void {
  http ??= require('node:http') as typeof import('node:http');
}

export function httpModule(): typeof import('node:http') {
  http ??= require('node:http') as typeof import('node:http');
  return http;
}
