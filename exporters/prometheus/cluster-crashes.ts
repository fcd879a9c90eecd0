// A cluster worker's reset it crashes on, handed to the primary as it happens. The primary asks
// its workers for their counts only at scrape time (./cluster.ts); a worker that crashes never
// answers again, so the reset that killed it (the one an on-call engineer looks for) was lost.
//
// Worker side: ./record.ts calls sendCrash() for a fatal reset, over the same IPC messages as the
// answers (`cmd` NODE_…: Node delivers them as 'internalMessage', never to the app's handlers).
// Primary side: Node publishes every ChildProcess it creates on the `child_process`
// diagnostics channel; each one with an IPC channel gets an 'internalMessage' listener (Node's
// own child_process adds one there too), which keeps what its worker sends until ./cluster.ts
// sums it. Light: no prom-client until a scrape.
import * as dc from 'node:diagnostics_channel';
import { guard } from '../../agent/guard';
import { countDropped } from '../../agent/stats';
import type { ResetRecord } from './recent';
import type { Sample } from './threads';
import { queueMicrotask } from '../../agent/timers';

export const CMD = 'NODE_RESETWATCH_METRICS';

/** One fatal reset of a worker; `seq` counts them per worker, from 1. */
export interface Crash {
  cmd: string;
  type: 'crash';
  seq: number;
  sample: Sample;
  record?: ResetRecord;
}

// ---- worker side ----

/** Fatal resets this worker has sent; every answer to the primary says how many it holds. */
export let crashesSent = 0;
/** This process is a cluster worker whose primary asks it for its counts (./cluster.ts answerPrimary). */
export let answering = false;

export function setAnswering(on: boolean): void {
  answering = on;
}

export function sendCrash(sample: Sample, record: ResetRecord | undefined): void {
  crashesSent++;
  const message: Crash = { cmd: CMD, type: 'crash', seq: crashesSent, sample, record };
  // The write is attempted at once (libuv writes to an idle pipe in the call): it reaches the
  // primary although this process dies right after. With a callback: no 'error' on process.
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

// ---- primary side ----

/**
 * Per child process id (a cluster worker's), the crashes it sent that no answer of its holds yet.
 * By pid, not by the ChildProcess: a crash loop nobody scrapes keeps no dead process objects.
 */
export const received = new Map<number, Crash[]>();
/** Bound: a crash loop between two scrapes, one entry per crashed worker. */
const MAX_KEPT = 10000;
let kept = 0;

function onMessage(pid: number, message: unknown): void {
  const m = message as Crash | null;
  if (m === null || typeof m !== 'object' || m.cmd !== CMD || m.type !== 'crash' || typeof m.sample !== 'object') return;
  if (kept >= MAX_KEPT) {
    countDropped('prometheus');
    return;
  }
  kept++;
  const list = received.get(pid);
  if (list === undefined) received.set(pid, [m]);
  else list.push(m);
}

/** Drops the crashes of process `pid` that its answer holds (the first `holds`); ./cluster.ts sums the rest. */
export function settle(pid: number, holds: number): Crash[] {
  const list = received.get(pid);
  if (list === undefined) return [];
  const rest = list.filter((c) => c.seq > holds);
  kept -= list.length - rest.length;
  if (rest.length === 0) received.delete(pid);
  else received.set(pid, rest);
  return rest;
}

/** The crashes of a process that is gone, beyond the `holds` its last answer counted; forgotten here. */
export function take(pid: number, holds: number): Crash[] {
  const rest = settle(pid, holds);
  received.delete(pid);
  kept -= rest.length;
  return rest;
}

type ChildLike = { channel?: unknown; pid?: number; on(event: string, listener: (m: unknown) => void): unknown };

function onChild(message: unknown): void {
  const child = (message as { process?: ChildLike } | null)?.process;
  if (child === undefined) return;
  // Published as the ChildProcess is made, before fork() sets up its IPC channel: asked once the
  // code that forked it is done (its worker cannot have written anything yet).
  queueMicrotask(() =>
    guard('prometheus.cluster.child', () => {
      if (child.channel == null) return;
      child.on('internalMessage', (m: unknown) => {
        if (typeof child.pid === 'number') guard('prometheus.cluster.crash', onMessage, child.pid, m);
      });
    }),
  );
}

let subscribed = false;

/** Listens for workers' crashes from now on (agent/register.ts, as the hooks install). */
export function receiveCrashes(): () => void {
  if (!subscribed) dc.subscribe('child_process', onChild);
  subscribed = true;
  return () => {
    if (subscribed) dc.unsubscribe('child_process', onChild);
    subscribed = false;
  };
}
