// The metric contract (agent/contract.ts) is what the outputs serve and what the docs say: every
// family on the Prometheus registry with its help, type, labels and buckets; every OpenTelemetry
// instrument with its unit and description, through a real SDK MeterProvider; and the metric tables
// of docs/prometheus.md and docs/opentelemetry.md. Renaming a metric in the contract without the
// docs (or a metric added to an output without the contract) fails here; the dashboards and alerts
// are checked against the same contract in dashboards.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './helpers/root.mjs';

const require = createRequire(import.meta.url);
const { METRICS, BUCKETS, DEFAULT_PORT, DEFAULT_MAX_PEERS, FOLDED_PEER } = require(path.join(ROOT, 'dist/agent/contract.js'));
const { DEFAULTS } = require(path.join(ROOT, 'dist/agent/config.js'));
const specs = Object.values(METRICS);

/** Rows of the first markdown table after `heading`, as arrays of cells without backticks. */
function table(file, heading) {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const at = text.indexOf(heading);
  assert.ok(at >= 0, `${file}: no "${heading}"`);
  const lines = text.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}
const code = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

test('the Prometheus registry serves exactly the contract: names, help, types, labels, buckets', async () => {
  const { registry } = require(path.join(ROOT, 'dist/exporters/prometheus/index.js'));
  const served = await registry.getMetricsAsJSON();
  assert.deepEqual(served.map((m) => m.name).sort(), specs.map((s) => s.name).sort());
  for (const m of served) {
    const spec = specs.find((s) => s.name === m.name);
    assert.equal(m.help, spec.help, `${m.name} help`);
    assert.equal(String(m.type), spec.type, `${m.name} type`);
  }
  for (const spec of specs) {
    const metric = await registry.getSingleMetric(spec.name);
    assert.deepEqual([...(metric.labelNames ?? [])], [...spec.labels], `${spec.name} labels`);
    if (spec.type === 'histogram') assert.deepEqual(metric.upperBounds, [...spec.buckets], `${spec.name} buckets`);
  }
});

test('the OpenTelemetry instruments are exactly the contract: names, units, descriptions, boundaries', async () => {
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  const { instrumentsFor, record } = require(path.join(ROOT, 'dist/exporters/otel/metrics.js'));
  const { PeerLimiter } = require(path.join(ROOT, 'dist/exporters/shared/peers.js'));
  class Reader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  const event = {
    time: Date.now(),
    direction: 'client',
    errorType: 'ECONNRESET',
    code: 'ECONNRESET',
    message: 'read ECONNRESET',
    phase: 'response',
    tls: false,
    bytesReceived: 10,
    bytesSent: 20,
    connectionAgeMs: 5,
    idleBeforeReuseMs: 4000,
    // A keep-alive race: only those are observed in the idle-before-reuse histogram.
    hint: { id: 'keepalive_race', text: 'keep-alive race' },
    fatal: false,
    serverAddress: '127.0.0.1',
    serverPort: 1,
  };
  // Data for every instrument: max 0 folds the peer; one counted drop.
  record(instrumentsFor(provider), event, DEFAULTS, new PeerLimiter(0));
  require(path.join(ROOT, 'dist/agent/stats.js')).countDropped('contract-test');
  const { resourceMetrics } = await reader.collect();
  const got = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => m.descriptor);
  const want = specs.filter((s) => s.otel !== undefined);
  assert.deepEqual(got.map((d) => d.name).sort(), want.map((s) => s.otel.name).sort());
  for (const s of want) {
    const d = got.find((x) => x.name === s.otel.name);
    assert.equal(d.unit, s.otel.unit, `${s.otel.name} unit`);
    assert.equal(d.description, s.otel.description, `${s.otel.name} description`);
    if (s.buckets) assert.deepEqual(d.advice?.explicitBucketBoundaries, [...s.buckets], `${s.otel.name} boundaries`);
  }
  await provider.shutdown();
});

test('docs/prometheus.md lists exactly the contract: names, types, labels, buckets', () => {
  const rows = table('docs/prometheus.md', '| Metric');
  assert.deepEqual(rows.map((r) => code(r[0])[0]).sort(), specs.map((s) => s.name).sort());
  for (const r of rows) {
    const spec = specs.find((s) => s.name === code(r[0])[0]);
    assert.equal(r[1], spec.type, `${spec.name} type in the docs`);
    assert.deepEqual(code(r[2]), [...spec.labels], `${spec.name} labels in the docs`);
  }
  const buckets = table('docs/prometheus.md', '| Histogram | Buckets');
  const documented = buckets.map((r) =>
    code(r[1])[0]
      .split(',')
      .map((x) => Number(x.trim())),
  );
  assert.deepEqual(documented, [BUCKETS.bytes, BUCKETS.age, BUCKETS.idle]);
});

