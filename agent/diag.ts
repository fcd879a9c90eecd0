// The agent's own one-line messages ("resetwatch: …") on stderr. Synchronous on Linux for files,
// TTYs and pipes, so a message written just before a crash is not lost. Bounded: at most
// MAX_LINES per process, so a misbehaving hook cannot flood the host's stderr.
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
    process.stderr.write(`${line.replace(/\n/g, ' ')}\n`);
  } catch {
    // stderr closed: nothing sensible left to do.
  }
}
