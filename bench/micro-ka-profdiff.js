#!/usr/bin/env node
'use strict';
// Self time per function of two V8 CPU profiles (bench/micro-ka.js --profile-dir), per request,
// and the difference: where a window that cost more per request spent it.
//   node bench/micro-ka-profdiff.js A.cpuprofile:REQUESTS B.cpuprofile:REQUESTS [--top=30]
const fs = require('node:fs');

function selfTimes(file) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map();
  // timeDeltas[i] is the time before sample i: attribute it to that sample's node.
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^node:/, '')}:${f.lineNumber + 1}`;
    out.set(key, (out.get(key) || 0) + (p.timeDeltas[i] || 0));
  }
  return out;
}

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const top = Number((process.argv.find((a) => a.startsWith('--top=')) || '--top=30').slice(6));
const [a, b] = args.map((x) => {
  const i = x.lastIndexOf(':');
  return { file: x.slice(0, i), n: Number(x.slice(i + 1)) };
});
const ta = selfTimes(a.file);
const tb = selfTimes(b.file);
const sum = (m, n) => [...m.values()].reduce((s, v) => s + v, 0) / n;
console.log(`µs per request (sampled main thread): A ${sum(ta, a.n).toFixed(2)}  B ${sum(tb, b.n).toFixed(2)}`);
const keys = new Set([...ta.keys(), ...tb.keys()]);
const rows = [...keys]
  .map((k) => [k, (ta.get(k) || 0) / a.n, (tb.get(k) || 0) / b.n])
  .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]))
  .slice(0, top);
for (const [k, x, y] of rows) console.log(`${(y - x >= 0 ? '+' : '') + (y - x).toFixed(3)}  ${x.toFixed(3)} ${y.toFixed(3)}  ${k}`);
