// The generated dashboard and alert files are what the TypeScript sources produce (no drift, no
// hand edits), and the overview dashboard is internally consistent: stable UID and panel ids, every
// query on a declared data source and variable, only metrics of the contract, no overlapping panels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { ROOT } from './helpers/resets.mjs';

const require = createRequire(import.meta.url);
const GENERATED = path.join(ROOT, 'dashboards/generated');
const dash = JSON.parse(readFileSync(path.join(GENERATED, 'resetwatch-overview.json'), 'utf8'));
const { M, LABELS, BUCKETS } = require(path.join(ROOT, 'dist/agent/contract.js'));
/** Label names that start like metric names (resetwatch_direction): masked before looking for metrics. */
const LABEL_RE = new RegExp(`\\b(?:${Object.values(LABELS).join('|')})\\b`, 'g');
const { ALERTS } = require(path.join(ROOT, 'dist/dashboards/alerts.js'));

test('committed files in dashboards/generated are exactly what the sources generate', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'resetwatch-dash-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'dist/dashboards/generate.js'), '--out', out], { timeout: 30000, stdio: 'pipe' });
    const generated = readdirSync(out).sort();
    assert.deepEqual(
      readdirSync(GENERATED).sort(),
      generated,
      'dashboards/generated holds a file the generator does not write (or misses one)',
    );
    for (const name of generated) {
      const want = readFileSync(path.join(out, name), 'utf8');
      const have = readFileSync(path.join(GENERATED, name), 'utf8');
      assert.ok(
        have === want,
        `dashboards/generated/${name} differs from what dashboards/*.ts generates: run \`npm run dashboards\` and commit the result`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('generator rejects unknown options with one line and exit code 2', () => {
  let err;
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'dist/dashboards/generate.js'), '--bogus'], { timeout: 30000, stdio: 'pipe' });
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'generator accepted --bogus');
  assert.equal(err.status, 2);
  assert.match(err.stderr.toString(), /^dashboards: .*bogus.*\n$/);
});

const panels = dash.panels.filter((p) => p.type !== 'row');
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, t })));

test('overview dashboard: stable UID, unique stable panel ids, alerts link to existing panels', () => {
  assert.equal(dash.uid, 'resetwatch-overview');
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate panel id');
  assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
  for (const a of ALERTS)
    assert.ok(
      panels.some((p) => p.id === a.panelId),
      `${a.name} links to panel ${a.panelId}, which does not exist`,
    );
});

test('overview dashboard: panels do not overlap and fit the 24-column grid', () => {
  const cells = new Set();
  for (const p of dash.panels) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24, `panel ${p.id} outside the grid`);
    for (let i = x; i < x + w; i++)
      for (let j = y; j < y + h; j++) {
        assert.ok(!cells.has(`${i},${j}`), `panel ${p.id} overlaps another at ${i},${j}`);
        cells.add(`${i},${j}`);
      }
  }
});

test('overview dashboard: the variables the issue asks for, all used', () => {
  const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));
  assert.deepEqual(Object.keys(vars).sort(), ['datasource', 'direction', 'instance', 'job', 'namespace', 'peer', 'pod', 'traces']);
  assert.equal(vars.datasource.query, 'prometheus');
  assert.equal(vars.traces.query, 'tempo');
  for (const name of ['job', 'namespace', 'pod', 'instance', 'direction', 'peer']) {
    // "All" must also match series without the label (no namespace outside Kubernetes, empty server peer).
    assert.equal(vars[name].includeAll, true, name);
    assert.equal(vars[name].allValue, '.*', name);
  }
  const text = JSON.stringify(dash.panels);
  for (const name of Object.keys(vars))
    assert.ok(text.includes(`$${name}`) || text.includes(`\${${name}`), `variable ${name} is not used by any panel`);
});

