'use strict';
// Instructions per TCP connection of the app process alone, with and without the agent
// (docs/benchmarks.md "Per-connection cost (branch s5-conn)"). Whole-process CPU moves by several
// µs per connection between identical windows on a shared machine; valgrind's instruction counts
// resolve ~0.1k instructions (a few tens of ns).
//
//   node bench/conn-instr.js --mode=client|server|http [--agent=DIR|none] [--warm=N] [--n=N]
//                            [--env=K=V,…] [--step=MS] [--out=DIR] [--annotate] [--preload=FILE]
//
// The app (this file with --app, under `valgrind --tool=callgrind --instr-atstart=no`, `node
// --single-threaded --perf-basic-prof`) serves or dials one connection at a time, so that every
// connection takes the same event-loop path: client — it dials an echo server in this process
// (connect, write 6 bytes, read them back, end, close); server — this process dials its TCP echo
// server the same way; http — this process sends `Connection: close` requests to its HTTP server.
// Counting is switched on (`callgrind_control -i on`) after `warm` connections (V8 has optimised
// the hot paths) and off after `n` more; the figure is the instructions counted over `n`.
// The agent is a copy of DIR/dist whose activity clock step is `step` ms (500) instead of 10:
// valgrind runs the app ~50× slower, and a 10 ms step would re-arm the clock's timer ~50× more
// often per connection than natively. --preload=FILE runs another preload instead (a peer agent:
// bench/otel-preload.js is variant C; D and E as bench/lib/variants.js starts them, with their
// environment in --env), with an OTLP (and Datadog-agent) stand-in on loopback. --annotate lists the functions (JIT frames named from
// /tmp/perf-<pid>.map) by self cost per connection.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { addFunctions, agentCopy, annotate, startUnderCallgrind, totalsOf } = require('./lib/callgrind');

const PING = Buffer.from('ping!\n');
const REQ = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');

function parseArgs(argv) {
  const a = {
    mode: 'client',
    port: 0,
    agent: 'none',
    preload: '',
    warm: 20000,
    n: 3000,
    env: '',
    step: 500,
    out: '',
    annotate: false,
    app: false,
    concurrency: 1,
  };
  for (const arg of argv) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`bad argument ${arg}`);
    const [, k, v] = m;
    if (!(k in a)) throw new Error(`unknown option --${k}`);
    a[k] = typeof a[k] === 'number' ? Number(v) : typeof a[k] === 'boolean' ? true : (v ?? '');
  }
  return a;
}

// ---- the app (under valgrind) ----

/** One connection of the app's own: connect, echo 6 bytes, end, wait for close. */
function dialOnce(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = 0;
    socket.on('connect', () => socket.write(PING));
    socket.on('data', (d) => {
      got += d.length;
      if (got >= PING.length) socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}

/** One loop for every phase: V8 optimises it during the warm-up, once. `concurrency` loops at once (the bench's 16). */
async function dialMany(port, count, concurrency) {
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      await dialOnce(port);
    }
  };
  const workers = [];
  for (let i = 0; i < concurrency; i++) workers.push(worker());
  await Promise.all(workers);
}

function app(a) {
  // The driver steers by signals and the app reports with synchronous writes: a stdin stream
  // would take Node's stream code through a second kind of socket between the phases, and V8
  // would deoptimise it inside the measured window. The signal's listener is added once, and
  // one signal is taken during the warm-up: V8 deoptimises the emitter code it passes through
  // (the first time `process` emits) there, not at the start of the measured window.
  const say = (line) => fs.writeSync(1, `${line}\n`);
  const alive = setInterval(() => {}, 1 << 30); // a signal listener does not keep the process alive
  let onSignal = () => {};
  process.on('SIGUSR2', () => onSignal());
  const signalled = () =>
    new Promise((resolve) => {
      onSignal = resolve;
    });
  const exit = () => {
    clearInterval(alive);
    process.exit(0);
  };
  if (a.mode === 'client') {
    (async () => {
      await dialMany(a.port, a.warm, a.concurrency);
      say('warm0');
      await signalled();
      await dialMany(a.port, a.warm / 4, a.concurrency);
      say('warm');
      await signalled();
      await dialMany(a.port, a.n, a.concurrency);
      say('done');
      await signalled();
      exit();
    })();
    return;
  }
  let server;
  if (a.mode === 'http') {
    const body = Buffer.from('hello world\n');
    server = require('node:http').createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    });
  } else {
    server = net.createServer((socket) => {
      socket.on('data', (d) => socket.write(d));
      socket.on('end', () => socket.end());
      socket.on('error', () => {});
    });
  }
  server.listen(0, '127.0.0.1', 4096, () => say(`ready ${server.address().port}`));
  signalled().then(exit);
}

