// The reset spans of resetwatch's private TracerProvider, built in groups instead of one at each
// reset. In a storm the span rate (100/s) gives one span per ten resets at 1,000/s, and the SDK's
// span code runs cold between them: startSpan took 50–80 µs per span there (in-process timing,
// bench/storm-longtasks.js) against 4–5 µs when every reset had a span, ~10 µs per reset of
// Bo's extra over B (docs/benchmarks.md "The 1,000/s storm: Bo's extra is its spans"). A reset's
// span waits at most GROUP_MS (an unref'd timer), and is the same span: its start and end are the
// reset's time, its parent the context captured at the reset, its attributes read at the reset.
// Only for our own provider: an app's span processors see onStart when the reset happens.
import type { Context, TracerProvider } from '@opentelemetry/api';
import type { Attributes } from '@opentelemetry/api';
import { guard } from '../../agent/guard';
import { setTimeout, clearTimeout } from '../../agent/timers';

/** How long a span may wait for its group. */
export const GROUP_MS = 100;
/** At most this many wait (the span rate bounds them anyway): a full group is built at once. */
export const MAX_WAITING = 256;

/** What a reset's span is made of, read when the reset happened. */
export interface SpanParts {
  attributes: Attributes;
  time: number;
  message: string;
  context: Context | undefined;
}

export class SpanGroup {
  private waiting: SpanParts[] = [];
  private provider: TracerProvider | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly build: (provider: TracerProvider, parts: SpanParts) => void) {}

  add(provider: TracerProvider, parts: SpanParts): void {
    if (this.provider !== provider) this.flush();
    this.provider = provider;
    this.waiting.push(parts);
    if (this.waiting.length >= MAX_WAITING) {
      this.flush();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined; // fired: a failed flush below must not leave it set (no timer again)
        guard('otel.spanGroup', () => this.flush());
      }, GROUP_MS);
      this.timer.unref();
    }
  }

  /** Builds every waiting span now, in the order of their resets. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const waiting = this.waiting;
    const provider = this.provider;
    if (waiting.length === 0 || provider === undefined) return;
    this.waiting = [];
    for (let i = 0; i < waiting.length; i++) guard('otel.span', this.build, provider, waiting[i]);
  }
}
