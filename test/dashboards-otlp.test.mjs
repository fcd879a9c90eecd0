// One set of dashboards for both paths: the dashboards workload runs under `node --require
// resetwatch` with the app's own MeterProvider exporting through @opentelemetry/exporter-prometheus
// (the OpenTelemetry project's OTLP→Prometheus translation). A real Prometheus scrapes the native
// /metrics (job "native") and the translated OpenTelemetry metrics (job "otel"). Every Prometheus
// query of the generated overview dashboard and every generated alert expression is evaluated
// against each job: both must return the same series (labels), and data where the workload
// provoked resets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT, freePort, startPrometheus } from './helpers/prometheus.mjs';

const GENERATED = path.join(ROOT, 'dashboards/generated');
const dash = JSON.parse(readFileSync(path.join(GENERATED, 'resetwatch-overview.json'), 'utf8'));
const rules = parse(readFileSync(path.join(GENERATED, 'prometheus-rules.yml'), 'utf8')).groups[0].rules;
const JOBS = ['native', 'otel'];
// Node ≥ 22 reports an RST on an idle pooled HTTP client socket as a clean close, so client-side
// idle-phase resets exist only on Node 20 (test/dashboards-e2e.test.mjs).
const CLIENT_IDLE = Number(process.versions.node.split('.')[0]) < 22;
/** Labels that name where a series came from, not what it is: the target and the OpenTelemetry scope. */
const ORIGIN = new Set(['job', 'instance', 'otel_scope_name', 'otel_scope_version', 'otel_scope_schema_url']);

let app;
let prom;
const targets = {};

