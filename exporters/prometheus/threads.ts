// Worker threads load the agent too (they inherit execArgv) but must never bind the metrics port.
// Each reset in a worker thread is posted on a BroadcastChannel to the process's main thread, which
// records it like its own: one peer bound for the whole process, counters that survive the thread.
// The thread's own counters (connections, agent errors, drops) travel as deltas with each reset and
// every 5 s when they changed (an unref'd timer), so the main thread's totals only ever grow.
// The worker opens a channel per message and closes it at once, so it never queues the other
// threads' messages; the main thread's receiving channel is unref'd and never keeps the process alive.
// It is opened when this thread creates its first Worker (or at once, where it may have one already),
// so a process without worker threads never loads node:worker_threads for it.
import * as dc from 'node:diagnostics_channel';
import { never, subscribe } from '../../agent/bus';
import { guard } from '../../agent/guard';
import { builtinLoaded } from '../../agent/builtins';
import { countDropped, readConnections, stats } from '../../agent/stats';
import { DIRECTIONS, type Direction, type ErrorType, type Phase, type ResetEvent } from '../../agent/types';
import type { ResetRecord } from './recent';
import { setInterval, clearInterval, queueMicrotask } from '../../agent/timers';

const CHANNEL = 'resetwatch:prometheus:resets';
/** Node publishes every Worker this thread creates, in its constructor, right after the thread starts. */
const WORKER_CREATED = 'worker_threads';

function broadcastChannel(name: string): import('node:worker_threads').BroadcastChannel {
  const { BroadcastChannel } = require('node:worker_threads') as typeof import('node:worker_threads');
  return new BroadcastChannel(name);
}

/** What the metrics need from a reset: small, plain and structured-cloneable. */
export interface Sample {
  direction: Direction;
  phase: Phase;
  errorType: ErrorType;
  /** `tls_established` (exporters/shared/attributes.ts tlsEstablished). */
  tls: boolean;
  /** `resetwatch.protocol`: the event's protocol, `unknown` when it names none. */
  protocol?: string;
  /** Unfolded, length-bounded peer key (exporters/shared/peers.ts). */
  peer: string;
  bytesReceived: number;
  bytesSent: number;
  connectionAgeMs: number;
  idleBeforeReuseMs?: number;
  traceId?: string;
  spanId?: string;
}

export interface ThreadMessage {
  sample?: Sample;
  record?: ResetRecord;
  counts?: Counts;
}

/** The agent counters a thread contributes to its process's totals. */
export interface Counts {
  connections: Record<Direction, { tls: number; plain: number }>;
  agentErrors: number;
  dropped: Record<string, number>;
}

export function zeroCounts(): Counts {
  return { connections: { client: { tls: 0, plain: 0 }, server: { tls: 0, plain: 0 } }, agentErrors: 0, dropped: {} };
}

/** Main thread: what the worker threads have reported so far (added to the main thread's own counters). */
export const threadCounts: Counts = zeroCounts();

const COUNTS_INTERVAL_MS = 5000;

function post(message: ThreadMessage): void {
  const ch = broadcastChannel(CHANNEL);
  try {
    ch.postMessage({ v: 1, ...message });
  } finally {
    ch.close();
  }
}

export function forwardToMainThread(make: (e: ResetEvent) => ThreadMessage): () => void {
  const sent = zeroCounts();
  /** What changed since the last message, or undefined. */
  const delta = (): Counts | undefined => {
    const d = zeroCounts();
    let changed = false;
    const conns = readConnections();
    for (const dir of DIRECTIONS) {
      for (const k of ['tls', 'plain'] as const) {
        d.connections[dir][k] = conns[dir][k] - sent.connections[dir][k];
        sent.connections[dir][k] = conns[dir][k];
        changed ||= d.connections[dir][k] !== 0;
      }
    }
    d.agentErrors = stats.agentErrors - sent.agentErrors;
    sent.agentErrors = stats.agentErrors;
    changed ||= d.agentErrors !== 0;
    for (const [name, n] of Object.entries(stats.dropped)) {
      const diff = n - (sent.dropped[name] ?? 0);
      if (diff !== 0) {
        d.dropped[name] = diff;
        sent.dropped[name] = n;
        changed = true;
      }
    }
    return changed ? d : undefined;
  };
  const stop = subscribe((e) => {
    try {
      post({ ...make(e), counts: delta() });
    } catch {
      countDropped('prometheus');
    }
  }, never);
  const timer = setInterval(
    () =>
      guard('prometheus.thread.counts', () => {
        const counts = delta();
        if (counts !== undefined) post({ counts });
      }),
    COUNTS_INTERVAL_MS,
  );
  timer.unref();
  return () => {
    stop();
    clearInterval(timer);
  };
}

/**
 * Main thread: receives the worker threads' resets and counts. The channel opens at once where
 * node:worker_threads is loaded (a Worker may exist), else with the first Worker this thread
 * creates: a BroadcastChannel only receives what is posted while it is open, and a new thread
 * posts nothing before its bootstrap and the agent's load in it, long after its constructor
 * returned. A nested worker's parent is such a Worker, so the channel is open by then too.
 */
export function receiveFromThreads(fn: (m: ThreadMessage & { sample: Sample }) => void): () => void {
  let ch: import('node:worker_threads').BroadcastChannel | undefined;
  const open = () => {
    if (ch !== undefined) return;
    ch = broadcastChannel(CHANNEL);
    (ch as unknown as { unref(): void }).unref();
    ch.onmessage = (msg: unknown) => {
      guard('prometheus.thread', () => {
        const data = (msg as { data?: { v?: number } & ThreadMessage }).data;
        if (data?.v !== 1) return;
        if (data.counts !== undefined) add(data.counts);
        if (data.sample !== undefined) fn(data as ThreadMessage & { sample: Sample });
      });
    };
  };
  let cancel: (() => void) | undefined;
  if (builtinLoaded('worker_threads') !== false) open();
  else cancel = onFirstWorker(open);
  return () => {
    cancel?.();
    ch?.close();
    ch = undefined;
  };
}

/** Calls `fn` once, in the constructor of the first Worker this thread creates. Returns the cancel. */
export function onFirstWorker(fn: () => void): () => void {
  let subscribed = true;
  // Unsubscribed after the publish: on Node 20 an unsubscribe during it skips the next subscriber (another agent's).
  const unsubscribe = () => {
    if (!subscribed) return;
    subscribed = false;
    queueMicrotask(() => dc.unsubscribe(WORKER_CREATED, onWorker));
  };
  const onWorker = () => {
    if (!subscribed) return;
    unsubscribe();
    guard('prometheus.thread.open', fn);
  };
  dc.subscribe(WORKER_CREATED, onWorker);
  return unsubscribe;
}

function add(c: Counts): void {
  for (const dir of DIRECTIONS) {
    threadCounts.connections[dir].tls += Number(c.connections?.[dir]?.tls) || 0;
    threadCounts.connections[dir].plain += Number(c.connections?.[dir]?.plain) || 0;
  }
  threadCounts.agentErrors += Number(c.agentErrors) || 0;
  for (const [name, n] of Object.entries(c.dropped ?? {})) {
    threadCounts.dropped[name] = (threadCounts.dropped[name] ?? 0) + (Number(n) || 0);
  }
}
