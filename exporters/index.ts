// The outputs, in start order. Each subscribes to the event bus (agent/bus.ts).
import { logExporter } from './log';
import type { Exporter } from './types';

export const exporters: Exporter[] = [logExporter];
