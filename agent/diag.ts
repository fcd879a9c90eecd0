// The agent's own one-line messages ("resetwatch: …") on stderr. Synchronous on Linux for files,
// TTYs and pipes, so a message written just before a crash is not lost. Bounded: at most
// MAX_LINES per process, so a misbehaving hook cannot flood the host's stderr.
const MAX_LINES = 50;
let written = 0;

export type DiagLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<DiagLevel | 'off', number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 };
let threshold = ORDER.warn;

export function setDiagLevel(level: DiagLevel | 'off'): void {
  threshold = ORDER[level];
}

export function diag(level: DiagLevel, message: string): void {
  if (ORDER[level] < threshold || written >= MAX_LINES) return;
  written++;
  try {
    const line = written === MAX_LINES ? 'resetwatch: further messages suppressed' : `resetwatch: ${message}`;
    process.stderr.write(`${line.replace(/\n/g, ' ')}\n`);
  } catch {
    // stderr closed: nothing sensible left to do.
  }
}