// ---- the driver (native) ----

function echoServer() {
  const server = net.createServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', 4096, () => resolve(server)));
}

function httpOnce(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(REQ));
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

async function load(mode, port, count, concurrency) {
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      await (mode === 'http' ? httpOnce(port) : dialOnce(port));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.app) return app(a);
  const out = a.out || fs.mkdtempSync(path.join(os.tmpdir(), 'rw-conn-cg-'));
  fs.mkdirSync(out, { recursive: true });
  const env = { ...process.env, RESETWATCH_PORT: '0', RESETWATCH_LOG: path.join(out, 'resets.log') };
  for (const kv of a.env.split(/,(?=[A-Z_]+=)/).filter(Boolean)) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  // An OTLP stand-in on loopback for a peer preloaded with --preload (variant C: bench/otel-preload.js).
  // Only then: the variable also switches resetwatch's own OTLP export on (variant Bo, not B).
  const receiver = require('node:http').createServer((req, res) => req.resume().on('end', () => res.end()));
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  if (a.preload) {
    env.OTEL_EXPORTER_OTLP_ENDPOINT ??= `http://127.0.0.1:${receiver.address().port}`;
    env.DD_TRACE_AGENT_URL ??= `http://127.0.0.1:${receiver.address().port}`; // variant E: dd-trace/init
  }
  const nodeFlags = [];
  if (a.preload) nodeFlags.push('--require', path.resolve(a.preload));
  let copy;
  if (a.agent !== 'none') {
    copy = agentCopy(path.resolve(a.agent), a.step);
    nodeFlags.push('--require', path.join(copy, 'dist/agent/index.js'));
  }
  const cgFile = path.join(out, 'callgrind.out');
  const echo = a.mode === 'client' ? await echoServer() : undefined;
  const { child, next, stderr, signal, control, exited } = startUnderCallgrind(
    cgFile,
    [
      ...nodeFlags,
      __filename,
      '--app',
      `--mode=${a.mode}`,
      `--warm=${a.warm}`,
      `--n=${a.n}`,
      `--port=${echo ? echo.address().port : 0}`,
      `--concurrency=${a.concurrency}`,
    ],
    { env, cwd: out },
  );
  const cg = (flag) => control('-i', flag);
  if (a.mode === 'client') {
    await next(); // warm0
    signal();
    await next(); // warm
    cg('on');
    signal();
    await next(); // done
    cg('off');
  } else {
    const appPort = Number((await next()).split(' ')[1]);
    await load(a.mode, appPort, a.warm, a.concurrency);
    await new Promise((r) => setTimeout(r, 100));
    cg('on');
    await load(a.mode, appPort, a.n, a.concurrency);
    cg('off');
  }
  signal();
  await exited();
  echo?.close();
  receiver.close();
  if (copy) fs.rmSync(copy, { recursive: true, force: true });
  const total = totalsOf(cgFile, `\n${stderr().slice(-2000)}`);
  const result = { mode: a.mode, agent: a.agent, env: a.env, warm: a.warm, n: a.n, perConnection: Math.round(total / a.n), out };
  if (a.annotate) {
    // `mutator` is the figure to compare: V8's compiler and GC move by ±1–8k per connection between identical runs.
    addFunctions(result, out, annotate(cgFile, child.pid, a.n), result.perConnection);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
