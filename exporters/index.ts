// The outputs, in start order. Each subscribes to the event bus (agent/bus.ts). Each is loaded
// only when started: a preload starts them in the event loop's first turn (agent/register.ts), so
// a process that is done before its loop turns never loads them.
import type { OutputName } from '../agent/contract';
import type { Exporter } from './types';

export const exporters: { name: OutputName; load(): Exporter }[] = [
  { name: 'log', load: () => (require('./log') as typeof import('./log')).logExporter },
  { name: 'prometheus', load: () => (require('./prometheus') as typeof import('./prometheus')).prometheusExporter },
  { name: 'otel', load: () => (require('./otel') as typeof import('./otel')).otelExporter },
];
