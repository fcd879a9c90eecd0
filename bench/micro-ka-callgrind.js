#!/usr/bin/env node
'use strict';
// Instruction counts per keep-alive request of the bench's HTTP app (bench/apps/http-server.js)
// under `valgrind --tool=callgrind` (node --single-threaded --perf-basic-prof), its client native
// in this process: `--conns` connections that each write `--pipe` requests at once and wait for
// their answers, the same exchange every time whatever valgrind's slow-down. After `--warm`
// requests, instruction counting is switched on and each window of `--n` requests is dumped on
// its own (callgrind_control -d), so one process gives several windows:
//   --windows=W,W,…  each W one of: `r` (a window of n requests), `s` (one scrape of the endpoint,
//                    GET /metrics on the port the agent listens on), `x` (waits for an OTLP metrics
//                    export, --otlp; every connection sends a request every 5 s meanwhile, or the
//                    app's 30 s keep-alive timeout closes them), `p` (nothing; a pause of 1 s),
//                    `q` (40 s of those 5 s requests: B's counterpart of an `x`, dumped as its own)
// A scrape is dumped as a window of its own. Prints instructions per request of each `r` window.
//
//   node bench/micro-ka-callgrind.js [--agent=DIR | --no-agent] [--env=K=V;K=V] [--flags=--a;--b]
//     [--warm=20000] [--n=10000] [--windows=r,r,s,r,r] [--conns=16] [--pipe=8] [--out=DIR] [--cpu=0]
// With an agent, RESETWATCH_PORT is a free port (the scrape target) and RESETWATCH_LOG=off;
// --otlp adds Bo's OTLP settings, to bench/lib/receiver.js in this process (with
// --env=OTEL_METRIC_EXPORT_INTERVAL=N and pauses `p`, windows before and after an export).
// Time-driven work runs ~50× more often per request under valgrind: compare builds with the same
// clock (docs/benchmarks.md "Keep-alive attribution").
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { callgrindNode } = require('./lib/callgrind');
const { otlp } = require('./lib/variants');

const opts = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) throw new Error(`bad option ${a}`);
  opts[m[1]] = m[2] ?? true;
}
const WARM = Number(opts.warm || 20000);
const N = Number(opts.n || 10000);
const CONNS = Number(opts.conns || 16);
const PIPE = Number(opts.pipe || 8);
const WINDOWS = String(opts.windows || 'r,r').split(',');
const OUT = path.resolve(String(opts.out || fs.mkdtempSync(path.join(os.tmpdir(), 'ka-callgrind-'))));
fs.mkdirSync(OUT, { recursive: true });
const ROOT = path.resolve(__dirname, '..');
const withAgent = !opts['no-agent'];
const agentEntry = opts.agent
  ? path.join(path.resolve(String(opts.agent)), 'dist', 'agent', 'index.js')
  : path.join(ROOT, 'dist', 'agent', 'index.js');
try {
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
} catch {}

const REQ = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Set when the driver ends the connections itself. */
let closing = false;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A keep-alive connection that sends k requests at once and resolves when k answers arrived. */
function connection(port, answerBytes, spare = false) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let want = 0;
  let got = 0;
  let resolve;
  socket.on('data', (d) => {
    got += d.length;
    if (want && got >= want) {
      const r = resolve;
      want = got = 0;
      r();
    }
  });
  // Closed under the driver, an exchange would wait for ever: say so and stop.
  socket.on('close', () => {
    if (closing || spare) return;
    console.error(`a connection to the app closed (${want ? 'answers awaited' : 'idle'}); stopping`);
    process.exit(1);
  });
  return {
    ready: new Promise((r) => socket.once('connect', r)),
    exchange(k, bytes = answerBytes) {
      return new Promise((r) => {
        want = k * bytes;
        resolve = r;
        socket.write(k === 1 ? REQ : Buffer.concat(Array(k).fill(REQ)));
      });
    },
    probe() {
      // The first answer's length (every answer of this app has the same length).
      return new Promise((r) => {
        let buf = '';
        const on = (d) => {
          buf += d.toString('latin1');
          const h = buf.indexOf('\r\n\r\n');
          if (h === -1) return;
          const len = Number(/content-length: (\d+)/i.exec(buf)[1]);
          if (buf.length >= h + 4 + len) {
            socket.off('data', on);
            r(h + 4 + len);
          }
        };
        socket.on('data', on);
        socket.write(REQ);
      });
    },
    socket,
  };
}

