// node:cluster: the primary serves the sum over itself and all workers; workers never bind.
//
// Transport: Node's IPC channel, with messages whose `cmd` starts with `NODE_`. Node delivers those
// as 'internalMessage' (the mechanism node:cluster itself uses), never as 'message': the app's own
// `process.on('message')` / `worker.on('message')` / `cluster.on('message')` handlers never see
// them, and no 'message' listener is added (prom-client's AggregatorRegistry adds one, which the
// app would see in listener counts and which refs the IPC channel).
//
// Sum: prom-client's AggregatorRegistry.aggregate (counters and histograms summed, resetwatch_info
// by max). On top of it: the peer label is bounded again over the sum (each worker bounds its own),
// the newest exemplar per series is kept (prom-client's aggregation drops exemplars), and a worker
// that exited keeps its last answered counts in a "retired" sum, so the totals never go backwards.
// A reset a worker crashes on reaches the primary as it happens (./cluster-crashes.ts): its last
// answer, if any, plus those crashes, is what it leaves behind.
// One part (a lone process) is served as it is, without the aggregation (alone() below).
import type { Worker } from 'node:cluster';
import { aggregatorRegistry } from './client';
import { guard, reportFailure } from '../../agent/guard';
import { mergeRecent, type ResetRecord } from './recent';
import { foldPeers, labelKey, RESETS, FOLDED, type MetricJSON } from './render';
import { OTHER_PEER, PeerLimiter } from '../shared/peers';
import { peerOfLabels } from './peer-labels';
import { METRICS } from '../../agent/contract';
import { CMD, crashesSent, received, setAnswering, settle, take, type Crash } from './cluster-crashes';
import { SampleReplica } from './replica';
import { cleanRecord, cleanSample } from './family-validate';
import { setTimeout, clearTimeout } from '../../agent/timers';
/** How long the primary waits for workers; a worker that does not answer is served from its last answer. */
export const WORKER_TIMEOUT_MS = 1500;

export interface Snapshot {
  metrics: MetricJSON[];
  recent: ResetRecord[];
}

interface Request {
  cmd: string;
  type: 'collect';
  id: number;
}
interface Answer {
  cmd: string;
  type: 'snapshot';
  id: number;
  snapshot?: Snapshot;
  /** How many of the worker's crash messages (./cluster-crashes.ts) the snapshot holds. */
  crashes?: number;
  error?: string;
}

type Cluster = typeof import('node:cluster');

function clusterModule(): Cluster | undefined {
  try {
    // Loaded only where it can matter (prom-client does the same: some hosts crash on loading it early).
    return require('node:cluster') as Cluster;
  } catch {
    return undefined;
  }
}

/** A cluster worker has an IPC channel and cluster says so. */
export function isClusterWorker(): boolean {
  if (typeof process.send !== 'function') return false;
  return clusterModule()?.isWorker === true;
}

// ---- worker side ----

export function answerPrimary(get: () => Promise<Snapshot>): () => void {
  const handler = (message: unknown) => {
    const m = message as Request | null;
    if (m === null || typeof m !== 'object' || m.cmd !== CMD || m.type !== 'collect') return;
    // Counted before the snapshot is read: a crash recorded meanwhile is summed twice rather than lost.
    const crashes = crashesSent;
    get().then(
      (snapshot) => send({ cmd: CMD, type: 'snapshot', id: m.id, snapshot, crashes }),
      (err: unknown) => {
        reportFailure('prometheus.cluster.worker', err);
        send({ cmd: CMD, type: 'snapshot', id: m.id, error: String(err) });
      },
    );
  };
  process.on('internalMessage' as 'message', handler);
  setAnswering(true);
  return () => {
    setAnswering(false);
    process.removeListener('internalMessage' as 'message', handler);
  };
}

function send(answer: Answer): void {
  guard('prometheus.cluster.send', () => {
    // Always with a callback: without one, a send on a closed channel emits 'error' on process.
    if (process.connected) process.send?.(answer, undefined, undefined, () => {});
  });
}

// ---- primary side ----

/** Last answer of each worker, by its process id, and how many of its crashes it holds. */
const lastAnswer = new Map<number, { snapshot: Snapshot; crashes: number }>();
/** Sum of the last answers of workers that have exited. */
let retired: Snapshot | undefined;
/** Peers admitted over the sum (first come, never evicted). */
const admitted = new PeerLimiter(0);
let nextId = 0;

export interface ClusterSnapshot extends Snapshot {
  workers: { answered: number; total: number };
}