before(async () => {
  const otelPort = await freePort();
  app = spawn(process.execPath, ['--require', 'resetwatch', path.join(ROOT, 'test/fixtures/dash-workload-otel.js')], {
    cwd: ROOT,
    env: { ...process.env, RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off', DASH_WORKLOAD_MS: '150000', OTEL_PROM_PORT: String(otelPort) },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  app.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  const end = Date.now() + 20000;
  while (!targets.native || !stderr.includes('otel prometheus exporter listening')) {
    targets.native = /metrics endpoint listening on http:\/\/(127\.0\.0\.1:\d+)\/metrics/.exec(stderr)?.[1];
    if (app.exitCode !== null || Date.now() > end) throw new Error(`workload did not start (exit ${app.exitCode}):\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  targets.otel = `127.0.0.1:${otelPort}`;
  const config = [
    'global: { scrape_interval: 1s, scrape_timeout: 900ms }',
    'scrape_configs:',
    ...JOBS.flatMap((job) => [
      `  - job_name: ${job}`,
      '    static_configs:',
      `      - targets: ["${targets[job]}"]`,
      '        labels: { namespace: "shop", pod: "shop-0" }',
    ]),
    '',
  ].join('\n');
  prom = await startPrometheus([], { config, timeoutMs: 170000 });
  // Resets in every phase on both paths, and enough scrapes for rate() over the panels' interval.
  const phases = await prom.until(
    'count by (job, resetwatch_direction, resetwatch_phase) (resetwatch_resets_total)',
    (r) => JOBS.every((job) => r.filter((s) => s.metric.job === job).length >= (CLIENT_IDLE ? 11 : 10)),
    60000,
  );
  assert.ok(phases && phases.length >= 20, `resets in every phase on both paths: ${JSON.stringify(phases?.map((s) => s.metric))}`);
  await prom.until('count_over_time(resetwatch_info[1m])', (r) => r.length === 2 && r.every((s) => Number(s.value[1]) >= 6), 30000);
});

after(async () => {
  app?.kill('SIGKILL');
  await prom?.stop();
});

/** Grafana's substitution of the dashboard variables, `$job` set to one job. */
function substitute(expr, job) {
  const out = expr
    .replaceAll('$__rate_interval', '4s')
    .replaceAll('$__range', '30s')
    .replaceAll('$__interval', '1s')
    .replaceAll('$job', job)
    .replace(/\$(namespace|pod|instance|direction|peer)\b/g, '.*');
  assert.doesNotMatch(out, /\$/, `unsubstituted variable in ${out}`);
  return out;
}

async function api(pathname, params) {
  const url = new URL(pathname, prom.url);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const body = await (await fetch(url, { signal: AbortSignal.timeout(10000) })).json();
  assert.equal(body.status, 'success', `${params.query ?? params['match[]']}\n→ ${body.errorType}: ${body.error}`);
  return body.data.result ?? body.data;
}

async function evaluate(expr, instant) {
  if (instant) return api('/api/v1/query', { query: expr });
  const now = Date.now() / 1000;
  return api('/api/v1/query_range', { query: expr, start: String(now - 20), end: String(now), step: '1' });
}

/** A series' labels without the origin labels, as a comparable key. */
const keyOf = (s) =>
  JSON.stringify(
    Object.entries(s.metric)
      .filter(([k]) => !ORIGIN.has(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
const allZero = (s) => (s.values ?? [s.value]).every(([, v]) => Number(v) === 0);
const keys = (series) => [...new Set(series.map(keyOf))].sort();

/**
 * The series of a result: all of them, and those not at 0 throughout. A series at 0 throughout may
 * be missing on the other path: /metrics serves the keep-alive race histogram's client series at 0
 * from the start, which an app's own MeterProvider cannot (an SDK histogram has no series before
 * its first value); and a counter that had already moved before Prometheus first scraped one job
 * but not the other reads 0 throughout (increase() does not count a series' first sample) on the
 * first only (a CI run on Node 24: one bucket of a histogram).
 */
function seriesKeys(result) {
  return { all: keys(result), moved: keys(result.filter((s) => !allZero(s))) };
}

/** Every series that moved on one path is there on the other (moved or not). */
const sameSeries = (a, b) => a.moved.every((k) => b.all.includes(k)) && b.moved.every((k) => a.all.includes(k));

const hasData = (result) => result.some((s) => (s.values ?? [s.value]).some(([, v]) => Number.isFinite(Number(v))));

/**
 * Both jobs' results of `run(job)`, retried briefly: a series can show up one scrape earlier on
 * one path than on the other.
 */
async function compare(what, run, mayBeEmpty = false) {
  let last;
  for (let i = 0; i < 8; i++) {
    const [native, otel] = await Promise.all(JOBS.map(run));
    last = { native: seriesKeys(native), otel: seriesKeys(otel), data: hasData(native) && hasData(otel) };
    if (sameSeries(last.native, last.otel) && (last.data || mayBeEmpty)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (!sameSeries(last.native, last.otel))
    assert.deepEqual(last.otel.moved, last.native.moved, `${what}: the translated OpenTelemetry series differ from the native ones`);
  assert.ok(last.data, `${what}: no data on ${JSON.stringify(last)}`);
  return last;
}

test('every panel query returns the same series, with data, from the native and the translated metrics', async () => {
  const panels = dash.panels.filter((p) => p.type !== 'row' && p.datasource?.type === 'prometheus');
  let n = 0;
  for (const p of panels) {
    for (const t of p.targets) {
      const mayBeEmpty = p.id === 40 && t.refId === 'B' && !CLIENT_IDLE;
      await compare(`panel ${p.id} "${p.title}" (${t.refId}) ${t.expr}`, (job) => evaluate(substitute(t.expr, job), t.instant), mayBeEmpty);
      n++;
    }
  }
  assert.ok(n >= 25, `only ${n} queries`);
});

test('every dashboard variable has the same values on both paths', async () => {
  for (const v of dash.templating.list) {
    const m = /^label_values\((.*), (\w+)\)$/.exec(v.definition ?? '');
    if (!m || v.name === 'job') continue;
    await compare(`variable ${v.name}`, async (job) => {
      const series = await api('/api/v1/series', { 'match[]': substitute(m[1], job) });
      // instance: each path's own target, by nature different; it must have one.
      const values = series.map((s) => (m[2] === 'instance' && s.instance ? 'the target' : s[m[2]]));
      return [...new Set(values.filter(Boolean))].map((value) => ({ metric: { value }, value: [0, '1'] }));
    });
  }
});

test('every alert expression returns the same series, per job, from both paths', async () => {
  let withData = 0;
  for (const r of rules) {
    // The value alone (Grafana's query A), so that a quiet workload still has series to compare.
    const value = r.expr.replace(/\)\s*[<>]\s*[\d.]+\s*$/, ')');
    // The thresholded expression: it parses and keeps `job` (values differ by a scrape, so a
    // threshold may be crossed on one path a moment before the other).
    const all = await api('/api/v1/query', { query: r.expr });
    assert.ok(
      all.every((s) => JOBS.includes(s.metric.job)),
      `${r.alert}: series without job: ${r.expr}`,
    );
    const { data } = await compare(
      `alert ${r.alert}: ${value}`,
      async (job) => (await api('/api/v1/query', { query: value })).filter((s) => s.metric.job === job),
      true,
    );
    if (data) withData++;
  }
  // The workload provokes the peer ratio, TLS handshake, keep-alive race and spike alerts' values.
  assert.ok(withData >= 4, `only ${withData} alert values had data on both paths`);
});

test('the translated names are the contract names: nothing resetwatch serves is missing on the OpenTelemetry path', async () => {
  const names = async (job) =>
    new Set(
      (await api('/api/v1/query', { query: `count by (__name__) ({job="${job}", __name__=~"resetwatch_.*"})` })).map(
        (s) => s.metric.__name__,
      ),
    );
  const [native, otel] = await Promise.all(JOBS.map(names));
  assert.deepEqual([...otel].sort(), [...native].sort());
  assert.ok(native.has('resetwatch_resets_total') && native.has('resetwatch_reset_connection_age_seconds_bucket'));
});