async function run(conns, n) {
  let left = n;
  await Promise.all(
    conns.map(async (c) => {
      while (left > 0) {
        const k = Math.min(PIPE, left);
        left -= k;
        await c.exchange(k);
      }
    }),
  );
}

function control(pid, args, poke) {
  // callgrind_control waits for the process to pick the command up, which a process blocked in
  // epoll_wait only does when it runs: poke it with a request every 20 ms meanwhile.
  return new Promise((resolve, reject) => {
    const c = spawn('callgrind_control', [...args, String(pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pokes = 0;
    const t = setInterval(() => {
      pokes++;
      void poke();
    }, 20);
    c.on('exit', (code) => {
      clearInterval(t);
      if (code === 0) resolve(pokes);
      else reject(new Error(`callgrind_control ${args.join(' ')} exited ${code}`));
    });
  });
}

function scrape(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

function totalOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const m = /^(?:totals|summary): (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * Waits for the receiver's next metrics export (--otlp). Every connection sends one request every
 * 5 s meanwhile: idle for the app's keepAliveTimeout (30 s), they were closed under the driver,
 * which then waited for ever (a wait for the default 60 s interval, under valgrind or not).
 * With `ms`: that long instead (`q`, the same wait without an export, for B).
 */
async function untilExport(conns, ms) {
  const { received } = require('./lib/receiver');
  const n = received.Bo?.metrics ?? 0;
  const t0 = Date.now();
  let last = t0;
  while (ms === undefined ? (received.Bo?.metrics ?? 0) === n : Date.now() - t0 < ms) {
    await sleep(200);
    if (Date.now() - last > 5000) {
      last = Date.now();
      await Promise.all(conns.map((c) => c.exchange(1)));
    }
  }
}

async function main() {
  const metricsPort = await freePort();
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(RESETWATCH_|OTEL_|NODE_OPTIONS$)/.test(k)) delete env[k];
  if (withAgent) Object.assign(env, { RESETWATCH_PORT: String(metricsPort), RESETWATCH_LOG: 'off' });
  // bench/micro-ka-neighbour.js, when preloaded with --flags: the scrape target of an app with no agent.
  else env.BENCH_NEIGHBOUR_SERVER_PORT = String(metricsPort);
  if (opts.otlp) {
    // Bo: OTLP to the bench's receiver in this process (bench/lib/receiver.js).
    const { receiver } = require('./lib/receiver');
    await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
    receiver.unref();
    Object.assign(env, otlp({ receiverUrl: `http://127.0.0.1:${receiver.address().port}` }, 'Bo'));
  }
  for (const kv of String(opts.env || '')
    .split(';')
    .filter(Boolean))
    env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  const flags = String(opts.flags || '')
    .split(';')
    .filter(Boolean);
  // --native: the same sequence without valgrind (for --flags=--trace-deopt and the like; the app's
  // stdout goes to OUT/stdout.txt, no counts).
  const NATIVE = !!opts.native;
  const argv = [
    '-c',
    String(opts.cpu ?? 0),
    ...(NATIVE ? [process.execPath] : callgrindNode(path.join(OUT, 'callgrind.out.%p'))),
    ...(withAgent ? ['--require', agentEntry] : []),
    ...flags,
    path.join(__dirname, 'apps', 'http-server.js'),
  ];
  const app = spawn('taskset', argv, {
    env,
    cwd: OUT,
    stdio: ['ignore', NATIVE ? fs.openSync(path.join(OUT, 'stdout.txt'), 'w') : 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  app.stderr.on('data', (d) => {
    stderr += d;
  });
  const ready = await new Promise((resolve, reject) => {
    app.on('message', (m) => m.type === 'ready' && resolve(m));
    app.on('exit', (code) => reject(new Error(`app exited ${code}: ${stderr.slice(-2000)}`)));
  });
  const pid = app.pid; // taskset execs valgrind, which stays this pid
  const conns = Array.from({ length: CONNS }, () => connection(ready.port));
  await Promise.all(conns.map((c) => c.ready));
  const bytes = await conns[0].probe();
  for (const c of conns)
    c.exchange = (
      (ex) => (k) =>
        ex(k, bytes)
    )(c.exchange);
  // The poker is idle through whole windows: closed by the app's keep-alive timeout, it is
  // replaced at the next poke.
  let poker = connection(ready.port, bytes, true);
  await poker.ready;
  const poke = () => {
    if (poker.socket.destroyed) poker = connection(ready.port, bytes, true);
    return poker.exchange(1, bytes);
  };
  const t0 = Date.now();
  await run(conns, WARM);
  console.error(`warm-up ${WARM} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s; answer ${bytes} B`);
  const mark = (what) => {
    // A line in the app's stdout between windows (--native): where each window starts in a trace.
    if (NATIVE) fs.appendFileSync(path.join(OUT, 'marks.txt'), `${what} ${fs.statSync(path.join(OUT, 'stdout.txt')).size}\n`);
  };
  if (NATIVE) {
    const windows = [];
    for (const w of WINDOWS) {
      mark(w);
      if (w === 'r') await run(conns, N);
      else if (w === 's') await scrape(metricsPort);
      else if (w === 'x') {
        await untilExport(conns);
      } else if (w === 'q') await untilExport(conns, 40000);
      else await sleep(1000);
      await sleep(300);
      windows.push(w);
    }
    mark('end');
    closing = true;
    app.kill('SIGKILL');
    for (const c of [...conns, poker]) c.socket.destroy();
    console.log(JSON.stringify({ out: OUT, native: true, windows }));
    process.exit(0);
  }
  let pokes = await control(pid, ['-i', 'on'], poke);
  pokes += await control(pid, ['-z'], poke);
  const windows = [];
  for (const w of WINDOWS) {
    if (w === 'p') {
      await sleep(1000);
      continue;
    }

    const before = new Set(fs.readdirSync(OUT));
    const started = Date.now();
    if (w === 'r') await run(conns, N);
    else if (w === 's') await scrape(metricsPort);
    else if (w === 'x') {
      // Until the receiver got a metrics export (--otlp); dumped as a window of its own.
      await untilExport(conns);
    } else if (w === 'q') await untilExport(conns, 40000);
    else throw new Error(`unknown window ${w}`);
    const secs = (Date.now() - started) / 1000;
    const p = await control(pid, ['-d'], poke);
    await sleep(200);
    const file = fs
      .readdirSync(OUT)
      .filter((f) => f.startsWith('callgrind.out') && !before.has(f))
      .sort()
      .pop();
    const total = totalOf(path.join(OUT, file));
    // The pokes of this dump's control call were counted in it: one request each.
    const requests = w === 'r' ? N + p : p;
    windows.push({ kind: w, file, total, requests, perRequest: total / requests, secs });
    console.log(
      `${w === 'r' ? 'requests' : w === 's' ? 'scrape  ' : w === 'q' ? 'wait    ' : 'export  '} ${String(requests).padStart(6)}  ${total.toLocaleString('en')} instructions  ${w === 'r' ? `${(total / requests / 1000).toFixed(2)}k/request` : ''}  (${secs.toFixed(1)} s, ${file}${opts.otlp ? `, ${require('./lib/receiver').received.Bo?.metrics ?? 0} exports so far` : ''})`,
    );
  }
  await control(pid, ['-i', 'off'], poke).catch(() => {});
  closing = true;
  app.kill('SIGKILL');
  for (const c of [...conns, poker]) c.socket.destroy();
  console.log(JSON.stringify({ out: OUT, agent: withAgent ? agentEntry : null, env: opts.env || '', warm: WARM, n: N, pokes, windows }));
  process.exit(0);
}

main().catch((err) => {
  console.error(err.stack || err);
  process.exit(1);
});
