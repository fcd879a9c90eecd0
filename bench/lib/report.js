'use strict';
// What a run prints and saves: the table per scenario, the profile summary, the targets of
// docs/benchmarks.md, the machine description. (bench/report.js renders a saved file as Markdown.)
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const { fmt } = require('./format');
const { VARIANTS } = require('./statistics');
const cell = (s) => (s?.n ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : '–');

function printSummary(scenario, summary) {
  console.log(`\n${scenario.title}`);
  const rows = [['metric', 'variant', 'median [min–max]', 'X/A per round', 'X−A per round']];
  for (const s of Object.values(summary)) {
    for (const v of VARIANTS.filter((x) => s[x])) rows.push([s.label, v, cell(s[v]), cell(s[`${v}/A`]), cell(s[`${v}-A`])]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`);
}

// Targets (issue 15, docs/benchmarks.md): whole-process CPU, medians of the per-round ratios.
const PEERS = ['C', 'D', 'E'];

function targets(results) {
  const get = (id, key, col) => results[id]?.summary[key]?.[col]?.median;
  const t = [];
  // ok null: informational (no target), shown beside the targets. A ratio may be Infinity (B added
  // nothing measurable, the peer did: met); NaN is no reading.
  const add = (name, value, ok, target) =>
    t.push({ name, value, target, info: ok === null, met: ok === null || Number.isNaN(value) ? null : ok(value) });
  add('startup `node -e 1`: CPU B/A ≤ 1.10', get('startup-e1', 'cpuMsPerRun', 'B/A'), (v) => v <= 1.1, '≤ 1.10×');
  add('startup `node -e 1`: wall B/A ≤ 1.10', get('startup-e1', 'wallMsPerRun', 'B/A'), (v) => v <= 1.1, '≤ 1.10×');
  add('startup 200-module app: CPU B/A (informational)', get('startup-app200', 'cpuMsPerRun', 'B/A'), null, '–');
  for (const v of ['B', 'Bo']) {
    add(`keep-alive CPU/request ${v}/A ≤ 1.01`, get('http-keepalive', 'cpuPerOp', `${v}/A`), (x) => x <= 1.01, '≤ 1.01×');
  }
  for (const v of ['B', 'Bo']) {
    add(`new connection per request CPU/request ${v}/A ≤ 1.02`, get('http-close', 'cpuPerOp', `${v}/A`), (x) => x <= 1.02, '≤ 1.02×');
  }
  for (const id of ['http-close', 'tcp-churn-client']) {
    const b = get(id, 'cpuPerOp', 'B-A');
    for (const p of PEERS) {
      const c = get(id, 'cpuPerOp', `${p}-A`);
      if (c === undefined) continue;
      // B adding nothing measurable (≤ 0) while the peer adds something counts as met.
      const ratio = !Number.isFinite(b) || !Number.isFinite(c) ? NaN : b > 0 ? c / b : c > 0 ? Infinity : NaN;
      add(`${id}: added CPU per connection ${p}−A over B−A ≥ 5`, ratio, (x) => x >= 5, '≥ 5×');
    }
  }
  for (const id of ['reset-storm-1k', 'reset-storm-10k']) {
    add(`${id}: all outputs (Bo) CPU µs/reset Bo−A ≤ 10`, get(id, 'cpuPerOp', 'Bo-A'), (v) => v <= 10, '≤ 10 µs');
    add(`${id}: default settings (B) CPU µs/reset B−A (informational)`, get(id, 'cpuPerOp', 'B-A'), null, '–');
    add(`${id}: the storm's first window after a quiet spell, Bo−A µs/reset (informational)`, get(id, 'cpuPerOpFirst', 'Bo-A'), null, '–');
  }
  add('reset-storm-10k: event-loop delay p99 Bo/A ≤ 2', get('reset-storm-10k', 'eldP99', 'Bo/A'), (v) => v <= 2, '≤ 2×');
  add('idle app, default settings: B−A CPU ms/s ≤ 0.2', get('background', 'cpuMsPerS', 'B-A'), (v) => v <= 0.2, '≤ 0.2 ms/s');
  add('idle app, OTLP on: Bo−A CPU ms/s (informational)', get('background', 'cpuMsPerS', 'Bo-A'), null, '–');
  add('idle sockets: added RSS bytes/socket (B−A) ≤ 200', get('idle-sockets', 'rssPerSocket', 'B-A'), (v) => v <= 200, '≤ 200 B');
  add('idle sockets: added heap bytes/socket (B−A) ≤ 200', get('idle-sockets', 'heapPerSocket', 'B-A'), (v) => v <= 200, '≤ 200 B');
  return t.filter((x) => x.value !== undefined);
}

function printProfile(scenario, profiles) {
  const p = profiles.B;
  if (!p) return;
  if (scenario.kind === 'idle') {
    console.log(
      `  profile B: agent ${fmt(p.agentUsPerOp / 1000)} ms/s inclusive; by module: ` +
        p.modules
          .slice(0, 5)
          .map((m) => `${m.module} ${fmt(m.usPerOp / 1000)}`)
          .join(', '),
    );
    return;
  }
  console.log(
    `  profile B (${p.ops} ${scenario.op}s): agent ${fmt(p.agentUsPerOp)} µs/${scenario.op} inclusive, ` +
      `self ${fmt(p.agentSelfUsPerOp)}; GC ${fmt(p.gcUsPerOp)} µs/${scenario.op} (A: ${fmt(profiles.A?.gcUsPerOp)}); ` +
      `C: OpenTelemetry self ${fmt(profiles.C?.otelSelfUsPerOp)} µs/${scenario.op}`,
  );
  console.log(
    `    by module: ${p.modules
      .slice(0, 6)
      .map((m) => `${m.module} ${fmt(m.usPerOp)}`)
      .join(', ')}`,
  );
  for (const f of p.top.slice(0, 8)) console.log(`    ${fmt(f.usPerOp).padStart(7)} µs  ${f.frame}`);
}

/** The machine and the options of this run. */
function machine(opts, root, agentRoot) {
  const cpus = os.cpus();
  let commit = '';
  let dirty = null;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    if (!opts.agent)
      dirty = execFileSync('git', ['status', '--porcelain', '--', 'agent', 'exporters'], { cwd: root, encoding: 'utf8' }).trim() !== '';
  } catch {
    /* not a checkout */
  }
  return {
    cpu: cpus[0]?.model,
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    memoryBytes: os.totalmem(),
    loadavg: os.loadavg(),
    commit,
    calibrate: !!opts.calibrate,
    pinned: !!opts.pin,
    bEnv: opts.bEnv,
    scrapeMs: opts.scrapeMs ?? 'per variant',
    agent: opts.agent ? agentRoot : 'this checkout (dist/)',
    agentSourcesDirty: dirty,
  };
}

module.exports = { printSummary, printProfile, targets, machine };
