// @opentelemetry/api, loaded on first use: it costs ~15 ms at startup and is needed only when a
// reset happens (trace ids, the caller's traceparent) or spans are made.
type Api = typeof import('@opentelemetry/api');

let api: Api | undefined;

export function otelApi(): Api {
  if (api === undefined) api = require('@opentelemetry/api') as Api;
  return api;
}
