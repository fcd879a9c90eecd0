// End to end against a real Prometheus (/usr/bin/prometheus): it scrapes a workload running under
// `node --require resetwatch` that provokes resets in every phase, and evaluates the generated rules.
// Then every Prometheus query of the overview dashboard (variables substituted as Grafana would) and
// every alert expression goes through Prometheus' HTTP API: all must parse, every panel must return
// data, every rule must evaluate cleanly, the alerts the workload provokes must go pending, and the
// reset counter must carry trace-id exemplars.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { freePort } from './helpers/ports.mjs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers/resets.mjs';

const GENERATED = path.join(ROOT, 'dashboards/generated');
const RULES = path.join(GENERATED, 'prometheus-rules.yml');
const dash = JSON.parse(readFileSync(path.join(GENERATED, 'resetwatch-overview.json'), 'utf8'));
const rules = parse(readFileSync(RULES, 'utf8')).groups[0].rules;
const JOB = 'resetwatch-e2e';
// Static target labels, as Kubernetes service discovery would add them.
const NAMESPACE = 'shop';
const POD = 'shop-0';
const DEADLINE = Date.now() + 100000;
// Node ≥ 22 reports an RST on an idle pooled HTTP client socket as a clean close (checked:
// 'close' with hadError false, no 'error'), so client-side idle-phase resets exist only on Node 20.
const CLIENT_IDLE = Number(process.versions.node.split('.')[0]) < 22;
// What the workload provokes: every phase on both sides (a server never sees `connect`).
const EXPECTED = [
  ...['connect', 'tls_handshake', 'request', 'response', 'established', ...(CLIENT_IDLE ? ['idle'] : [])].map((p) => `client/${p}`),
  ...['tls_handshake', 'request', 'response', 'idle', 'established'].map((p) => `server/${p}`),
];

const procs = [];
let dir;
let prom; // { url, log }
let target; // host:port of the workload's metrics endpoint

function start(cmd, args, opts) {
  const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(child);
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  // Hard bound: nothing this file starts outlives the file's time budget.
  const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(1000, DEADLINE - Date.now()));
  timer.unref();
  child.once('exit', () => clearTimeout(timer));
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(t);
}

