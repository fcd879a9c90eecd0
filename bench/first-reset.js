#!/usr/bin/env node
// How long an app's event loop stalls at its first reset, against its later ones and against no
// agent (docs/benchmarks.md "Nineteenth pass"). The log output loads pino with its first line
// (~25 ms), the Prometheus output prom-client with the first reset or scrape (~9 ms), and the
// agent's reset path runs for the first time: a one-off stall at the first reset.
//
//   node bench/first-reset.js [--runs=5] [--wait=6500] [--agent=DIR[,DIR…]] [--otlp] [--http]
//
// Each run starts, in turn, one app per variant (A: no agent; each DIR with its default outputs,
// its endpoint on a free port, logging to a file; with --otlp also exporting OTLP to a receiver
// in this process). The app waits --wait ms, then makes six connections to a server of its own,
// one after another, and resets each from the client side (resetAndDestroy) after a byte; a 1 ms
// timer notes the longest gap between its ticks around each reset (--http: six GETs, each reset
// by the server as it arrives: the client's HTTP reset path). The figure is the median over
// the runs of that gap, in ms: the first reset, and the worst of the five after it. Wall-clock
// gaps: a loud host reads high; the variants run in turn, so compare them within one invocation.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

if (process.argv[2] === '--app') app();
else main();

function app() {
  const net = require('node:net');
  const { performance } = require('node:perf_hooks');
  let last = performance.now();
  let maxGap = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  const overHttp = process.argv[4] === 'http';
  const server = overHttp ? http.createServer((req) => req.socket.resetAndDestroy()) : net.createServer((s) => s.on('error', () => {}));
  const get = (port) =>
    new Promise((resolve) => {
      const req = http.get({ port, host: '127.0.0.1', agent: false });
      req.on('error', () => setTimeout(resolve, 30));
    });
  const once = (port) =>
    overHttp
      ? get(port)
      : new Promise((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => {
            c.on('error', () => {});
            c.write('x');
            setTimeout(() => {
              c.resetAndDestroy();
              setTimeout(resolve, 30);
            }, 20);
          });
        });
  server.listen(0, '127.0.0.1', async () => {
    await new Promise((r) => setTimeout(r, Number(process.argv[3])));
    const gaps = [];
    for (let i = 0; i < 6; i++) {
      maxGap = 0;
      last = performance.now();
      await once(server.address().port);
      gaps.push(maxGap);
    }
    process.stdout.write(`${JSON.stringify(gaps)}\n`);
    clearInterval(tick);
    server.close();
  });
}

function arg(name, dflt) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`) || x === `--${name}`);
  if (a === undefined) return dflt;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true;
}

function runApp(env, wait, mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--app', String(wait), mode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`app exited ${code}`))));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const runs = Number(arg('runs', 5));
  const wait = Number(arg('wait', 6500));
  const agents = String(arg('agent', ROOT))
    .split(',')
    .map((d) => path.resolve(d));
  const otlp = arg('otlp', false) === true;
  const mode = arg('http', false) === true ? 'http' : 'tcp';
  const receiver = http.createServer((req, res) => req.resume().on('end', () => res.end()));
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-first-reset-'));
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('RESETWATCH_') || k.startsWith('OTEL_') || k === 'NODE_OPTIONS') delete base[k];
  const variants = [{ name: 'A', env: base }];
  agents.forEach((d, i) => {
    const name = agents.length > 1 ? `B${i + 1}` : 'B';
    // Its own endpoint on a free port (not the default one, which a test or an app may hold).
    const env = { ...base, NODE_OPTIONS: `--require ${d}`, RESETWATCH_LOG: path.join(dir, `${name}.log`), RESETWATCH_PORT: '0' };
    if (otlp) env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${receiver.address().port}`;
    variants.push({ name: otlp ? `${name}o` : name, dir: d, env });
  });
  console.log(
    `first-reset: ${runs} runs, ${mode} resets, the first ${wait} ms after start, Node ${process.version}, ${os.cpus().length} cores`,
  );
  for (const v of variants) if (v.dir) console.log(`  ${v.name}: ${v.dir}`);
  const got = Object.fromEntries(variants.map((v) => [v.name, { first: [], later: [] }]));
  try {
    for (let r = 0; r < runs; r++) {
      for (const v of variants) {
        const gaps = await runApp(v.env, wait, mode);
        got[v.name].first.push(gaps[0]);
        got[v.name].later.push(Math.max(...gaps.slice(1)));
      }
    }
  } finally {
    receiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log('variant  first reset: longest loop gap, ms (median [min–max])   worst of the next five');
  for (const v of variants) {
    const { first, later } = got[v.name];
    const f = (xs) => `${median(xs).toFixed(1)} [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`;
    console.log(`${v.name.padEnd(8)} ${f(first).padEnd(48)} ${f(later)}`);
  }
}
