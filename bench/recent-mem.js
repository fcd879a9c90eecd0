#!/usr/bin/env node
// Micro-measurement: heap bytes per reset event kept for `/resets` (RESETWATCH_RECENT), and after
// /resets has been asked for them.
//   node bench/recent-mem.js [--n=10000] [--agent=DIR]
// One process with the agent (its endpoint on a free port, the log off) makes N refused
// connections (node:http GET to a closed loopback port: each an event with a request and a hint),
// then reads heapUsed after two gc() passes: before the resets, after them, and after each of
// three GET /resets (connection closed, body discarded). Run once with RESETWATCH_RECENT=N and
// once with 0: the difference per event is what the ring holds.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { freePort } = require('./lib/receiver');

const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;

if (process.argv[2] === '--child') child();
else main();

async function main() {
  const n = Number(arg('n', 10000));
  const agent = path.resolve(arg('agent', path.join(__dirname, '..')), 'dist/agent/index.js');
  const rows = [];
  for (const recent of [n, 0]) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--require', agent, __filename, '--child', String(n), String(await freePort())], {
      env: { ...process.env, RESETWATCH_RECENT: String(recent), RESETWATCH_PORT: String(await freePort()), RESETWATCH_LOG: 'off' },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
    rows.push({ recent, bytesPerEvent: JSON.parse(r.stdout) });
  }
  const [kept, none] = rows;
  console.log(JSON.stringify(rows));
  console.log(
    `kept: ${kept.bytesPerEvent[0] - none.bytesPerEvent[0]} B per event; after /resets: ${kept.bytesPerEvent
      .slice(1)
      .map((b, i) => b - none.bytesPerEvent[i + 1])
      .join(', ')} B per event`,
  );
}

async function child() {
  const http = require('node:http');
  const [n, closed] = process.argv.slice(3).map(Number);
  const heap = () => {
    global.gc();
    global.gc();
    return process.memoryUsage().heapUsed;
  };
  const get = (port, pathname) =>
    new Promise((r) =>
      http.get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => res.resume().on('end', r)).on('error', r),
    );
  const before = heap();
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => get(closed, '/')));
  await new Promise((r) => setTimeout(r, 300));
  const out = [heap()];
  for (let k = 0; k < 3; k++) {
    await get(Number(process.env.RESETWATCH_PORT), '/resets');
    await new Promise((r) => setTimeout(r, 300));
    out.push(heap());
  }
  process.stdout.write(JSON.stringify(out.map((h) => Math.round((h - before) / n))));
  process.exit(0);
}
