// The last N reset events for `GET /resets`: a fixed-size ring of flat records (the attribute names
// of the log lines and spans, plus `time`, `trace_id`, `span_id`, `pid`), bounded in number and in
// string length. This thread's own events are kept as a copy of the event without its OpenTelemetry
// context (so no context or socket stays referenced) and turned into records each time `/resets`
// (or a cluster primary) asks: nothing but one shallow copy per reset on the reset path. Records
// forwarded from worker threads arrive built.
import { threadId } from 'node:worker_threads';
import type { ResetEvent } from '../../agent/types';
import { toAttributes } from '../shared/attributes';
import { NodeDate } from '../../agent/timers';

export type ResetRecord = Record<string, string | number | boolean>;

/** Longest string value kept in a record: error messages and host names can be anything. */
const MAX_STRING = 1024;

export function toRecord(e: ResetEvent): ResetRecord {
  const r: ResetRecord = { time: new NodeDate(e.time).toISOString() };
  for (const [k, v] of Object.entries(toAttributes(e))) {
    r[k] = typeof v === 'string' && v.length > MAX_STRING ? v.slice(0, MAX_STRING) : v;
  }
  if (e.traceId) {
    r.trace_id = e.traceId;
    if (e.spanId) r.span_id = e.spanId;
  }
  r.pid = process.pid;
  if (threadId !== 0) r.thread_id = threadId;
  return r;
}

/** An event of this thread whose record is built when first listed. */
export class PendingRecord {
  readonly event: ResetEvent;
  constructor(e: ResetEvent) {
    this.event = e.context === undefined ? e : { ...e, context: undefined };
  }
}

/** Fixed-capacity ring; `list()` returns newest first. */
export class Recent {
  private readonly items: (ResetRecord | PendingRecord | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.items = new Array(Math.max(0, capacity));
  }

  push(record: ResetRecord | PendingRecord): void {
    if (this.capacity === 0) return;
    this.items[this.next] = record;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  list(limit = this.size): ResetRecord[] {
    const n = Math.min(limit, this.size);
    const out: ResetRecord[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const at = (this.next - 1 - i + this.capacity) % this.capacity;
      // Built for this listing only, not kept: a kept record took ~2 KB of heap more than the event
      // it comes from, ~0.65 KB (bench/recent-mem.js: +13 MB after one /resets of 10,000).
      const item = this.items[at] as ResetRecord | PendingRecord; // at < size: filled
      out[i] = item instanceof PendingRecord ? toRecord(item.event) : item;
    }
    return out;
  }
}

/** Merges several newest-first lists into one newest-first list of at most `limit` records. */
export function mergeRecent(lists: ResetRecord[][], limit: number): ResetRecord[] {
  const all = lists.flat();
  // ISO times sort lexically; a stable sort keeps each source's own order for equal times.
  all.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return all.slice(0, limit);
}
