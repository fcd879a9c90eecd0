// pino log lines: one structured `warn` line per reset, with the same attribute names as the span.
// Asynchronous so a slow destination never blocks the app; the line for a reset that is about to
// crash the process is flushed synchronously.
import pino from 'pino';
import { onReset } from '../agent/bus';
import { countDropped } from '../agent/stats';
import { toAttributes } from './attributes';
import type { Exporter } from './types';

export const logExporter: Exporter = {
  name: 'log',
  start({ config }) {
    if (config.log === 'off' || config.logLevel === 'off') return;
    const dest = config.log === 'stderr' ? 2 : config.log === 'stdout' ? 1 : config.log;
    const stream = pino.destination({ dest, sync: false, mkdir: typeof dest === 'string' });
    const logger = pino({ name: 'resetwatch', level: config.logLevel, base: { pid: process.pid } }, stream);
    return onReset((event) => {
      const fields: Record<string, unknown> = { ...toAttributes(event) };
      if (event.traceId) {
        fields.trace_id = event.traceId;
        fields.span_id = event.spanId;
      }
      logger.warn(fields, `connection reset: ${event.direction} ${event.phase} ${event.errorType}`);
      if (event.fatal) {
        try { stream.flushSync(); } catch { countDropped('log'); }
      }
    });
  },
};