test('overview dashboard: every query is on a declared data source and uses only declared variables', () => {
  const declared = new Set(dash.templating.list.map((v) => v.name));
  const builtin = new Set(['__rate_interval', '__range', '__interval']);
  assert.ok(targets.length >= 25, `only ${targets.length} queries`);
  for (const { panel, t } of targets) {
    const ds = t.datasource ?? panel.datasource;
    assert.ok(['${datasource}', '${traces}'].includes(ds?.uid), `panel ${panel.id} query ${t.refId} has data source ${JSON.stringify(ds)}`);
    const q = t.expr ?? t.query;
    assert.ok(typeof q === 'string' && q.length > 0, `panel ${panel.id} query ${t.refId} is empty`);
    for (const [, name] of q.matchAll(/\$\{?(\w+)/g)) {
      assert.ok(declared.has(name) || builtin.has(name), `panel ${panel.id} uses undeclared $${name}`);
    }
  }
});

test('overview dashboard: only metrics of the contract, target selector on every Prometheus query', () => {
  const known = new Set(Object.values(M).flatMap((m) => [m, `${m}_bucket`, `${m}_count`, `${m}_sum`]));
  for (const { panel, t: target } of targets.filter(({ t }) => t.expr !== undefined)) {
    const t = { expr: target.expr.replace(LABEL_RE, 'label') };
    const metrics = [...t.expr.matchAll(/\b(resetwatch_\w+)/g)].map((m) => m[1]);
    assert.ok(metrics.length > 0, `panel ${panel.id}: no resetwatch metric in ${t.expr}`);
    for (const m of metrics) assert.ok(known.has(m), `panel ${panel.id} uses unknown metric ${m}`);
    // Every series selector (resetwatch_* and up) is narrowed by job/namespace/pod/instance.
    for (const [sel] of t.expr.matchAll(/\b(?:resetwatch_\w+|up)\{[^}]*\}/g)) {
      assert.match(sel, /job=~"\$job", namespace=~"\$namespace", pod=~"\$pod", instance=~"\$instance"/, `panel ${panel.id}: ${sel}`);
    }
    assert.doesNotMatch(t.expr, /\b(?:resetwatch_\w+|up)\b(?!\{|_)/, `panel ${panel.id}: bare metric without selector in ${t.expr}`);
  }
});

test('overview dashboard: exemplars on the reset-rate panels (the counter carries trace_id), heatmaps read Prometheus buckets', () => {
  const withExemplars = targets.filter(({ t }) => t.exemplar === true);
  for (const id of [20, 23, 32, 40])
    assert.ok(
      withExemplars.some(({ panel }) => panel.id === id),
      `panel ${id} has no exemplars`,
    );
  for (const { panel, t } of withExemplars)
    assert.match(t.expr, /resetwatch_resets_total/, `panel ${panel.id} asks for exemplars of a metric without them`);
  for (const p of panels.filter((p) => p.type === 'heatmap')) {
    assert.equal(p.options.calculate, false, `heatmap ${p.id} recalculates buckets`);
    assert.equal(p.targets[0].format, 'heatmap');
    assert.match(p.targets[0].expr, /sum by \(le\) \(increase\(resetwatch_\w+_bucket\{/);
  }
});

/** A panel query with "All" selected and a 5-minute rate window, for promtool. */
const allSelected = (expr) => expr.replaceAll('$__rate_interval', '5m').replace(/\$(job|namespace|pod|instance|direction|peer)\b/g, '.*');

/** Runs `promql_expr_test` cases (one per `tests` entry) through `promtool test rules`. */
function promtoolExprTests(tests) {
  const dir = mkdtempSync(path.join(tmpdir(), 'resetwatch-panels-'));
  try {
    writeFileSync(path.join(dir, 'test.yml'), JSON.stringify({ rule_files: [], evaluation_interval: '1m', tests }));
    const r = spawnSync('promtool', ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('Share of connections reset (panel 2): per direction, idle-phase resets left out', () => {
  // Behind HAProxy: 80% of accepted connections end in an idle reset (nothing lost), 1% in a
  // response-phase one; 1% of dialled connections refused. Both shares read 1%.
  const sel = (labels) => `{job="shop", ${labels}}`;
  const input = [
    { series: `${M.connections}${sel('resetwatch_direction="server", resetwatch_tls="false"')}`, values: '0+100x10' },
    { series: `${M.connections}${sel('resetwatch_direction="client", resetwatch_tls="false"')}`, values: '0+300x10' },
    { series: `${M.resets}${sel('resetwatch_direction="server", resetwatch_phase="idle", error_type="ECONNRESET"')}`, values: '0+80x10' },
    {
      series: `${M.resets}${sel('resetwatch_direction="server", resetwatch_phase="response", error_type="ECONNRESET"')}`,
      values: '0+1x10',
    },
    {
      series: `${M.resets}${sel('resetwatch_direction="client", resetwatch_phase="connect", error_type="ECONNREFUSED", server_address="db", server_port="5432"')}`,
      values: '0+3x10',
    },
  ];
  const [target] = panels.find((p) => p.id === 2).targets;
  assert.equal(target.legendFormat, '{{resetwatch_direction}}');
  promtoolExprTests([
    {
      interval: '1m',
      input_series: input,
      promql_expr_test: [
        {
          // 1 for each direction whose share is 1%, nothing otherwise.
          expr: `(${allSelected(target.expr)} > 0.0099 < 0.0101) * 0 + 1`,
          eval_time: '10m',
          exp_samples: ['client', 'server'].map((d) => ({ labels: `{resetwatch_direction="${d}"}`, value: 1 })),
        },
      ],
    },
  ]);
});

test('Idle time before reuse p50/p90/p99 (panel 42) read the keep-alive race within 0.5 s (2 s) of the timeout', () => {
  // The race lands just above the server's timeout (a trial behind nginx's 2 s: 2.004–2.038 s).
  // The panel's own queries, evaluated by promtool over buckets holding such idle times: with
  // only the next round edge above the timeout, p50 read the middle of that bucket (3.0 s).
  const panel = panels.find((p) => p.id === 42);
  const name = `${M.idleBeforeReuse}_bucket`;
  const exprs = panel.targets.map((t) => allSelected(t.expr));
  const timeouts = [
    [2, 0.5], // nginx keepalive_timeout in the trial
    [5, 0.5], // Apache
    [6, 0.5], // Node's http.Server: 5 s plus its 1 s buffer
    [60, 2], // AWS ALB
    [75, 2], // nginx's default
  ];
  const tests = timeouts.map(([timeout, within]) => {
    // 10 races a minute, each idle 4–40 ms past the timeout: all in the bucket just above it.
    const idle = timeout + 0.004;
    const input = [...BUCKETS.idle, '+Inf'].map((le) => ({
      series: `${name}{job="shop", resetwatch_direction="client", resetwatch_phase="request", le="${le}"}`,
      values: le === '+Inf' || le >= idle ? '0+10x10' : '0x10',
    }));
    // 1 where the quantile is within range, nothing otherwise.
    const check = (e) => ({
      expr: `(${e} >= ${timeout} <= ${timeout + within}) * 0 + 1`,
      eval_time: '10m',
      exp_samples: [{ labels: '{}', value: 1 }],
    });
    return { interval: '1m', input_series: input, promql_expr_test: exprs.map(check) };
  });
  promtoolExprTests(tests);
});