/** A cluster primary's live workers, where it has (or had) any whose metrics it serves; else undefined. */
function clusterWorkers(): Worker[] | undefined {
  const cluster = clusterModule();
  if (cluster === undefined || !cluster.isPrimary) return undefined;
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  const none = workers.length === 0 && lastAnswer.size === 0 && received.size === 0 && retired === undefined;
  return none ? undefined : workers;
}

/** Whether this process serves its own metrics alone: no cluster worker's, live or gone. */
export function noClusterParts(): boolean {
  return clusterWorkers() === undefined;
}

/**
 * In a cluster primary that has (or had) workers: the sum of `local` and every worker. Elsewhere:
 * undefined (serve `local` as it is).
 */
export async function collectCluster(local: Snapshot, recentLimit: number, maxPeers: number): Promise<ClusterSnapshot | undefined> {
  const workers = clusterWorkers();
  if (workers === undefined) return undefined;
  const live = new Set(workers.map((w) => w.process.pid));
  for (const pid of new Set([...lastAnswer.keys(), ...received.keys()])) {
    if (live.has(pid)) continue;
    const last = lastAnswer.get(pid);
    lastAnswer.delete(pid);
    const left = await withCrashes(last?.snapshot, take(pid, last?.crashes ?? 0));
    if (retired !== undefined) left.push(retired);
    if (left.length > 0) retired = await combine(left, recentLimit);
  }
  const answered = (await Promise.all(workers.map(ask))).filter(Boolean).length;
  const parts = [local];
  for (const w of workers) {
    const pid = w.process.pid;
    if (pid === undefined) continue;
    const last = lastAnswer.get(pid);
    parts.push(...(await withCrashes(last?.snapshot, settle(pid, last?.crashes ?? 0))));
  }
  if (retired !== undefined) parts.push(retired);
  return { ...(await sumSnapshots(parts, recentLimit, maxPeers)), workers: { answered, total: workers.length } };
}

/** The sum of several processes' snapshots (cluster workers, or a process family: ./family.ts). */
export async function sumSnapshots(parts: Snapshot[], recentLimit: number, maxPeers: number): Promise<Snapshot> {
  return {
    metrics: await sum(
      parts.map((p) => p.metrics),
      maxPeers,
    ),
    recent: mergeRecent(
      parts.map((p) => p.recent),
      recentLimit,
    ),
  };
}

/** A worker's last answer plus the crashes it sent after it (a worker that crashed before its first answer: those alone). */
async function withCrashes(answer: Snapshot | undefined, crashes: Crash[]): Promise<Snapshot[]> {
  if (crashes.length === 0) return answer === undefined ? [] : [answer];
  const replica = new SampleReplica();
  if (answer !== undefined) replica.set(answer);
  // Sent by another process (a worker of another resetwatch version, under PM2 a reload's): only
  // well-formed samples and records are summed.
  for (const c of crashes) {
    const sample = cleanSample(c.sample);
    if (sample !== undefined) replica.add(sample, c.record === undefined ? undefined : cleanRecord(c.record));
  }
  return replica.parts();
}

function ask(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    if (!worker.isConnected()) return resolve(false);
    const id = nextId++;
    const child = worker.process;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      child.removeListener('internalMessage' as 'message', onMessage);
      worker.removeListener('disconnect', gone);
      resolve(ok);
    };
    // A worker that exits before it answers never will: the scrape goes on without it at once,
    // not after WORKER_TIMEOUT_MS (a scrape timeout of 1 s failed the whole scrape).
    const gone = () => finish(false);
    const onMessage = (message: unknown) => {
      const m = message as Answer | null;
      if (m === null || typeof m !== 'object' || m.cmd !== CMD || m.type !== 'snapshot' || m.id !== id) return;
      if (m.snapshot !== undefined && Array.isArray(m.snapshot.metrics) && Array.isArray(m.snapshot.recent)) {
        if (child.pid !== undefined)
          lastAnswer.set(child.pid, { snapshot: m.snapshot, crashes: typeof m.crashes === 'number' ? m.crashes : 0 });
        finish(true);
      } else {
        finish(false);
      }
    };
    const timer = setTimeout(() => finish(false), WORKER_TIMEOUT_MS);
    timer.unref();
    child.on('internalMessage' as 'message', onMessage);
    worker.once('disconnect', gone);
    try {
      child.send({ cmd: CMD, type: 'collect', id } satisfies Request, undefined, undefined, (err) => {
        if (err) finish(false);
      });
    } catch {
      finish(false);
    }
  });
}

