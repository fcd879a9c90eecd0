// Constant labels (RESETWATCH_LABELS, start({ labels })): on every series resetwatch serves (and
// on its registry rendered by the app itself), on every log line, and in the Resource of
// resetwatch's own OpenTelemetry providers (OTEL_RESOURCE_ATTRIBUTES wins on a shared key).
// Bounded: at most 10, Prometheus label names, none of resetwatch's own or `__*`, values ≤ 128
// characters; a violation is one line and that label dropped. Real scrape, real OTLP, real reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, fixture, resetLines, diagLines, describeRun } from './helpers/subprocess.mjs';
import { startApp, getText, parseExposition } from './helpers/prometheus.mjs';
import { startReceiver } from './helpers/otlp-receiver.mjs';

const APP = fixture('start-app.cjs');
const LABELS = { team: 'payments', cluster: 'eu-1' };

async function runApp(env, calls = []) {
  const r = await runNode(['--require', 'resetwatch', APP], { env: { START_CALLS: JSON.stringify(calls), ...env } });
  assert.equal(r.code, 0, describeRun(r));
  const report = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{"done"')));
  assert.equal(report.code, 'ECONNRESET');
  return { r, report, lines: resetLines(r.stderr), diags: diagLines(r.stderr) };
}

/** Every sample carries exactly `labels` besides its own. */
function assertAllLabelled(samples, labels, what) {
  assert.ok(samples.length > 10, `${what}: samples`);
  for (const s of samples) {
    for (const [k, v] of Object.entries(labels)) assert.equal(s.labels[k], v, `${what}: ${s.name} ${JSON.stringify(s.labels)}`);
  }
}

test('Prometheus: every served series (text and OpenMetrics) and the app-rendered registry carry the constant labels', async () => {
  const app = startApp('start-app.cjs', { RESETWATCH_LABELS: 'team=payments, cluster=eu-1', START_STAY: '1', START_CALLS: '[]' });
  try {
    const { done, port } = await app.ready;
    assert.equal(done.events, 1);
    const text = await getText(`http://127.0.0.1:${port}/metrics`);
    const samples = parseExposition(text.body);
    assertAllLabelled(samples, LABELS, 'text');
    const resets = samples.filter((s) => s.name === 'resetwatch_resets_total');
    assert.equal(resets.length, 1);
    assert.deepEqual(Object.keys(resets[0].labels).sort(), [
      'cluster',
      'error_type',
      'resetwatch_direction',
      'resetwatch_phase',
      'resetwatch_protocol',
      'server_address',
      'server_port',
      'team',
      'tls_established',
    ]);
    assert.equal(resets[0].value, 1);
    const om = await getText(`http://127.0.0.1:${port}/metrics`, { Accept: 'application/openmetrics-text' });
    assertAllLabelled(parseExposition(om.body.replace(/ # \{.*$/gm, '').replace(/^# EOF$/m, '')), LABELS, 'OpenMetrics');
    assertAllLabelled(parseExposition(done.own), LABELS, 'registry rendered by the app');
  } finally {
    await app.stop();
  }
});

test('start({ labels }) replaces the environment labels; a log line carries them as fields', async () => {
  const { report, lines, r } = await runApp({ RESETWATCH_LABELS: 'team=payments,cluster=eu-1', RESETWATCH_LOG: 'stderr' }, [
    { labels: { team: 'checkout' } },
  ]);
  assert.deepEqual(report.config.labels, { team: 'checkout' });
  assert.equal(lines.length, 1, r.stderr);
  assert.equal(lines[0].team, 'checkout');
  assert.equal(lines[0].cluster, undefined);
  assert.equal(lines[0]['error.type'], 'ECONNRESET', 'the line is still the reset line');
  assertAllLabelled(parseExposition(report.own), { team: 'checkout' }, 'registry');

  const env = await runApp({ RESETWATCH_LABELS: 'team=payments,cluster=eu-1', RESETWATCH_LOG: 'stderr' });
  assert.equal(env.lines[0].team, 'payments');
  assert.equal(env.lines[0].cluster, 'eu-1');
});

test('bounded: at most 10, valid and free names, values up to 128 characters; each violation one line, that label dropped', async () => {
  const many = Array.from({ length: 12 }, (_, i) => `l${i}=v${i}`);
  const spec = [
    '__meta=x',
    'server_address=x',
    'job=x',
    'bad-name=1',
    `long=${'x'.repeat(129)}`,
    `edge=${'y'.repeat(128)}`,
    'noequals',
    ...many,
  ].join(',');
  const { report, diags, r } = await runApp({ RESETWATCH_LABELS: spec });
  const kept = { edge: 'y'.repeat(128), ...Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`l${i}`, `v${i}`])) };
  assert.deepEqual(report.config.labels, kept);
  assert.deepEqual(
    diags,
    [
      'resetwatch: RESETWATCH_LABELS: "noequals" is not name=value; dropped',
      'resetwatch: RESETWATCH_LABELS: label "__meta" is reserved (names starting with __ belong to Prometheus); dropped',
      'resetwatch: RESETWATCH_LABELS: label "server_address" collides with one of resetwatch\'s own labels or fields; dropped',
      'resetwatch: RESETWATCH_LABELS: label "job" collides with one of resetwatch\'s own labels or fields; dropped',
      'resetwatch: RESETWATCH_LABELS: label "bad-name" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*); dropped',
      'resetwatch: RESETWATCH_LABELS: label "long" has a value longer than 128 characters; dropped',
      'resetwatch: RESETWATCH_LABELS: label "l9" is over the limit of 10 labels; dropped',
      'resetwatch: RESETWATCH_LABELS: label "l10" is over the limit of 10 labels; dropped',
      'resetwatch: RESETWATCH_LABELS: label "l11" is over the limit of 10 labels; dropped',
    ],
    r.stderr,
  );
  assert.equal(report.events, 1, 'the agent runs');
  for (const s of parseExposition(report.own)) assert.equal(s.labels.server_address === 'x', false);
  const coded = await runApp({}, [{ labels: { team: 7, ok: 'yes' } }]);
  assert.deepEqual(coded.report.config.labels, { ok: 'yes' });
  assert.deepEqual(coded.diags, ['resetwatch: start() option labels: label "team" has a value that is not a string; dropped']);
});

test('OpenTelemetry: in the Resource of resetwatch’s own providers (spans and metrics); OTEL_RESOURCE_ATTRIBUTES wins', async () => {
  const rx = await startReceiver();
  try {
    await runApp({
      RESETWATCH_LABELS: 'team=payments,cluster=eu-1',
      OTEL_RESOURCE_ATTRIBUTES: 'cluster=from-otel',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    const [span] = await rx.waitFor('spans', (s) => s.filter((x) => x.name === 'connection reset'));
    assert.equal(span.resource.team, 'payments');
    assert.equal(span.resource.cluster, 'from-otel');
    assert.equal(span.attributes.team, undefined, 'process identity is in the Resource, not repeated on each span');
    const points = await rx.waitFor('metrics', (m) => {
      const p = m.filter((x) => x.name === 'resetwatch.resets');
      return p.length > 0 && p;
    });
    for (const p of points) {
      assert.equal(p.resource.team, 'payments');
      assert.equal(p.resource.cluster, 'from-otel');
      assert.equal(p.attributes.team, undefined);
    }
    const hist = rx.metrics.filter((x) => x.name === 'resetwatch.reset.received_bytes');
    assert.ok(hist.length > 0);
    for (const p of hist) assert.equal(p.resource.team, 'payments');
  } finally {
    await rx.close();
  }
});
