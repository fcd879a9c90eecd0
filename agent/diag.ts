// The agent's own one-line messages ("resetwatch: …") on stderr: one synchronous write to fd 2,
// so a message written just before a crash is not lost. Never through process.stderr: that stream
// emits a failed write (EPIPE from a reader that is gone, ENOSPC from a full disk) as an 'error'
// event, and with no listener of the app's there the app would crash on our message. A failed
// write (a full non-blocking pipe included) drops the message. In a PM2 cluster worker, fd 2 is
// PM2's daemon's own (its pm2.log): there the message goes through the process.stderr.write PM2
// puts in place (to the app's own log, over IPC), as reset lines do (exporters/log/writer.ts).
// Bounded: at most MAX_LINES per process, so a misbehaving hook cannot flood the host's stderr.
import { writeSync } from 'node:fs';

/**
 * A PM2 cluster worker: PM2 sets these in every app's environment, and a worker's children inherit
 * them (they are no cluster workers, and their fd 2 is what their parent gave them).
 */
export const pm2ClusterWorker = (): boolean =>
  process.env.pm_id !== undefined &&
  process.env.exec_mode === 'cluster_mode' &&
  typeof process.send === 'function' &&
  (require('node:cluster') as typeof import('node:cluster')).isWorker === true;

function out(text: string): void {
  if (pm2ClusterWorker() && process.connected === true && Object.hasOwn(process.stderr, 'write')) {
    process.stderr.write(text);
    return;
  }
  writeSync(2, text);
}

const MAX_LINES = 50;
let written = 0;

export type DiagLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<DiagLevel | 'off', number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 };
let threshold = ORDER.warn;
/** OTEL_LOG_LEVEL when set: the threshold of the OpenTelemetry side's messages (`otelDiag`). */
let otelThreshold: number | undefined;

export function setDiagLevel(level: DiagLevel | 'off'): void {
  threshold = ORDER[level];
}

export function setOtelDiagLevel(level: DiagLevel | 'off' | undefined): void {
  otelThreshold = level === undefined ? undefined : ORDER[level];
}

export function diag(level: DiagLevel, message: string): void {
  write(level, message, threshold);
}

/** A message of the OpenTelemetry output or trace propagation: OTEL_LOG_LEVEL decides, else RESETWATCH_LOG_LEVEL. */
export function otelDiag(level: DiagLevel, message: string): void {
  write(level, message, otelThreshold ?? threshold);
}

function write(level: DiagLevel, message: string, min: number): void {
  if (ORDER[level] < min || written >= MAX_LINES) return;
  written++;
  try {
    const line = written === MAX_LINES ? 'resetwatch: further messages suppressed' : `resetwatch: ${message}`;
    out(`${line.replace(/\n/g, ' ')}\n`);
  } catch {
    // stderr closed, broken or full: nothing sensible left to do.
  }
}