/** A plain sum (no peer bound, no exemplars): what a departed process leaves behind. */
export async function combine(parts: Snapshot[], recentLimit: number): Promise<Snapshot> {
  if (parts.length === 1) return parts[0];
  const reg = aggregatorRegistry().aggregate(parts.map((p) => p.metrics));
  return {
    metrics: (await reg.getMetricsAsJSON()) as MetricJSON[],
    recent: mergeRecent(
      parts.map((p) => p.recent),
      recentLimit,
    ),
  };
}

type ExemplarLike = { labelSet: Record<string, string>; value: number; timestamp?: number };

/** prom-client's aggregation, plus the peer bound over the sum and the newest exemplar per series. */
async function sum(lists: MetricJSON[][], maxPeers: number): Promise<MetricJSON[]> {
  admitted.max = maxPeers;
  const folded = lists.map((l) => foldPeers(l, admitted));
  const out = folded.length === 1 && ownAsItIs(lists[0], folded[0]) ? alone(folded[0]) : await aggregate(folded);
  let other = 0;
  for (const m of out) {
    if (m.name !== RESETS) continue;
    for (const v of m.values) if (peerOfLabels(v.labels as Record<string, unknown>) === OTHER_PEER) other += v.value;
  }
  // Every reset counted under the peer _OTHER was folded somewhere: the folded total is their sum.
  for (const m of out) if (m.name === FOLDED) m.values = [{ value: other, labels: {} }];
  return out;
}

/** Whether an exemplar carries labels (prom-client's counters hold an empty one until the first). */
function labelled(ex: ExemplarLike | null | undefined): ex is ExemplarLike {
  return ex !== undefined && ex !== null && ex.labelSet !== undefined && Object.keys(ex.labelSet).length > 0;
}

/** Several parts: prom-client's aggregation, with the newest exemplar per series put back. */
async function aggregate(lists: MetricJSON[][]): Promise<MetricJSON[]> {
  const exemplars = new Map<string, ExemplarLike>();
  for (const list of lists) {
    for (const m of list) {
      if (m.name !== RESETS) continue;
      for (const v of m.values) {
        const ex = (v as { exemplar?: ExemplarLike }).exemplar;
        if (!labelled(ex)) continue;
        const key = labelKey(v.labels);
        const seen = exemplars.get(key);
        if (seen === undefined || (ex.timestamp ?? 0) > (seen.timestamp ?? 0)) exemplars.set(key, ex);
      }
    }
  }
  const out = (await aggregatorRegistry().aggregate(lists).getMetricsAsJSON()) as MetricJSON[];
  for (const m of out) {
    if (m.name !== RESETS) continue;
    for (const v of m.values) {
      const ex = exemplars.get(labelKey(v.labels));
      if (ex !== undefined) (v as { exemplar?: ExemplarLike }).exemplar = ex;
    }
  }
  return out;
}

/** resetwatch's own metrics: their aggregators (sum, and max for resetwatch_info) leave one part as it is. */
const OWN_NAMES: ReadonlySet<string> = new Set(Object.values(METRICS).map((m) => m.name));

/**
 * Whether one part is its own sum: only resetwatch's metrics (an app may register its own in
 * `registry`, with any aggregator: 'omit' drops it), and the fold over the sum changed nothing (a
 * peer admitted here but not over the sum joins the part's own `_OTHER` series: a sum of two).
 */
function ownAsItIs(part: MetricJSON[], folded: MetricJSON[]): boolean {
  for (let i = 0; i < part.length; i++) {
    if (!OWN_NAMES.has(part[i].name)) return false;
    const before = part[i].values;
    const after = folded[i].values;
    for (let j = 0; j < before.length; j++) if (after[j] !== before[j]) return false;
  }
  return true;
}

/**
 * One part (a lone process: what nearly every scrape sums) is its own sum, written as prom-client's
 * aggregation writes it (metricAggregators.js): each value's value, labels and metricName, the
 * exemplar put back on the reset counter where it carries labels (aggregate() above), no other
 * field. prom-client's aggregation runs cold in an idle app's scrape, ~0.4 ms of its ~3.4 ms
 * (docs/benchmarks.md "Sixteenth pass"); test/prometheus-sum.test.mjs holds the two paths equal.
 */
function alone(list: MetricJSON[]): MetricJSON[] {
  type Value = { value: number; labels: object; metricName?: string; exemplar?: ExemplarLike | null };
  return list.map(
    (m) =>
      ({
        help: m.help,
        name: m.name,
        type: m.type,
        values: (m.values as Value[]).map((v) => {
          const out: Value = { value: v.value, labels: v.labels };
          if (v.metricName) out.metricName = v.metricName;
          if (m.name === RESETS && labelled(v.exemplar)) out.exemplar = v.exemplar;
          return out;
        }),
        aggregator: m.aggregator,
      }) as unknown as MetricJSON,
  );
}
