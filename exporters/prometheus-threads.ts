// Worker threads load the agent too (they inherit execArgv) but must never bind the metrics port.
// Each reset in a worker thread is posted on a BroadcastChannel to the process's main thread, which
// records it like its own: one peer bound for the whole process, counters that survive the thread.
// The worker opens a channel per reset and closes it at once, so it never queues the other
// threads' messages; the main thread's receiving channel is unref'd and never keeps the process alive.
import { BroadcastChannel } from 'node:worker_threads';
import { onReset } from '../agent/bus';
import { guard } from '../agent/guard';
import { countDropped } from '../agent/stats';
import type { Direction, ErrorType, Phase, ResetEvent } from '../agent/types';
import type { ResetRecord } from './recent';

const CHANNEL = 'resetwatch:prometheus:resets';

/** What the metrics need from a reset: small, plain and structured-cloneable. */
export interface Sample {
  direction: Direction;
  phase: Phase;
  errorType: ErrorType;
  tls: boolean;
  /** Unfolded, length-bounded peer label value. */
  peer: string;
  bytesReceived: number;
  bytesSent: number;
  connectionAgeMs: number;
  idleBeforeReuseMs?: number;
  traceId?: string;
  spanId?: string;
}

export interface ThreadMessage {
  sample: Sample;
  record?: ResetRecord;
}

export function forwardToMainThread(make: (e: ResetEvent) => ThreadMessage): () => void {
  return onReset((e) => {
    const message = make(e);
    try {
      const ch = new BroadcastChannel(CHANNEL);
      ch.postMessage({ v: 1, ...message });
      ch.close();
    } catch {
      countDropped('prometheus');
    }
  });
}

export function receiveFromThreads(fn: (m: ThreadMessage) => void): () => void {
  const ch = new BroadcastChannel(CHANNEL);
  (ch as unknown as { unref(): void }).unref();
  ch.onmessage = (msg: unknown) => {
    guard('prometheus.thread', () => {
      const data = (msg as { data?: { v?: number } & ThreadMessage }).data;
      if (data?.v === 1 && data.sample !== undefined) fn(data);
    });
  };
  return () => ch.close();
}
