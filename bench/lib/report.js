'use strict';
// What a run prints and saves: the table per scenario, the profile summary, the targets of
// docs/benchmarks.md, the machine description. (bench/report.js renders a saved file as Markdown.)
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const { fmt } = require('./format');
const cell = (s) => (s?.n ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]` : '–');

function printSummary(scenario, summary) {
  console.log(`\n${scenario.title}`);
  const rows = [['metric', 'A', 'B', 'C', 'B/A', 'C/A', 'B−A', 'C−A']];
  for (const s of Object.values(summary)) {
    rows.push([s.label, cell(s.A), cell(s.B), cell(s.C), cell(s['B/A']), cell(s['C/A']), cell(s['B-A']), cell(s['C-A'])]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`);
}

// Targets (docs/benchmarks.md): evaluated on medians of the per-round pairs.

function targets(results) {
  const get = (id, key, col) => results[id]?.summary[key]?.[col]?.median;
  const t = [];
  const add = (name, value, ok, detail) => t.push({ name, value, met: Number.isFinite(value) ? ok(value) : null, detail });
  add('keep-alive requests/s B/A ≥ 0.99 (throughput)', get('http-keepalive', 'rate', 'B/A'), (v) => v >= 0.99);
  add('keep-alive capacity A/B CPU per request ≥ 0.99', 1 / get('http-keepalive', 'cpuPerOp', 'B/A'), (v) => v >= 0.99);
  add('connection-churn requests/s B/A ≥ 0.98 (throughput)', get('http-close', 'rate', 'B/A'), (v) => v >= 0.98);
  add('connection-churn capacity A/B CPU per request ≥ 0.98', 1 / get('http-close', 'cpuPerOp', 'B/A'), (v) => v >= 0.98);
  for (const id of ['tcp-churn-server', 'tcp-churn-client']) {
    const b = get(id, 'cpuPerOp', 'B-A');
    const c = get(id, 'cpuPerOp', 'C-A');
    add(`${id}: added CPU µs/connection (B−A) ≤ 0.5`, b, (v) => v <= 0.5);
    add(`${id}: added CPU µs/connection net of background (B−A) ≤ 0.5`, get(id, 'cpuPerOpNet', 'B-A'), (v) => v <= 0.5);
    // C's instrumentation-net traces only sockets the app dials: on accepted sockets C adds nothing.
    if (id === 'tcp-churn-client') add(`${id}: (C−A)/(B−A) added CPU ≥ 5`, b > 0 ? c / b : c > 0 ? Infinity : NaN, (v) => v >= 5);
    const p = results[id]?.profiles;
    if (p) {
      add(`${id}: agent CPU µs/connection by profile ≤ 0.5`, p.B.agentUsPerOp, (v) => v <= 0.5);
      if (id === 'tcp-churn-client')
        add(`${id}: C OpenTelemetry self time / B agent time, by profile ≥ 5`, p.C.otelSelfUsPerOp / p.B.agentUsPerOp, (v) => v >= 5);
    }
  }
  for (const id of ['reset-storm-1k', 'reset-storm-10k']) {
    add(`${id}: all outputs CPU µs/reset (B−A) ≤ 10`, get(id, 'cpuPerOp', 'B-A'), (v) => v <= 10);
  }
  add('reset-storm-10k: event-loop delay p99 B/A ≤ 2', get('reset-storm-10k', 'eldP99', 'B/A'), (v) => v <= 2);
  add('idle sockets: added RSS bytes/socket (B−A) ≤ 200', get('idle-sockets', 'rssPerSocket', 'B-A'), (v) => v <= 200);
  add(
    'idle sockets: added heap bytes/socket (B−A) ≤ 200 (the part of RSS the agent allocates)',
    get('idle-sockets', 'heapPerSocket', 'B-A'),
    (v) => v <= 200,
  );
  add('background (informational): B−A app CPU ms/s, idle app, all outputs on', get('background', 'cpuMsPerS', 'B-A'), () => true);
  return t.filter((x) => x.value !== undefined);
}

function printProfile(scenario, profiles) {
  const p = profiles.B;
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
      `self ${fmt(p.agentSelfUsPerOp)}; GC ${fmt(p.gcUsPerOp)} µs/${scenario.op} (A: ${fmt(profiles.A.gcUsPerOp)}); ` +
      `C: OpenTelemetry self ${fmt(profiles.C.otelSelfUsPerOp)} µs/${scenario.op}`,
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
    scrapeMs: opts.scrapeMs ?? 1000,
    agent: opts.agent ? agentRoot : 'this checkout (dist/)',
    agentSourcesDirty: dirty,
  };
}

module.exports = { printSummary, printProfile, targets, machine };
