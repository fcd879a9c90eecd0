#!/usr/bin/env node
// Micro-benchmark: the agent's own work per socket when nothing resets, isolated from the network.
// For each path it times N sockets with and without that work, in one process, interleaved, and
// prints the median difference per socket:
//   server: watch(socket) with a server state          (net.server.socket subscriber)
//   client: the connect() wrapper's argument parsing, dial info and watch(socket)
//   destroy: the _destroy wrapper on a socket that ends cleanly
// Run: npm run build && node --expose-gc bench/micro-hooks.js [ROOT of another build, to compare]
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const dist = path.join(process.argv[2] ? path.resolve(process.argv[2]) : path.join(__dirname, '..'), 'dist', 'agent');
process.env.RESETWATCH_LOG = 'off';
process.env.RESETWATCH_PORT = 'off';
// agent/sockets.ts; builds before the layout change kept it in agent/hooks/watch.ts.
const sockets = path.join(dist, 'sockets.js');
const { watch } = require(fs.existsSync(sockets) ? sockets : path.join(dist, 'hooks', 'watch.js'));
const { SocketState, SocketExtras } = require(path.join(dist, 'internal-types.js'));
const { activeContext } = require(path.join(dist, 'trace-context.js'));

const N = 20000;
const ROUNDS = 15;

function time(fn) {
  const sockets = new Array(N);
  for (let i = 0; i < N; i++) sockets[i] = new net.Socket();
  global.gc?.();
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(sockets[i]);
  return Number(process.hrtime.bigint() - t) / N;
}

const paths = {
  server: (s) => watch(s, new SocketState('server', performance.now(), false)),
  client: (s) => {
    // What hooks/client.ts does per connect(): read the normalised options, then watch.
    const o = [{ port: 443, host: 'api.example.test', path: null }, null][0];
    if (o.path) return;
    // Builds before SocketExtras (2026-12-02) kept a plain object.
    const dial = SocketExtras
      ? new SocketExtras(o.host ?? 'localhost', Number(o.port), activeContext())
      : { host: o.host ?? 'localhost', port: Number(o.port), context: activeContext() };
    watch(s, new SocketState('client', performance.now(), s.encrypted === true, dial));
  },
};
const nothing = () => {};

const results = {};
for (const [name, fn] of Object.entries(paths)) {
  for (let w = 0; w < 3; w++) {
    time(nothing);
    time(fn);
  } // warm-up
  const diffs = [];
  for (let r = 0; r < ROUNDS; r++) diffs.push(time(fn) - time(nothing));
  diffs.sort((a, b) => a - b);
  results[name] = { median: diffs[Math.floor(ROUNDS / 2)], min: diffs[0], max: diffs[ROUNDS - 1] };
}
console.log(`Node ${process.version}, ${N} sockets x ${ROUNDS} rounds: agent work per socket (ns)`);
for (const [name, r] of Object.entries(results)) {
  console.log(`  ${name.padEnd(7)} median ${r.median.toFixed(0)} ns  (min ${r.min.toFixed(0)}, max ${r.max.toFixed(0)})`);
}
const before = process.memoryUsage().heapUsed;
const keep = [];
for (let i = 0; i < N; i++) {
  const s = new net.Socket();
  keep.push(s);
}
global.gc?.();
const base = process.memoryUsage().heapUsed;
for (const s of keep) paths.server(s);
global.gc?.();
console.log(`  heap per watched server socket: ${((process.memoryUsage().heapUsed - base) / N).toFixed(0)} B`);
void before;
