// OpenTelemetry exporter: a span and metrics per reset, through the app's providers or private ones.
// Stub: filled in by the OpenTelemetry issue.
import type { Exporter } from './types';

export const otelExporter: Exporter = {
  name: 'otel',
  start() {},
};
