// A real Prometheus scrapes a fixture app run under `node --require resetwatch` that provokes a
// known number of resets per phase; Prometheus' HTTP API must return exactly those numbers, the
// reset counter must carry an exemplar with the trace id of a reset, and `promtool check metrics`
// must find nothing to complain about in the text exposition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startApp, startPrometheus, getText, parseExposition, sumOf, tally } from './helpers/prometheus.mjs';

const ROUNDS = 3;
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
// What prom-app.cjs provokes once per round (scenario → direction/phase/error_type).
const PER_ROUND = {
  'client/connect/ECONNREFUSED': 1,
  'client/established/ECONNRESET': 1,
  'client/tls_handshake/ECONNRESET': 1,
  'server/request/ECONNRESET': 1,
  'client/response/ECONNRESET': 1,
  'server/response/ECONNRESET': 1,
  'server/idle/ECONNRESET': 1,
};
// prom-app.cjs's "reused" scenario: a second client/response reset, on a keep-alive socket that
// sat idle ~100 ms before reuse; "reusedSlow": a third, on a reused socket whose server took the
// request and reset it 700 ms later (no race).
PER_ROUND['client/response/ECONNRESET'] += 2;

test('Prometheus scrapes exactly the resets the app provoked, per phase, with an exemplar', async (t) => {
  const app = startApp('prom-app.cjs', { PROM_APP_ROUNDS: String(ROUNDS), PROM_APP_TRACE_ID: TRACE_ID });
  t.after(() => app.stop());
  const { done, port } = await app.ready;

  // The agent saw exactly what the fixture provoked (if not, the core is at fault, not the exporter).
  const expected = Object.fromEntries(Object.entries(PER_ROUND).map(([k, n]) => [k, n * ROUNDS]));
  assert.deepEqual(tally(done.events), expected);

  const prom = await startPrometheus([`127.0.0.1:${port}`]);
  t.after(() => prom.stop());
  const total = ROUNDS * Object.values(PER_ROUND).reduce((a, n) => a + n, 0);
  const byPhase = await prom.until(
    'sum by (resetwatch_direction, resetwatch_phase, error_type) (resetwatch_resets_total)',
    (r) => r.reduce((a, s) => a + Number(s.value[1]), 0) === total,
  );
  const got = {};
  for (const s of byPhase ?? [])
    got[`${s.metric.resetwatch_direction}/${s.metric.resetwatch_phase}/${s.metric.error_type}`] = Number(s.value[1]);
  assert.deepEqual(got, expected, `Prometheus log:\n${prom.log()}`);

  // The scrape itself was healthy, and Prometheus negotiated OpenMetrics (exemplars only exist there).
  const up = await prom.query('up{job="resetwatch"}');
  assert.equal(up[0]?.value[1], '1');

  // Histograms: one observation per reset, labelled by direction and phase only.
  const counts = await prom.query('sum by (resetwatch_direction, resetwatch_phase) (resetwatch_reset_connection_age_seconds_count)');
  assert.equal(
    counts.reduce((a, s) => a + Number(s.value[1]), 0),
    total,
  );
  for (const s of counts) assert.deepEqual(Object.keys(s.metric).sort(), ['resetwatch_direction', 'resetwatch_phase']);
  const received = await prom.query('sum(resetwatch_reset_received_bytes_count)');
  assert.equal(Number(received[0].value[1]), total);
  // Connect-phase resets received nothing: all in the le="0" bucket.
  const zero = await prom.query('sum(resetwatch_reset_received_bytes_bucket{resetwatch_phase="connect",le="0"})');
  assert.equal(Number(zero[0].value[1]), ROUNDS);
  // Only the race on the reused keep-alive socket has an idle-before-reuse observation (~0.1 s), not
  // the request a server took and died on (the keep-alive alert counts these observations).
  const idle = await prom.query('sum by (resetwatch_direction, resetwatch_phase) (resetwatch_reset_idle_before_reuse_seconds_count)');
  // The client's request and response series exist from the start (at 0 until a race).
  assert.deepEqual(idle.map((s) => [s.metric.resetwatch_direction, s.metric.resetwatch_phase, s.value[1]]).sort(), [
    ['client', 'request', '0'],
    ['client', 'response', String(ROUNDS)],
  ]);
  const idleLow = await prom.query('sum(resetwatch_reset_idle_before_reuse_seconds_bucket{le="0.05"})');
  const idleHigh = await prom.query('sum(resetwatch_reset_idle_before_reuse_seconds_bucket{le="1"})');
  assert.equal(Number(idleLow[0].value[1]), 0);
  assert.equal(Number(idleHigh[0].value[1]), ROUNDS);

  // The denominator: connections opened, by direction and tls; at least one TLS client connection per round.
  const conns = await prom.query('resetwatch_connections_total');
  assert.equal(conns.length, 4);
  const tlsClient = conns.find((s) => s.metric.resetwatch_direction === 'client' && s.metric.resetwatch_tls === 'true');
  assert.ok(Number(tlsClient.value[1]) >= ROUNDS);

  const info = await prom.query('resetwatch_info');
  assert.equal(info.length, 1);
  assert.equal(info[0].metric.node_version, process.version);
  assert.match(info[0].metric.version, /^\d+\.\d+\.\d+/);
  assert.equal(info[0].value[1], '1');
  const errors = await prom.query('resetwatch_agent_errors_total');
  assert.equal(errors[0].value[1], '0');
  const dropped = await prom.query('resetwatch_dropped_events_total{resetwatch_exporter="prometheus"}');
  assert.equal(dropped[0].value[1], '0');

  // Exemplar: the server-side response reset carried the caller's traceparent.
  const ex = await prom.exemplars('resetwatch_resets_total{resetwatch_direction="server",resetwatch_phase="response"}');
  const labels = ex.flatMap((series) => series.exemplars.map((e) => e.labels));
  assert.ok(
    labels.some((l) => l.trace_id === TRACE_ID),
    `no exemplar with trace_id ${TRACE_ID}: ${JSON.stringify(ex)}`,
  );

  // promtool lints the text format (the exposition Prometheus falls back to).
  const text = await getText(`http://127.0.0.1:${port}/metrics`);
  assert.equal(text.status, 200);
  assert.match(text.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text.body, encoding: 'utf8', timeout: 20000 });
  assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
  assert.equal((lint.stdout + lint.stderr).trim(), '');

  // The text format and the scrape agree with each other.
  const samples = parseExposition(text.body);
  assert.equal(sumOf(samples, 'resetwatch_resets_total'), total);
  assert.equal(sumOf(samples, 'resetwatch_peers_folded_total'), 0);
  // Dropped events: a series per output from the start (log too, off here); the rate limits and
  // otel_metrics only with their first drop (docs/prometheus.md).
  assert.deepEqual(
    samples.filter((s) => s.name === 'resetwatch_dropped_events_total').map((s) => [s.labels.resetwatch_exporter, s.value]),
    [
      ['log', 0],
      ['otel', 0],
      ['prometheus', 0],
    ],
  );
});

