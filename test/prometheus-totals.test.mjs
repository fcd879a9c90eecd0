// The reset metrics are counted by resetwatch and handed to prom-client at collection
// (exporters/prometheus/totals.ts). What prom-client then serves must be what it served when it
// counted every reset itself (inc()/observe() per reset): the same series in the same order, the
// same counts, buckets and sums, the same exemplars. Checked against prom-client counting the same
// samples the old way, on the same metric definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { sampleMetrics, sampleMetricList } = require('../dist/exporters/prometheus/metrics.js');
const { observe, resetLabels } = require('../dist/exporters/prometheus/record.js');
const { Registry } = require('prom-client');

const PHASES = ['connect', 'tls_handshake', 'request', 'response', 'idle', 'established'];

/** Deterministic samples over many series: peers, protocols, TLS, odd values, exemplars. */
function samples(n) {
  let seed = 11;
  const r = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const out = [];
  for (let i = 0; i < n; i++) {
    const client = r() < 0.6;
    const s = {
      direction: client ? 'client' : 'server',
      phase: PHASES[Math.floor(r() * PHASES.length)],
      errorType: ['ECONNRESET', 'EPIPE', 'peer_closed'][Math.floor(r() * 3)],
      tls: r() < 0.3,
      protocol: ['http/1.1', undefined, 'h2', 'postgres', 'a|b'][Math.floor(r() * 5)],
      peer: client ? `db${Math.floor(r() * 20)}.local:5432` : `10.0.0.${Math.floor(r() * 20)}`,
      bytesReceived: Math.floor(r() * 2e6),
      bytesSent: [0, 1, 1024, Math.floor(r() * 1e5)][Math.floor(r() * 4)],
      connectionAgeMs: r() * 1e6,
    };
    if (r() < 0.2) s.idleBeforeReuseMs = r() * 30000;
    if (r() < 0.3) {
      s.traceId = (i.toString(16) + 'a'.repeat(32)).slice(0, 32);
      if (r() < 0.8) s.spanId = 'b'.repeat(16);
    }
    out.push(s);
  }
  return out;
}

/** prom-client counting each sample itself, as exporters/prometheus/record.ts did before totals.ts. */
function oldWay(m, s) {
  const labels = resetLabels(s, s.peer);
  if (s.traceId) {
    const exemplarLabels = { trace_id: s.traceId };
    if (s.spanId) exemplarLabels.span_id = s.spanId;
    m.resets.inc({ labels, value: 1, exemplarLabels });
  } else {
    m.resets.inc({ labels, value: 1 });
  }
  const h = { resetwatch_direction: s.direction, resetwatch_phase: s.phase };
  m.receivedBytes.observe(h, s.bytesReceived);
  m.sentBytes.observe(h, s.bytesSent);
  m.age.observe(h, s.connectionAgeMs / 1000);
  if (s.idleBeforeReuseMs !== undefined) m.idle.observe(h, s.idleBeforeReuseMs / 1000);
}

/** Plain prom-client metrics with the same definitions, without the totals' collect(). */
function plainMetrics() {
  const defs = sampleMetricList(sampleMetrics());
  const [counter, ...histograms] = defs;
  const Counter = counter.constructor;
  const Histogram = histograms[0].constructor;
  const c = (m) => new Counter({ name: m.name, help: m.help, labelNames: m.labelNames, registers: [], enableExemplars: true });
  const h = (m) => new Histogram({ name: m.name, help: m.help, labelNames: m.labelNames, buckets: [...m.upperBounds], registers: [] });
  const idle = h(histograms[3]);
  // The keep-alive race histogram's two client series exist from the start, at 0 (metrics.ts).
  for (const phase of ['request', 'response']) idle.zero({ resetwatch_direction: 'client', resetwatch_phase: phase });
  return {
    resets: c(counter),
    receivedBytes: h(histograms[0]),
    sentBytes: h(histograms[1]),
    age: h(histograms[2]),
    idle,
  };
}

async function render(metrics, openMetrics) {
  const reg = new Registry();
  if (openMetrics) reg.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const m of metrics) reg.registerMetric(m);
  const json = await reg.getMetricsAsJSON();
  const text = await reg.metrics();
  return { json, text };
}

/**
 * The same samples with runs of one series (the totals and the histograms keep the last series
 * found first): each followed by up to two more of its series, the peer an equal string that is
 * not the same object.
 */
function inRuns(all) {
  const out = [];
  for (const [i, s] of all.entries()) {
    out.push(s);
    for (let k = 0; k < i % 3; k++) out.push({ ...s, peer: `${s.peer} `.slice(0, -1), bytesSent: s.bytesSent + k });
  }
  return out;
}

for (const [name, all] of [
  ['in random order', samples(4000)],
  ['in runs of one series', inRuns(samples(2000))],
]) {
  test(`the totals serve exactly what prom-client served when it counted each reset, ${name}`, async () => {
    await servesTheSame(all);
  });
}

async function servesTheSame(all) {
  const now = sampleMetrics();
  const before = plainMetrics();
  for (const s of all) {
    observe(now.totals, s, s.peer);
    oldWay(before, s);
  }
  const mine = await render(sampleMetricList(now), true);
  const theirs = await render([before.resets, before.receivedBytes, before.sentBytes, before.age, before.idle], true);
  // Exemplar timestamps are each reset's own clock reading: equal to the millisecond or so, not exactly.
  const stamps = (json) => json.flatMap((m) => m.values.filter((v) => v.exemplar).map((v) => v.exemplar.timestamp));
  const a = stamps(mine.json);
  const b = stamps(theirs.json);
  assert.ok(a.length > 50, 'exemplars');
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 5, `exemplar time ${a[i]} vs ${b[i]}`);
  const clean = (s) => s.replace(/(# \{[^}]*\} \S+) \S+$/gm, '$1 T');
  assert.equal(clean(mine.text), clean(theirs.text));
  assert.ok(mine.text.includes('resetwatch_protocol="a|b"'), 'a label value with the key separator in it');
  // Collected twice: the same again (collect() rebuilds from the totals, nothing accumulates).
  assert.equal(clean((await render(sampleMetricList(now), true)).text), clean(mine.text));
}

/** One client reset's sample, as toSample() makes it. */
const ONE = {
  direction: 'client',
  phase: 'request',
  errorType: 'ECONNRESET',
  tls: false,
  peer: 'x:1',
  bytesReceived: 1,
  bytesSent: 1,
  connectionAgeMs: 1,
};

test("a series' first reset with a trace is its exemplar; one without keeps the last", async () => {
  const m = sampleMetrics();
  const s = { ...ONE };
  observe(m.totals, { ...s, traceId: 'c'.repeat(32), spanId: 'd'.repeat(16) }, s.peer);
  let [series] = (await m.resets.get()).values;
  assert.deepEqual(series.exemplar.labelSet, { trace_id: 'c'.repeat(32), span_id: 'd'.repeat(16) });
  observe(m.totals, s, s.peer);
  [series] = (await m.resets.get()).values;
  assert.equal(series.value, 2);
  assert.equal(series.exemplar.labelSet.trace_id, 'c'.repeat(32));
});

test('a non-finite histogram value throws, as prom-client does, after the counter counted it', () => {
  const m = sampleMetrics();
  const s = { ...ONE, bytesReceived: Number.NaN };
  assert.throws(() => observe(m.totals, s, s.peer), TypeError);
  const p = plainMetrics();
  assert.throws(() => oldWay(p, s), TypeError);
});
