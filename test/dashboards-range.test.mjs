// The overview's "in range" panels against a real Prometheus: a reset series is born with its first
// reset (value 1), and increase() cannot count a series' first value, so a process with one reset
// showed nothing in "Resets in range by peer, phase and error type". One reset must read 1; a series
// that existed before the range and did not move must read nothing (table) or 0 (bars).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startApp, startPrometheus } from './helpers/prometheus.mjs';

const dash = JSON.parse(readFileSync(path.join(ROOT, 'dashboards/generated/resetwatch-overview.json'), 'utf8'));
const panel = (id) => dash.panels.find((p) => p.id === id);
/** A panel's query with "All" selected and the dashboard's range set to `range`. */
const expr = (id, range) =>
  panel(id)
    .targets[0].expr.replaceAll('$__range', range)
    .replace(/\$(job|namespace|pod|instance|direction|peer)\b/g, '.*');
const total = (result) => result.reduce((a, s) => a + Number(s.value[1]), 0);

test('panels 31 and 53 count a reset series born inside the range in full (one reset reads 1)', async (t) => {
  // One client/connect ECONNREFUSED reset.
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'connect' });
  t.after(() => app.stop());
  const { done, port } = await app.ready;
  assert.equal(done.events.length, 1, JSON.stringify(done.events));

  const prom = await startPrometheus([`127.0.0.1:${port}`]);
  t.after(() => prom.stop());
  // Several samples of the series, all 1: increase() over them is 0.
  const samples = await prom.until('count_over_time(resetwatch_resets_total[1h])', (r) => r.length === 1 && Number(r[0].value[1]) >= 8);
  assert.ok(Number(samples?.[0]?.value[1]) >= 8, `the reset series was not scraped 8 times\n${prom.log()}`);

  // The range covers the series' birth (Prometheus started within it).
  const table = await prom.query(expr(31, '1h'));
  assert.deepEqual(
    table.map((s) => [s.metric.resetwatch_direction, s.metric.resetwatch_phase, s.metric.error_type, s.value[1]]),
    [['client', 'connect', 'ECONNREFUSED', '1']],
    expr(31, '1h'),
  );
  const bars = await prom.query(expr(53, '1h'));
  assert.equal(total(bars), 1, expr(53, '1h'));

  // A range that starts after the series was born, with no reset since: nothing to count.
  assert.deepEqual(await prom.query(expr(31, '4s')), [], expr(31, '4s'));
  assert.equal(total(await prom.query(expr(53, '4s'))), 0, expr(53, '4s'));

  // The process gone (a pod that crashed inside the range): its series is stale now, and its
  // reset is still counted over the range.
  await app.stop();
  const gone = await prom.until('resetwatch_resets_total', (r) => r.length === 0);
  assert.deepEqual(gone, [], 'the series did not go stale');
  assert.equal(total(await prom.query(expr(31, '1h'))), 1, expr(31, '1h'));
  assert.equal(total(await prom.query(expr(53, '1h'))), 1, expr(53, '1h'));
});
