// The alert rules: promtool lints them and runs their unit tests (every alert just below and at its
// `for:` threshold, plus negative cases); the unit tests are shown to fail when a threshold or a
// `for:` is changed; every alert has summary, description and a runbook_url into a real section of
// docs/runbook.md; the Grafana-managed rules are the same alerts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { ROOT } from './helpers/resets.mjs';

const require = createRequire(import.meta.url);
const GENERATED = path.join(ROOT, 'dashboards/generated');
const { ALERTS } = require(path.join(ROOT, 'dist/dashboards/alerts.js'));
const render = require(path.join(ROOT, 'dist/dashboards/render.js'));
const rules = parse(readFileSync(path.join(GENERATED, 'prometheus-rules.yml'), 'utf8'));
const unit = parse(readFileSync(path.join(GENERATED, 'prometheus-rules.test.yml'), 'utf8'));
const grafana = parse(readFileSync(path.join(GENERATED, 'grafana-alerting.yml'), 'utf8'));
const dash = JSON.parse(readFileSync(path.join(GENERATED, 'resetwatch-overview.json'), 'utf8'));
const runbook = readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8');

function promtool(args, cwd = GENERATED) {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const minutes = (d) => {
  const m = /^(\d+)m$/.exec(d) ?? /^(\d+)h$/.exec(d);
  assert.ok(m, `duration ${d}`);
  return d.endsWith('h') ? Number(m[1]) * 60 : Number(m[1]);
};
const evalMinutes = (d) => {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?$/.exec(d);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
};

test('promtool check rules passes', () => {
  const r = promtool(['check', 'rules', 'prometheus-rules.yml']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
});

test('promtool test rules passes', () => {
  const r = promtool(['test', 'rules', 'prometheus-rules.test.yml']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('every alert has summary, description, severity and a runbook_url into a section of docs/runbook.md', () => {
  const headings = new Set([...runbook.matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1].toLowerCase()));
  const prom = rules.groups[0].rules;
  assert.equal(prom.length, ALERTS.length);
  for (const r of prom) {
    assert.ok(r.annotations.summary.length > 20, `${r.alert} summary`);
    assert.ok(r.annotations.description.length > 80, `${r.alert} description`);
    assert.ok(['warning', 'info'].includes(r.labels.severity), `${r.alert} severity`);
    const url = new URL(r.annotations.runbook_url);
    assert.ok(url.pathname.endsWith('/docs/runbook.md'), r.annotations.runbook_url);
    const anchor = url.hash.slice(1);
    assert.ok(headings.has(anchor), `${r.alert}: docs/runbook.md has no "## ${r.alert}" section (anchor #${anchor})`);
    // The section tells how to confirm with resetwatch's own data and what to fix.
    const section = runbook.split(/^## /m).find((s) => s.toLowerCase().startsWith(anchor));
    for (const word of ['Meaning', 'Confirm', 'Fix'])
      assert.match(section, new RegExp(`^### ${word}`, 'm'), `${r.alert} section lacks "### ${word}"`);
    assert.match(section, /\/resets/, `${r.alert} section does not show how to confirm with /resets`);
  }
});

test('every alert has unit tests just below and at its for: threshold, and a negative case', () => {
  for (const a of ALERTS) {
    const cases = unit.tests.filter((t) => t.alert_rule_test.every((e) => e.alertname === a.name));
    assert.ok(cases.length >= 2, `${a.name}: ${cases.length} test cases`);
    const evals = cases.flatMap((t) => t.alert_rule_test);
    const firing = evals.filter((e) => e.exp_alerts.length > 0);
    assert.ok(firing.length > 0, `${a.name}: no case where it fires`);
    // A firing evaluation one minute after an evaluation in the same case where it does not fire yet.
    const boundary = cases.some((t) =>
      t.alert_rule_test.some(
        (e) =>
          e.exp_alerts.length > 0 &&
          t.alert_rule_test.some((o) => o.exp_alerts.length === 0 && evalMinutes(o.eval_time) === evalMinutes(e.eval_time) - 1),
      ),
    );
    assert.ok(boundary, `${a.name}: no "just below / at for:" pair of evaluations`);
    const negative = cases.some((t) => t.alert_rule_test.every((e) => e.exp_alerts.length === 0));
    assert.ok(negative, `${a.name}: no negative case`);
  }
});

test('the unit tests fail when a threshold is raised or lowered or a for: duration changes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'resetwatch-alerts-'));
  try {
    writeFileSync(path.join(dir, 'prometheus-rules.test.yml'), readFileSync(path.join(GENERATED, 'prometheus-rules.test.yml')));
    for (const a of ALERTS) {
      for (const [what, change] of [
        // Tighter: the firing cases must stop firing on time.
        [
          'threshold (tighter)',
          (x) => {
            x.threshold = a.op === '>' ? (a.threshold === 0 ? 100 : a.threshold * 2.5) : 0;
          },
        ],
        // Looser: the cases just below the threshold must start firing.
        [
          'threshold (looser)',
          (x) => {
            x.threshold = a.op === '>' ? (a.threshold === 0 ? -0.5 : a.threshold * 0.7) : a.threshold + 0.5;
          },
        ],
        [
          'for',
          (x) => {
            x.for = `${minutes(a.for) + 1}m`;
          },
        ],
      ]) {
        const saved = { threshold: a.threshold, for: a.for };
        change(a);
        try {
          writeFileSync(path.join(dir, 'prometheus-rules.yml'), render.prometheusRules());
        } finally {
          Object.assign(a, saved);
        }
        const r = promtool(['test', 'rules', 'prometheus-rules.test.yml'], dir);
        assert.notEqual(r.status, 0, `${a.name}: unit tests still pass with its ${what} changed`);
        assert.match(r.out, new RegExp(`alertname: ${a.name}`), `${a.name}: changing its ${what} broke another alert's tests only`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Grafana-managed rules are the same alerts: same value, threshold, for, labels, annotations', () => {
  assert.equal(grafana.apiVersion, 1);
  const [group] = grafana.groups;
  assert.equal(group.name, 'resetwatch');
  assert.equal(group.interval, '1m');
  assert.ok(group.folder);
  const prom = Object.fromEntries(rules.groups[0].rules.map((r) => [r.alert, r]));
  const panelIds = new Set(dash.panels.map((p) => p.id));
  const uids = new Set();
  for (const r of group.rules) {
    const a = ALERTS.find((x) => x.name === r.title);
    assert.ok(a, `unknown Grafana rule ${r.title}`);
    assert.ok(r.uid.length <= 40 && !uids.has(r.uid), `uid ${r.uid}`);
    uids.add(r.uid);
    const [A, B] = r.data;
    assert.equal(A.refId, 'A');
    assert.equal(A.model.expr, a.value);
    assert.equal(A.model.instant, true);
    assert.equal(A.datasourceUid, A.model.datasource.uid);
    assert.equal(B.datasourceUid, '__expr__');
    assert.equal(B.model.type, 'threshold');
    assert.equal(B.model.expression, 'A');
    assert.deepEqual(B.model.conditions[0].evaluator, { type: a.op === '>' ? 'gt' : 'lt', params: [a.threshold] });
    assert.equal(r.condition, 'B');
    assert.equal(r.for, prom[a.name].for);
    assert.deepEqual(r.labels, prom[a.name].labels);
    assert.equal(r.annotations.runbook_url, prom[a.name].annotations.runbook_url);
    assert.equal(r.annotations.summary, prom[a.name].annotations.summary.replaceAll('$value', '$values.A.Value'));
    assert.equal(r.annotations.description, prom[a.name].annotations.description.replaceAll('$value', '$values.A.Value'));
    // Grafana interpolates ${VAR} in provisioning files; annotations and labels must not contain any.
    assert.doesNotMatch(JSON.stringify([r.annotations, r.labels]), /\$\{/);
    assert.equal(r.dashboardUid, dash.uid);
    assert.ok(panelIds.has(r.panelId));
    assert.equal(r.noDataState, 'OK');
  }
  assert.equal(group.rules.length, ALERTS.length);
});

test('Prometheus alert expressions are the same value compared with the threshold', () => {
  for (const r of rules.groups[0].rules) {
    const a = ALERTS.find((x) => x.name === r.alert);
    assert.equal(r.expr.replace(/\s+/g, ' ').trim(), `( ${a.value.replace(/\s+/g, ' ')} ) ${a.op} ${a.threshold}`);
    assert.equal(r.for, a.for);
  }
});
