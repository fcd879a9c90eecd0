// The reset metrics' values, counted here per reset and handed to prom-client when it collects
// (its `collect()` callback runs in every `get()`: /metrics, the family exchange, the cluster
// primary's question and an app's own `registry` all read through it). prom-client does all the
// rendering; the totals here are the record: an app that changes these metrics through `registry`
// (inc(), reset(), resetMetrics()) sees its change replaced at the next collection.
//
// Why not `inc()`/`observe()` per reset (measured reason, docs/benchmarks.md "reset path"): each call
// builds the series' hash string from the label values, checks the labels and, for a histogram,
// wraps the call in a closure and a {labels, value} object — four calls per reset, ~2 KB of its
// garbage (heap sampling); the output's whole record path took 2.0 µs per reset in a tight loop
// that way and takes 0.5 µs counting here: a look-up by the label values (../shared/series-index.ts),
// a bucket search and a few number writes; the labels object is built once per series. The scrape tests (test/prometheus-*) fail if a prom-client release renames the
// internals written below.
//
// What collect() writes is prom-client's own per-series shape (`hashMap` values: `{value, labels,
// exemplar}` for a counter, `{labels, bucketValues, sum, count}` for a histogram, non-cumulative
// bucket counts keyed by upper bound), so `get()` returns what it returned when prom-client counted
// itself: the same series in the same order (first seen first), the same exemplar (the last reset
// with a trace, stamped when it was recorded), the same sums (added in the same order).
import type { Counter, Histogram } from 'prom-client';
import { SeriesIndex } from '../shared/series-index';
import { LastFirstMap } from '../shared/last-first';
import { NodeDate } from '../../agent/timers';

type Labels = Readonly<Record<string, string>>;

/** A reset counter series, in prom-client's value shape. */
interface CounterSeries {
  labels: Labels;
  value: number;
  exemplar?: { labelSet: Record<string, string>; value: number; timestamp: number };
}

interface HistogramSeries {
  labels: Labels;
  /** Non-cumulative: counts[i] holds values ≤ bounds[i] and > bounds[i-1]; above the last bound only `count` has them. */
  counts: number[];
  sum: number;
  count: number;
}

/** Internals of a prom-client metric that collect() fills (prom-client 15: `hashMap`, `upperBounds`). */
type Filled = { hashMap: Record<string, unknown>; upperBounds?: number[] };

export class CounterTotals {
  /** First seen first: the order prom-client kept its series in, and the exposition's. */
  private readonly series: CounterSeries[] = [];
  private readonly index = new SeriesIndex<CounterSeries>();

  /**
   * One more in the series of these label values (the peer already admitted or folded), if it
   * exists: false when it does not (then add() it). With `exemplar`, the series' exemplar becomes
   * this reset's (prom-client's incWithExemplar: value 1, stamped now in seconds); without, the
   * previous one stays. The six label values are passed one by one, as in add() and
   * SeriesIndex: one key object filled in place per reset measured +45–95 instructions per reset
   * here and +60–75 in the OpenTelemetry output (callgrind, bench/reset-instr.js, 2026-12-03).
   */
  inc(
    direction: string,
    phase: string,
    errorType: string,
    protocol: string,
    tls: boolean,
    peer: string,
    exemplar: Record<string, string> | undefined,
  ): boolean {
    const s = this.index.get(direction, phase, errorType, protocol, tls, peer);
    if (s === undefined) return false;
    count(s, exemplar);
    return true;
  }

  /** A new series of these label values with its labels, counted once. */
  add(
    direction: string,
    phase: string,
    errorType: string,
    protocol: string,
    tls: boolean,
    peer: string,
    labels: Labels,
    exemplar: Record<string, string> | undefined,
  ): void {
    const s: CounterSeries = { labels, value: 0 };
    this.series.push(s);
    this.index.set(direction, phase, errorType, protocol, tls, peer, s);
    count(s, exemplar);
  }

  /** A `collect` for the prom-client Counter these totals belong to. */
  collector(): (this: Counter<string>) => void {
    const series = this.series;
    return function (this: Counter<string>) {
      const map: Record<string, unknown> = {};
      for (let i = 0; i < series.length; i++) {
        const s = series[i];
        // Keys are never read (prom-client takes Object.values); not integer-like, so in insertion order.
        map[`s${i}`] =
          s.exemplar === undefined
            ? { value: s.value, labels: s.labels }
            : { value: s.value, labels: s.labels, exemplar: { ...s.exemplar } };
      }
      (this as unknown as Filled).hashMap = map;
    };
  }
}

function count(s: CounterSeries, exemplar: Record<string, string> | undefined): void {
  s.value += 1;
  if (exemplar !== undefined) s.exemplar = { labelSet: exemplar, value: 1, timestamp: NodeDate.now() / 1000 };
}

export class HistogramTotals {
  /** Keyed by the labels object itself: callers pass one frozen object per label set. */
  private readonly series = new LastFirstMap<Labels, HistogramSeries>();
  private readonly newSeries = (labels: Labels): HistogramSeries => ({
    labels,
    counts: new Array(this.bounds.length).fill(0),
    sum: 0,
    count: 0,
  });
  constructor(private readonly bounds: readonly number[]) {}

  /** A series for `labels` at 0, before anything is observed under them. */
  seed(labels: Labels): void {
    this.series.get(labels, this.newSeries);
  }

  observe(labels: Labels, value: number): void {
    // As prom-client's observe(): a value that is not a finite number throws (the guard reports it).
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const s = this.series.get(labels, this.newSeries);
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        s.counts[i]++;
        break;
      }
    }
    s.sum += value;
    s.count += 1;
  }

  /** A `collect` for the prom-client Histogram (built with these bounds) these totals belong to. */
  collector(): (this: Histogram<string>) => void {
    const series = this.series;
    const bounds = this.bounds;
    return function (this: Histogram<string>) {
      const map: Record<string, unknown> = {};
      let i = 0;
      for (const s of series.values()) {
        const bucketValues: Record<number, number> = {};
        for (let b = 0; b < bounds.length; b++) bucketValues[bounds[b]] = s.counts[b];
        map[`h${i++}`] = { labels: s.labels, bucketValues, sum: s.sum, count: s.count };
      }
      (this as unknown as Filled).hashMap = map;
    };
  }
}
