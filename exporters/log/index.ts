// pino log lines: one structured `warn` line per reset, with the same attribute names as the span
// plus trace_id/span_id of the request's span. Rate-limited (RESETWATCH_LOG_RATE lines/s, token
// bucket, O(1)) with a summary line counting what was suppressed. Never blocks the app: each line
// is one non-blocking synchronous write (log-writer.ts); a line the destination cannot take is
// dropped and counted, so the line for a reset that is about to crash the process is written
// before the crash (it alone also bypasses the rate limit and retries a full pipe briefly).
import type { Logger } from 'pino';
import { addBelowLimit, subscribe } from '../../agent/bus';
import { countDropped, stats } from '../../agent/stats';
import { guard } from '../../agent/guard';
import { diag } from '../../agent/diag';
import { toAttributes } from '../shared/attributes';
import { constantLabels } from '../shared/labels';
import { openWriter } from './writer';
import { ownPino } from './own-pino';
import { RateLimiter } from '../shared/rate-limit';
import { logMessage } from './message';
import type { ResetEvent } from '../../agent/types';
import type { Exporter } from '../types';
import { setTimeout, clearTimeout, NodeDate } from '../../agent/timers';

export { RateLimiter };

/** How long after the first suppressed line the summary line comes. */
export const SUMMARY_DELAY_MS = 5000;

export function logFields(event: ResetEvent): Record<string, unknown> {
  const fields: Record<string, unknown> = toAttributes(event); // a fresh object: no copy needed
  if (event.traceId) {
    fields.trace_id = event.traceId;
    fields.span_id = event.spanId;
  }
  return fields;
}

export const logExporter: Exporter = {
  name: 'log',
  start({ config }) {
    // Reset lines are `warn`: a level above it means no lines (and nothing to rate-limit).
    if (config.log === 'off' || config.logLevel === 'off' || config.logLevel === 'error') return;
    const writer = openWriter(config.log);
    if (writer === undefined) return;
    let fatalLine = false;
    const stream = {
      write: (line: string) => {
        writer.write(line, fatalLine);
      },
    };
    // pino is loaded with the first line (~15 ms saved at every start of an app that never resets),
    // as a private copy other agents' pino instrumentations do not decorate (own-pino.ts).
    let pinoLogger: Logger | undefined;
    let unusable = false;
    const logger = {
      warn(fields: object, msg: string): void {
        if (unusable) {
          countDropped('log');
          return;
        }
        if (pinoLogger === undefined) {
          try {
            const pino = ownPino();
            // pino's own `time` reads Date.now(), which an app's fake timers stop (agent/timers.ts).
            const timestamp = () => `,"time":${NodeDate.now()}`;
            pinoLogger = pino.pino(
              { name: 'resetwatch', level: config.logLevel, base: { pid: process.pid, ...constantLabels() }, timestamp },
              stream,
            );
          } catch (err) {
            // A host pino cannot run in (Node 20 with --frozen-intrinsics: pino assigns
            // Error.prepareStackTrace as it starts): said once, lines dropped and counted.
            unusable = true;
            countDropped('log');
            diag('warn', `reset log lines are off: pino cannot start here (${(err as Error).message}); they are dropped and counted`);
            return;
          }
        }
        pinoLogger.warn(fields, msg);
      },
    };
    const limiter = new RateLimiter(config.logRate);
    let suppressed = 0;
    let droppedAtLastSummary = stats.dropped.log ?? 0;
    let summaryTimer: NodeJS.Timeout | undefined;
    let exitListener = false;

    const summarise = () => {
      summaryTimer = undefined;
      if (exitListener) {
        exitListener = false;
        process.removeListener('exit', onExit);
      }
      if (suppressed === 0) return;
      const dropped = (stats.dropped.log ?? 0) - droppedAtLastSummary;
      logger.warn(
        { 'resetwatch.suppressed': suppressed, 'resetwatch.dropped': dropped },
        `resetwatch: ${suppressed} reset log lines suppressed by the rate limit (RESETWATCH_LOG_RATE=${config.logRate}/s)` +
          (dropped > 0 ? `, ${dropped} dropped because the destination did not drain` : ''),
      );
      suppressed = 0;
      droppedAtLastSummary = stats.dropped.log ?? 0;
    };
    const onExit = () => guard('log.exit', summarise);

    // This end's address is read for the resets that will get a line (agent/bus.ts needsLocal).
    const unsubscribe = subscribe(
      (event) => {
        if (!event.fatal && !limiter.take()) {
          suppressed++;
          countDropped('log_rate');
          if (summaryTimer === undefined) {
            summaryTimer = setTimeout(() => guard('log.summary', summarise), SUMMARY_DELAY_MS);
            summaryTimer.unref();
            // Written synchronously on the way out, so a short burst is still accounted for. Only
            // while the summary waits (the process's listener counts are as without the agent
            // otherwise: a Redis cluster trial found one left for good), and not past the app's
            // listener limit, where one more would make Node print a warning the app never did.
            exitListener = addBelowLimit('exit', onExit);
          }
          return;
        }
        fatalLine = event.fatal;
        try {
          logger.warn(logFields(event), logMessage(event));
        } finally {
          fatalLine = false;
        }
      },
      () => limiter.ready(),
    );
    return () => {
      unsubscribe();
      if (summaryTimer !== undefined) clearTimeout(summaryTimer);
      if (exitListener) process.removeListener('exit', onExit);
      writer.close();
    };
  },
};
