#!/usr/bin/env node
'use strict';
// Renders a results file as the Markdown tables of docs/benchmarks.md:
//   node bench/report.js bench/results/<date>.json
const fs = require('node:fs');

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/report.js bench/results/<date>.json');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));

const { fmt } = require('./lib/format');
const cell = (s) => (s?.n ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '–');

const m = doc.machine;
console.log(
  `Run of ${doc.date.slice(0, 16).replace('T', ' ')} UTC: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.platform}; ` +
    `commit ${m.commit.slice(0, 7)}${m.agent && !m.agent.startsWith('this checkout') ? ' (B: a clean build of that commit, --agent)' : m.agentSourcesDirty ? ' plus uncommitted agent changes' : ''}; ${doc.rounds} rounds${m.pinned ? '; app pinned to CPU 0, load and harness to CPU 1' : ''}; ${Math.round(doc.durationSeconds)} s; load average ${m.loadavg.map((x) => x.toFixed(1)).join('/')} at start, ` +
    `${doc.loadavgEnd.map((x) => x.toFixed(1)).join('/')} at the end.\n`,
);
console.log('Median (min–max) over the rounds; B/A, C/A, B−A and C−A are computed per round pair.\n');
console.log('| scenario | metric | A no agent | B resetwatch | C OpenTelemetry | B/A | C/A | B−A | C−A |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [id, sc] of Object.entries(doc.scenarios)) {
  for (const s of Object.values(sc.summary)) {
    console.log(
      `| ${id} | ${s.label} | ${cell(s.A)} | ${cell(s.B)} | ${cell(s.C)} | ${cell(s['B/A'])} | ${cell(s['C/A'])} | ${cell(s['B-A'])} | ${cell(s['C-A'])} |`,
    );
  }
}
console.log('\n| target | measured | met |');
console.log('|---|---|---|');
for (const t of doc.targets) console.log(`| ${t.name} | ${fmt(t.value)} | ${t.met === null ? '?' : t.met ? 'yes' : '**no**'} |`);

const withProfiles = Object.entries(doc.scenarios).filter(([, sc]) => sc.profiles);
if (withProfiles.length) {
  console.log('\nCPU profile of one extra window of B per scenario (agent code inclusive of what it calls; µs per operation):\n');
  console.log('| scenario | agent inclusive | of which: by module | GC B / A | C: OpenTelemetry self |');
  console.log('|---|---|---|---|---|');
  for (const [id, sc] of withProfiles) {
    const p = sc.profiles.B;
    const mods = (p.modules || [])
      .filter((x) => x.usPerOp >= 0.05)
      .slice(0, 6)
      .map((x) => `${x.module} ${fmt(x.usPerOp)}`)
      .join(', ');
    console.log(
      `| ${id} | ${fmt(p.agentUsPerOp)} | ${mods} | ${fmt(p.gcUsPerOp)} / ${fmt(sc.profiles.A.gcUsPerOp)} | ${fmt(sc.profiles.C.otelSelfUsPerOp)} |`,
    );
  }
}
const o = doc.outputs;
console.log(
  `\nOutputs of B during the run: ${o.prometheusScrapes.ok} Prometheus scrapes answered (${o.prometheusScrapes.failed} failed, ` +
    `${o.prometheusScrapes.lastSeries} series in the last), OTLP requests received from B: ${o.otlpReceived.B.traces} traces + ${o.otlpReceived.B.metrics} metrics, ` +
    `from C: ${o.otlpReceived.C.traces} traces + ${o.otlpReceived.C.metrics} metrics; ${o.resetLogLines} reset log lines written.`,
);
