#!/usr/bin/env node
'use strict';
// Renders a results file as the Markdown tables of docs/benchmarks.md:
//   node bench/report.js bench/results/<date>.json
// Results from before 2026-12 (variants A, B, C only) render as well.
const fs = require('node:fs');

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/report.js bench/results/<date>.json');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));

const { fmt, fmtTarget } = require('./lib/format');
const { VARIANTS } = require('./lib/statistics');
const { targets } = require('./lib/report');
const cell = (s) => (s?.n ? (s.n > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median)) : '–');

const m = doc.machine;
console.log(
  `Run of ${doc.date.slice(0, 16).replace('T', ' ')} UTC: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.platform}; ` +
    `commit ${m.commit.slice(0, 7)}${m.agent && !m.agent.startsWith('this checkout') ? ' (B: a clean build of that commit, --agent)' : m.agentSourcesDirty ? ' plus uncommitted agent changes' : ''}; ${doc.rounds} rounds${m.pinned ? '; app pinned to CPU 0, load and harness to CPU 1' : ''}; ${Math.round(doc.durationSeconds)} s; load average ${m.loadavg.map((x) => x.toFixed(1)).join('/')} at start, ` +
    `${doc.loadavgEnd.map((x) => x.toFixed(1)).join('/')} at the end.\n`,
);
if (doc.variants) {
  console.log('Variants:\n');
  for (const [k, v] of Object.entries(doc.variants)) console.log(`- **${k}** ${v.label}${v.note ? `: ${v.note}` : ''}`);
  console.log();
}
console.log('Each cell: median (min–max) over the rounds, then X/A as the median of the per-round ratios.\n');
for (const [id, sc] of Object.entries(doc.scenarios)) {
  const variants = sc.variants || VARIANTS.filter((v) => Object.values(sc.summary)[0]?.[v]);
  console.log(`**${id}** — ${sc.title}${sc.seconds ? ` (${Math.round(sc.seconds)} s)` : ''}\n`);
  console.log(`| metric | ${variants.join(' | ')} |`);
  console.log(`|---|${variants.map(() => '---|').join('')}`);
  for (const s of Object.values(sc.summary)) {
    const cells = variants.map((v) => {
      const ratio = s[`${v}/A`];
      const diff = s[`${v}-A`];
      const extra = ratio?.n ? ` · ${fmt(ratio.median)}×` : diff?.n ? ` · ${diff.median >= 0 ? '+' : ''}${fmt(diff.median)}` : '';
      return `${cell(s[v])}${v === 'A' ? '' : extra}`;
    });
    console.log(`| ${s.label} | ${cells.join(' | ')} |`);
  }
  console.log();
}
console.log('| target | measured | met |');
console.log('|---|---|---|');
// The verdicts again from the figures (a file saved before a fix of the verdicts renders with it),
// where the file's targets are today's; files from before keep the verdicts they were saved with.
const again = doc.scenarios ? targets(doc.scenarios) : [];
const names = (list) => list.map((t) => t.name).join('\n');
const verdicts = again.length > 0 && names(again) === names(doc.targets) ? again : doc.targets;
for (const t of verdicts)
  console.log(`| ${t.name} | ${fmtTarget(t.value)} | ${t.info ? '(no target)' : t.met === null ? '?' : t.met ? 'yes' : '**no**'} |`);

const o = doc.outputs;
const rx = o.otlpReceived || {};
console.log(
  `\nOutputs during the run: ${o.prometheusScrapes.ok} Prometheus scrapes answered (${o.prometheusScrapes.failed} failed, ` +
    `${o.prometheusScrapes.lastSeries} series in the last); exports received (traces/metrics/other): ` +
    `${Object.entries(rx)
      .map(([v, r]) => `${v} ${r.traces}/${r.metrics}/${r.other ?? 0}`)
      .join(', ')}; ${o.resetLogLines} reset log lines written.`,
);
