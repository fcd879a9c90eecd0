// The outputs, in start order. Each subscribes to the event bus (agent/bus.ts).
import { logExporter } from './log';
import { prometheusExporter } from './prometheus';
import { otelExporter } from './otel';
import type { Exporter } from './types';

export const exporters: Exporter[] = [logExporter, prometheusExporter, otelExporter];
