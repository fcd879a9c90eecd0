'use strict';
// Variant C: what a user would pick today to see connection problems — the OpenTelemetry Node SDK
// with the net and http instrumentations, exporting traces and metrics over OTLP/HTTP to the
// same receiver as variant B. Used as `node --require ./bench/otel-preload.js app.js`.
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { NetInstrumentation } = require('@opentelemetry/instrumentation-net');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');

const endpoint = (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://127.0.0.1:4318').replace(/\/$/, '');
const sdk = new NodeSDK({
  traceExporter: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
  metricReaders: [
    new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
      exportIntervalMillis: Number(process.env.OTEL_METRIC_EXPORT_INTERVAL || 60000),
    }),
  ],
  instrumentations: [new NetInstrumentation(), new HttpInstrumentation()],
});
sdk.start();
