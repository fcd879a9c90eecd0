'use strict';
// Statistics over the rounds of a scenario: medians and ranges per variant, and per-round ratios
// and differences against A (no agent), so that drift between rounds cancels out.

/** Every variant (bench/lib/variants.js), in the order of the tables; a scenario runs a subset. */
const VARIANTS = ['A', 'B', 'Bo', 'Bs', 'Bd', 'C', 'D', 'E'];

function stats(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

function metricsFor(scenario, background) {
  if (scenario.kind === 'idle')
    return [
      { key: 'cpuMsPerS', label: 'app CPU ms/s (all threads)', added: true },
      { key: 'cpuMainPerOp', label: '… of which main thread ms/s', added: true },
      { key: 'cpuOtherPerOp', label: '… other threads ms/s', added: true },
    ];
  if (scenario.kind === 'startup')
    return [
      { key: 'cpuMsPerRun', label: 'CPU ms/run (all threads)', ratio: true, added: true },
      { key: 'wallMsPerRun', label: 'wall ms/run', ratio: true, added: true },
    ];
  if (scenario.kind === 'memory') {
    return [
      { key: 'rssPerSocket', label: 'RSS bytes/socket', added: true },
      { key: 'heapPerSocket', label: 'heap bytes/socket', added: true },
    ];
  }
  const m = [
    { key: 'rate', label: scenario.kind === 'active' ? `${scenario.op}s/s (app wall)` : `${scenario.op}s/s`, ratio: true },
    { key: 'cpuPerOp', label: `app CPU µs/${scenario.op} (all threads)`, ratio: true, added: true },
    { key: 'cpuMainPerOp', label: `… main thread µs/${scenario.op}`, added: true },
    { key: 'cpuOtherPerOp', label: `… other threads µs/${scenario.op}`, added: true },
    { key: 'gcUsPerOp', label: `GC pauses µs/${scenario.op}`, added: true },
  ];
  if (background) m.push({ key: 'cpuPerOpNet', label: `app CPU µs/${scenario.op} net of background`, added: true });
  if (scenario.storm) {
    m.push({
      key: 'cpuPerOpFirst',
      label: `app CPU µs/${scenario.op}, the storm's first window after a quiet spell`,
      ratio: true,
      added: true,
    });
    m.push({ key: 'cpuOtherPerOpFirst', label: `… other threads µs/${scenario.op} in that first window`, added: true });
  }
  if (scenario.eld) {
    m.push({ key: 'attemptRate', label: 'attempts/s' });
    m.push({ key: 'eldP99', label: 'event-loop delay p99 ms', ratio: true });
  }
  return m;
}

/**
 * Per-operation CPU net of the variant's fixed background cost (scenario 0, median ms/s beyond
 * A's): what one more operation costs, apart from scrapes and periodic exports. `background`:
 * { A, B, C } median ms/s of scenario 0, or null before it ran.
 */
function addNet(scenario, rounds, background) {
  if (!background || !['passive', 'active'].includes(scenario.kind)) return;
  for (const r of rounds) {
    for (const v of Object.keys(r)) {
      const extraUsPerS = ((background[v] ?? background.A) - background.A) * 1000;
      r[v].cpuPerOpNet = r[v].cpuPerOp - extraUsPerS / r[v].appRate;
    }
  }
}

/** Median, min and max of every metric per variant, and of the per-round X/A and X−A of every other variant. */
function summarise(scenario, rounds, background) {
  addNet(scenario, rounds, background);
  const variants = VARIANTS.filter((v) => rounds[0] && v in rounds[0]);
  const out = {};
  for (const metric of metricsFor(scenario, background)) {
    const s = { label: metric.label };
    for (const v of variants) s[v] = { ...stats(rounds.map((r) => r[v][metric.key])), values: rounds.map((r) => r[v][metric.key]) };
    if (metric.ratio || metric.added) {
      for (const v of variants.filter((x) => x !== 'A')) {
        s[`${v}/A`] = stats(rounds.map((r) => r[v][metric.key] / r.A[metric.key]));
        if (metric.added) s[`${v}-A`] = stats(rounds.map((r) => r[v][metric.key] - r.A[metric.key]));
      }
    }
    out[metric.key] = s;
  }
  return out;
}

module.exports = { VARIANTS, stats, summarise };