async function until(what, fn, ms = 30000, every = 250) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}${prom ? `\nprometheus log:\n${tail(prom.log)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, every));
  }
}

const tail = (file) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
};

async function api(pathname, params = {}) {
  const url = new URL(pathname, prom.url);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  const body = await res.json();
  return { status: res.status, body };
}

async function query(expr) {
  const { body } = await api('/api/v1/query', { query: expr });
  assert.equal(body.status, 'success', `${expr}\n→ ${body.errorType}: ${body.error}`);
  return body.data.result;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'resetwatch-e2e-'));

  // 1. The workload, with the agent picking a free metrics port and telling us which.
  const workload = start(process.execPath, ['--require', 'resetwatch', path.join(ROOT, 'test/fixtures/dash-workload.js')], {
    cwd: ROOT,
    env: { ...process.env, RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off', RESETWATCH_LOG_LEVEL: 'warn', DASH_WORKLOAD_MS: '90000' },
  });
  let stderr = '';
  workload.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  workload.stdout.resume();
  target = await until(
    "the workload's metrics endpoint",
    () => {
      if (workload.exitCode !== null) throw new Error(`workload exited ${workload.exitCode}: ${stderr}`);
      return /metrics endpoint listening on http:\/\/(127\.0\.0\.1:\d+)\/metrics/.exec(stderr)?.[1];
    },
    15000,
    50,
  );

  // 2. Prometheus scraping it every second and evaluating the generated rules every second.
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      `  - job_name: ${JOB}`,
      '    static_configs:',
      `      - targets: ["${target}"]`,
      `        labels: { namespace: "${NAMESPACE}", pod: "${POD}" }`,
      '',
    ].join('\n'),
  );
  const log = path.join(dir, 'prometheus.log');
  const fd = openSync(log, 'w');
  // Under coreutils `timeout` too, so Prometheus cannot outlive a test process that was SIGKILLed.
  const p = start(
    'timeout',
    [
      '--kill-after=5',
      '120',
      '/usr/bin/prometheus',
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--enable-feature=exemplar-storage',
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ],
    { cwd: dir },
  );
  p.stdout.on('data', (d) => writeFileSync(log, d, { flag: 'a' }));
  p.stderr.on('data', (d) => writeFileSync(log, d, { flag: 'a' }));
  closeSync(fd);
  prom = { url: `http://127.0.0.1:${port}`, log };
  await until(
    'Prometheus to be ready',
    async () => {
      if (p.exitCode !== null) throw new Error(`prometheus exited ${p.exitCode}`);
      return (await fetch(`${prom.url}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok;
    },
    20000,
  );

  // 3. Data: resets in every phase, and enough samples for rate() over the dashboard's interval.
  await until(`resets in every phase and direction in Prometheus (${EXPECTED.join(', ')})`, async () => {
    const r = await query(`count by (resetwatch_direction, resetwatch_phase) (resetwatch_resets_total{job="${JOB}"})`);
    const seen = new Set(r.map((s) => `${s.metric.resetwatch_direction}/${s.metric.resetwatch_phase}`));
    return EXPECTED.every((k) => seen.has(k));
  });
  await until('6 scrapes', async () => {
    const r = await query(`count_over_time(resetwatch_info{job="${JOB}"}[1m])`);
    return r.length > 0 && Number(r[0].value[1]) >= 6;
  });
});

after(async () => {
  await Promise.all(procs.map(stop));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Substitutes dashboard variables the way Grafana does for Prometheus (regex-escaped for =~). */
function substitute(expr, values) {
  const regexEscape = (v) => v.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&');
  let out = expr
    .replaceAll('$__rate_interval', '4s') // Grafana: max(4 × scrape interval, $__interval + scrape interval)
    .replaceAll('$__range', '30s')
    .replaceAll('$__interval', '1s');
  for (const [name, v] of Object.entries(values)) {
    out = out.replaceAll(`$${name}`, v === '.*' ? '.*' : regexEscape(v));
  }
  assert.doesNotMatch(out, /\$/, `unsubstituted variable in ${out}`);
  return out;
}

const promPanels = dash.panels.filter((p) => p.type !== 'row' && p.datasource?.type === 'prometheus');
const ALL = { job: '.*', namespace: '.*', pod: '.*', instance: '.*', direction: '.*', peer: '.*' };

async function run(t, values) {
  const expr = substitute(t.expr, values);
  if (t.instant) return { expr, result: await query(expr) };
  const now = Date.now() / 1000;
  const { body } = await api('/api/v1/query_range', { query: expr, start: String(now - 20), end: String(now), step: '1' });
  assert.equal(body.status, 'success', `${expr}\n→ ${body.errorType}: ${body.error}`);
  return { expr, result: body.data.result };
}

const mayBeEmpty = (panel, t) => panel.id === 40 && t.refId === 'B' && !CLIENT_IDLE;

const hasData = (result) => result.some((s) => (s.values ?? [s.value]).some(([, v]) => Number.isFinite(Number(v))));

test('the dashboard variables have values in Prometheus', async () => {
  const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));
  for (const name of ['job', 'namespace', 'pod', 'instance', 'peer']) {
    const m = /^label_values\((.*), (\w+)\)$/.exec(vars[name].definition);
    assert.ok(m, vars[name].definition);
    const { body } = await api('/api/v1/series', { 'match[]': substitute(m[1], ALL) });
    assert.equal(body.status, 'success');
    const values = new Set(body.data.map((s) => s[m[2]]).filter(Boolean));
    assert.ok(values.size > 0, `variable ${name}: no values for ${m[1]}`);
  }
});

test('every panel query parses and returns data with "All" selected', async () => {
  let n = 0;
  for (const p of promPanels) {
    for (const t of p.targets) {
      const { expr, result } = await run(t, ALL);
      if (mayBeEmpty(p, t)) continue;
      assert.ok(hasData(result), `panel ${p.id} "${p.title}" (${t.refId}) returned no data:\n${expr}`);
      n++;
    }
  }
  assert.ok(n >= 25, `only ${n} queries`);
});

test('every panel query parses and returns data with one job, namespace, pod, instance, direction and peer selected', async () => {
  // The peer the workload resets in several phases (established, tls_handshake, request).
  const [peerSeries] = await query(
    `topk(1, resetwatch_resets_total{job="${JOB}", resetwatch_direction="client", resetwatch_phase="tls_handshake"})`,
  );
  const one = { job: JOB, namespace: NAMESPACE, pod: POD, instance: target, direction: 'client', peer: peerSeries.metric.server_address };
  for (const p of promPanels) {
    for (const t of p.targets) {
      const { expr, result } = await run(t, one);
      // Idle-phase resets happen with another peer of the workload than the selected one.
      if (p.id === 40 && t.refId === 'B') continue;
      assert.ok(hasData(result), `panel ${p.id} "${p.title}" (${t.refId}) returned no data:\n${expr}`);
    }
  }
});

test('every alert expression parses; every rule evaluates cleanly in Prometheus', async () => {
  for (const r of rules) {
    await query(r.expr);
    await query(r.expr.replace(/\)\s*[<>]\s*[\d.]+\s*$/, ')')); // the value alone (Grafana's query A)
  }
  const groups = await until(
    'every rule evaluated',
    async () => {
      const { body } = await api('/api/v1/rules');
      const all = body.data.groups.flatMap((g) => g.rules);
      return all.length === rules.length && all.every((r) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001')) ? all : undefined;
    },
    15000,
  );
  for (const r of groups) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
});

test('the alerts the workload provokes go pending on real data', async () => {
  // Reset ratio to the refused peer, TLS handshakes reset, reused-socket resets, and a spike out of
  // nothing: all true within seconds (their for: keeps them pending).
  const want = ['ResetwatchPeerResetRatioHigh', 'ResetwatchTLSHandshakeResets', 'ResetwatchKeepAliveRace', 'ResetwatchResetSpike'];
  const alerts = await until(
    `alerts ${want.join(', ')}`,
    async () => {
      const { body } = await api('/api/v1/alerts');
      const names = new Set(body.data.alerts.map((a) => a.labels.alertname));
      return want.every((n) => names.has(n)) ? body.data.alerts : undefined;
    },
    20000,
    500,
  );
  const ratio = alerts.find((a) => a.labels.alertname === 'ResetwatchPeerResetRatioHigh');
  assert.equal(ratio.labels.job, JOB);
  assert.equal(ratio.labels.namespace, NAMESPACE);
  assert.match(ratio.annotations.summary, new RegExp(`^${NAMESPACE}/${JOB}: connections to 127\\.0\\.0\\.1:\\d+ end in a reset \\(\\d`));
  assert.match(ratio.annotations.runbook_url, /docs\/runbook\.md#resetwatchpeerresetratiohigh$/);
  assert.ok(!alerts.some((a) => a.labels.alertname === 'ResetwatchMetricsDown'), 'MetricsDown while the target is up');
});

test('exemplars on resetwatch_resets_total carry the trace id of a reset', async () => {
  const now = Date.now() / 1000;
  const { body } = await api('/api/v1/query_exemplars', {
    query: `resetwatch_resets_total{job="${JOB}"}`,
    start: String(now - 60),
    end: String(now),
  });
  assert.equal(body.status, 'success');
  const exemplars = body.data.flatMap((s) => s.exemplars.map((e) => ({ series: s.seriesLabels, labels: e.labels })));
  assert.ok(exemplars.length > 0, 'no exemplars stored');
  assert.ok(
    exemplars.every((e) => /^[0-9a-f]{32}$/.test(e.labels.trace_id)),
    JSON.stringify(exemplars[0]),
  );
  // The traced requests of the workload are the keep-alive race and the half response (client, response phase).
  assert.ok(exemplars.some((e) => e.series.resetwatch_direction === 'client' && e.series.resetwatch_phase === 'response'));
});
