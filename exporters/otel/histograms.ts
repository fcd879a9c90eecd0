// The reset histograms for resetwatch's private MeterProvider, aggregated here and handed to the
// SDK's reader at collection time (a MetricProducer). Through an SDK instrument every `record`
// hashes its attributes (~0.8 µs, three or four calls per reset: the largest part of the reset
// path); here a reset costs a Map lookup and a bucket search. The app's own MeterProvider cannot
// take a producer from us, so there the SDK's histograms are used (otel-metrics.ts).
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import { VERSION } from '../../agent/version';
import { LastFirstMap } from '../shared/last-first';
import { NodeDate } from '../../agent/timers';

/** What otel-metrics.ts records into: an SDK Histogram or a LocalHistogram. */
export interface HistogramSink {
  record(value: number, attributes: Attributes): void;
  /** A series at 0 before anything is recorded (LocalHistogram only: an SDK histogram cannot). */
  seed?(attributes: Attributes): void;
}

interface Series {
  attrs: Attributes;
  start: HrTime;
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class LocalHistogram implements HistogramSink {
  /** Keyed by the attributes object itself: otel-metrics.ts passes one frozen object per (direction, phase). */
  readonly series = new LastFirstMap<Attributes, Series>();
  constructor(
    readonly name: string,
    readonly description: string,
    readonly unit: string,
    readonly boundaries: readonly number[],
  ) {}

  /** A series' start; a delta collection resets the series in place (LocalHistograms.collect). */
  private readonly newSeries = (attrs: Attributes): Series => ({
    attrs,
    start: millisToHrTime(NodeDate.now()),
    counts: new Array(this.boundaries.length + 1).fill(0),
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
  });

  seed(attributes: Attributes): void {
    this.series.get(attributes, this.newSeries);
  }

  record(value: number, attributes: Attributes): void {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) return; // as the SDK does
    const s = this.series.get(attributes, this.newSeries);
    // Bucket i holds (boundaries[i-1], boundaries[i]], as in the SDK and Prometheus.
    let i = 0;
    while (i < this.boundaries.length && value > this.boundaries[i]) i++;
    s.counts[i]++;
    s.count++;
    s.sum += value;
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
  }
}

export class LocalHistograms implements MetricProducer {
  private readonly all: LocalHistogram[] = [];
  constructor(
    private readonly resource: () => Resource,
    private readonly delta: boolean,
  ) {}

  create(name: string, options: { description: string; unit: string; boundaries: readonly number[] }): LocalHistogram {
    const h = new LocalHistogram(name, options.description, options.unit, options.boundaries);
    this.all.push(h);
    return h;
  }

  /** Called by the reader with every collection; delta temporality starts a new interval. */
  async collect(): Promise<CollectionResult> {
    const now = millisToHrTime(NodeDate.now());
    const metrics: HistogramMetricData[] = [];
    for (const h of this.all) {
      const dataPoints = [];
      for (const s of h.series.values()) {
        // A cumulative series at 0 is a seeded one (seed()): sent, so that a backend's increase()
        // counts its first observations; a delta interval with nothing in it is not.
        if (s.count === 0 && this.delta) continue;
        const empty = s.count === 0;
        dataPoints.push({
          attributes: s.attrs,
          startTime: s.start,
          endTime: now,
          value: {
            buckets: { boundaries: [...h.boundaries], counts: [...s.counts] },
            count: s.count,
            sum: s.sum,
            min: empty ? undefined : s.min,
            max: empty ? undefined : s.max,
          },
        });
        if (this.delta) Object.assign(s, { start: now, counts: s.counts.map(() => 0), count: 0, sum: 0, min: Infinity, max: -Infinity });
      }
      if (dataPoints.length === 0) continue;
      metrics.push({
        descriptor: { name: h.name, description: h.description, unit: h.unit, valueType: ValueType.DOUBLE },
        aggregationTemporality: this.delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      });
    }
    return {
      resourceMetrics: {
        resource: this.resource(),
        scopeMetrics: metrics.length ? [{ scope: { name: 'resetwatch', version: VERSION }, metrics }] : [],
      },
      errors: [],
    };
  }
}