test('OpenMetrics on request: counters named per the spec, exemplar with trace_id, # EOF', async (t) => {
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'server_response', PROM_APP_TRACE_ID: TRACE_ID });
  t.after(() => app.stop());
  const { port } = await app.ready;
  const om = await getText(`http://127.0.0.1:${port}/metrics`, {
    Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  });
  assert.equal(om.status, 200);
  assert.match(om.headers.get('content-type'), /^application\/openmetrics-text; version=1\.0\.0/);
  assert.match(om.body, /^# TYPE resetwatch_resets counter$/m);
  assert.match(
    om.body,
    new RegExp(
      `^resetwatch_resets_total\\{resetwatch_direction="server",resetwatch_phase="response",error_type="ECONNRESET",resetwatch_protocol="[a-z0-9./]+",tls_established="false"\\} 1 # \\{trace_id="${TRACE_ID}",span_id="[0-9a-f]{16}"\\} 1 \\d+(\\.\\d+)?$`,
      'm',
    ),
  );
  assert.ok(om.body.endsWith('# EOF\n'));
  // The text format after an OpenMetrics scrape still says resetwatch_resets_total (no in-place renaming).
  const text = await getText(`http://127.0.0.1:${port}/metrics`);
  assert.match(text.body, /^# TYPE resetwatch_resets_total counter$/m);
  assert.doesNotMatch(text.body, / # \{/);
  // curl's and browsers' Accept get the text format.
  for (const accept of ['*/*', 'text/html,application/xhtml+xml,*/*;q=0.8', 'application/openmetrics-text;q=0']) {
    const r = await getText(`http://127.0.0.1:${port}/metrics`, { Accept: accept });
    assert.match(r.headers.get('content-type'), /^text\/plain/, accept);
  }
});
