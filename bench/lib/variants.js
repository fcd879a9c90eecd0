'use strict';
// The variants every scenario can run, each its own app process. `env(ctx)` adds to a clean
// environment, `flags(ctx)` are node's flags; `scrapeMs` is how often the harness scrapes the
// variant's Prometheus endpoint, continuously while the app lives (0: no endpoint to scrape).
// ctx: { receiverUrl, metricsPort, logFile, agentRequire, peersDir, bench, calibrate, bEnv }.
const path = require('node:path');

/** OTLP to the harness's receiver; the SDK's default export intervals unless `fast`. */
function otlp(ctx, service, fast) {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: ctx.receiverUrl,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_SERVICE_NAME: `bench-${service}`,
  };
  // The stress settings of the runs before 2026-12: exports inside every few-second window.
  if (fast) Object.assign(env, { OTEL_METRIC_EXPORT_INTERVAL: '2000', OTEL_BSP_SCHEDULE_DELAY: '1000' });
  return env;
}

/** resetwatch with its endpoint on a free port (never 9465) and reset lines to a file. */
function agent(ctx, extra) {
  return {
    env: { RESETWATCH_PORT: String(ctx.metricsPort), RESETWATCH_LOG: ctx.logFile, ...extra, ...ctx.bEnv },
    flags: ctx.calibrate ? [] : ['--require', ctx.agentRequire],
  };
}

const VARIANT_DEFS = {
  A: { label: 'no agent', scrapeMs: 0, setup: () => ({ env: {}, flags: [] }) },
  B: {
    label: 'resetwatch, default settings',
    note: 'Prometheus endpoint on, scraped every 15 s; no OTLP; reset lines to a file',
    scrapeMs: 15000,
    agent: true,
    setup: (ctx) => agent(ctx, {}),
  },
  Bo: {
    label: 'resetwatch + OTLP',
    note: 'B plus OTLP traces and metrics at the SDK defaults (spans batched every 5 s, metrics every 60 s)',
    scrapeMs: 15000,
    agent: true,
    setup: (ctx) => agent(ctx, otlp(ctx, 'Bo', false)),
  },
  Bs: {
    label: 'resetwatch, stress outputs',
    note: 'scraped every second, OTLP metrics every 2 s and spans every 1 s (the bench settings before 2026-12)',
    scrapeMs: 1000,
    agent: true,
    setup: (ctx) => agent(ctx, otlp(ctx, 'Bs', true)),
  },
  Bd: {
    label: 'resetwatch, RESETWATCH_DISABLED=1',
    scrapeMs: 0,
    agent: true,
    setup: (ctx) => agent(ctx, { RESETWATCH_DISABLED: '1' }),
  },
  C: {
    label: 'OTel SDK + net + http',
    note: 'bench/otel-preload.js: NodeSDK with instrumentation-net and -http, OTLP at the default intervals',
    scrapeMs: 0,
    setup: (ctx) => ({ env: otlp(ctx, 'C', false), flags: ['--require', path.join(ctx.bench, 'otel-preload.js')] }),
  },
  D: {
    label: 'OTel auto-instrumentations',
    note: '@opentelemetry/auto-instrumentations-node/register, its default set, OTLP at the default intervals',
    scrapeMs: 0,
    peer: true,
    setup: (ctx) => ({
      env: {
        ...otlp(ctx, 'D', false),
        // host/os/process/env only: the cloud detectors would probe metadata addresses.
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
      },
      flags: ['--require', require.resolve('@opentelemetry/auto-instrumentations-node/register', { paths: [ctx.peersDir] })],
    }),
  },
  E: {
    label: 'dd-trace',
    note: 'dd-trace/init, traces to a stand-in agent endpoint in the harness; telemetry, remote config, profiling off',
    scrapeMs: 0,
    peer: true,
    setup: (ctx) => ({
      env: {
        DD_TRACE_AGENT_URL: ctx.receiverUrl,
        DD_SERVICE: 'bench-E',
        DD_ENV: 'bench',
        DD_TRACE_TELEMETRY_ENABLED: 'false',
        DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
        DD_REMOTE_CONFIGURATION_ENABLED: 'false',
        DD_PROFILING_ENABLED: 'false',
        DD_RUNTIME_METRICS_ENABLED: 'false',
        DD_TRACE_STARTUP_LOGS: 'false',
        DD_CRASHTRACKING_ENABLED: 'false',
        DD_DOGSTATSD_HOST: '127.0.0.1',
        DD_AGENT_HOST: '127.0.0.1',
      },
      flags: ['--require', require.resolve('dd-trace/init', { paths: [ctx.peersDir] })],
    }),
  },
};

module.exports = { VARIANT_DEFS, otlp };