test('docs/opentelemetry.md maps exactly the contract: instrument, unit, Prometheus name', () => {
  const rows = table('docs/opentelemetry.md', '| OpenTelemetry instrument');
  const mapped = rows
    .filter((r) => code(r[0]).length > 0)
    .map((r) => ({ otel: code(r[0])[0], unit: code(r[2])[0] ?? '', prom: code(r[3])[0] }));
  const want = specs.filter((s) => s.otel !== undefined).map((s) => ({ otel: s.otel.name, unit: s.otel.unit, prom: s.name }));
  const byName = (a, b) => a.otel.localeCompare(b.otel);
  assert.deepEqual(mapped.sort(byName), want.sort(byName));
});

test('defaults of the contract are the config defaults and the documented ones', () => {
  assert.equal(DEFAULTS.port, DEFAULT_PORT);
  assert.equal(DEFAULTS.maxPeers, DEFAULT_MAX_PEERS);
  const doc = readFileSync(path.join(ROOT, 'docs/prometheus.md'), 'utf8');
  assert.match(doc, new RegExp(`\\| \`RESETWATCH_PORT\` \\| \`${DEFAULT_PORT}\` \\|`));
  assert.match(doc, new RegExp(`\\| \`RESETWATCH_MAX_PEERS\` \\| \`${DEFAULT_MAX_PEERS}\` \\|`));
  assert.match(doc, new RegExp(`into \`${FOLDED_PEER}\``));
});

// The two OTLP→Prometheus name translations the dashboards must survive, as their sources state
// them: prometheus/otlptranslator (Collector, Prometheus' OTLP receiver; strategy
// UnderscoreEscapingWithSuffixes) appends the unit's word unless the name already has it as a token,
// drops `{annotation}` units, appends `_total` to counters; @opentelemetry/exporter-prometheus only
// replaces invalid characters and appends `_total` (test/dashboards-otlp.test.mjs runs the latter for real).
const UNIT_WORDS = { s: 'seconds', By: 'bytes', ms: 'milliseconds', 1: '' };
function otlptranslator(name, unit, type) {
  const tokens = name.split(/[^a-zA-Z0-9:]+/).filter(Boolean);
  const word = unit.startsWith('{') || unit === '' ? '' : UNIT_WORDS[unit];
  assert.notEqual(word, undefined, `unit ${unit} not in the test's table`);
  if (word && !tokens.includes(word)) tokens.push(word);
  if (type === 'counter') tokens.splice(0, tokens.length, ...tokens.filter((t) => t !== 'total'), 'total');
  return tokens.join('_');
}
function jsExporter(name, type) {
  const n = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/_+/g, '_');
  return type === 'counter' && !n.endsWith('_total') ? `${n}_total` : n;
}

test('every OpenTelemetry instrument translates to its Prometheus name, by either translator', () => {
  for (const s of specs.filter((x) => x.otel !== undefined)) {
    assert.equal(otlptranslator(s.otel.name, s.otel.unit, s.type), s.name, `${s.otel.name} through otlptranslator`);
    assert.equal(jsExporter(s.otel.name, s.type), s.name, `${s.otel.name} through exporter-prometheus`);
  }
});

test('every Prometheus label of a metric is the translation of its OpenTelemetry attribute key', () => {
  const { LABELS, METRIC_ATTRIBUTES, promLabel } = require(path.join(ROOT, 'dist/agent/contract.js'));
  assert.deepEqual(Object.keys(LABELS).sort(), Object.keys(METRIC_ATTRIBUTES).sort());
  for (const [k, key] of Object.entries(METRIC_ATTRIBUTES)) assert.equal(LABELS[k], promLabel(key), k);
  const translated = new Set(Object.values(LABELS));
  for (const s of specs) {
    if (s.name === METRICS.info.name) continue; // version, node_version: attributes named like the labels
    for (const l of s.labels) assert.ok(translated.has(l), `${s.name}: label ${l} is no translated attribute key`);
  }
  assert.equal(FOLDED_PEER, '_OTHER');
});
