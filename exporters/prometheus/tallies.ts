// The reset metrics' values as resetwatch counts them (./totals.ts), apart from the prom-client
// metrics that serve them (./metrics.ts): recording a reset (./record.ts) never loads prom-client,
// which loads with the first collection (a scrape, a family or cluster exchange, an app's
// `registry`). A thread's first reset, or a main thread's first from a worker, then costs no
// prom-client load (~12–16 ms of that stall; found by a trial of worker-thread pools).
import { LABELS, METRICS } from '../../agent/contract';
import { phaseLabels } from '../shared/phase-labels';
import { CounterTotals, HistogramTotals } from './totals';

export interface SampleTotals {
  resets: CounterTotals;
  receivedBytes: HistogramTotals;
  sentBytes: HistogramTotals;
  age: HistogramTotals;
  idle: HistogramTotals;
}

/** The histograms' labels per (direction, phase) (../shared/phase-labels.ts). */
export const histogramLabels = phaseLabels(LABELS.direction, LABELS.phase);

/** A fresh set of totals: this process's own, or a family replica's (./replica.ts). */
export function sampleTotals(): SampleTotals {
  const totals: SampleTotals = {
    resets: new CounterTotals(),
    receivedBytes: new HistogramTotals(METRICS.receivedBytes.buckets),
    sentBytes: new HistogramTotals(METRICS.sentBytes.buckets),
    age: new HistogramTotals(METRICS.connectionAge.buckets),
    idle: new HistogramTotals(METRICS.idleBeforeReuse.buckets),
  };
  // The keep-alive race alert takes increase() of this histogram's count, and increase() cannot
  // count a series' first value: a series born with the first burst of races hid that burst (the
  // second on-call drill). The two label sets it is observed under exist from the start, at 0.
  for (const phase of ['request', 'response'] as const) totals.idle.seed(histogramLabels('client', phase));
  return totals;
}

/** This process's own totals (its threads' resets included), served by ./metrics.ts `own`. */
export const ownTotals = sampleTotals();

/** Resets whose peer was folded into `_OTHER` (./record.ts). */
export const foldedPeers = { count: 0 };
