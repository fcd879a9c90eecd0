'use strict';
// Instructions per reset of the app process alone, with and without the agent (docs/benchmarks.md
// "The reset path's runtime calls"). Whole-process CPU per reset moves by several µs between
// identical windows on a shared machine; valgrind's instruction counts resolve a few hundred
// instructions.
//
//   node bench/reset-instr.js [--variant=A|B|Bo] [--agent=DIR] [--warm=N] [--batches=M]
//                             [--k1=N] [--k2=N] [--step=MS] [--out=DIR] [--annotate]
//
// The app (this file with --app, under `valgrind --tool=callgrind --instr-atstart=no`, `node
// --single-threaded --perf-basic-prof`) dials a reset server that runs natively in the driver
// (it RSTs every connection at its first byte: socket.resetAndDestroy()), in batches: K
// connections at once, each writes one byte and handles its ECONNRESET, the next batch 10 ms
// after the last of the previous one closed (the 1,000/s storm's shape, independent of speed,
// so valgrind's ~50× slow-down does not change what runs). After `warm` resets (V8 has optimised
// the path) two windows are counted: M batches of k1 connections, then M batches of k2. Each
// batch's fixed cost (the timer, the event loop's wake-ups) is the same in both, so
// (I(k2) − I(k1)) / (M·(k2 − k1)) is the cost of one more reset in a batch.
// Variants: A no agent; B the agent's default settings (reset lines to a file, Prometheus
// endpoint on a free port, not scraped); Bo B plus OTLP traces and metrics to a receiver in the
// driver. Time-driven outputs are normalised for valgrind's stretched clock as in
// conn-instr.js: log lines and spans at 1 per second, the activity clock's step 500 ms.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { addFunctions, agentCopy, annotate, startUnderCallgrind, totalsOf } = require('./lib/callgrind');
const { otlp } = require('./lib/variants');

const X = Buffer.from('x');

function parseArgs(argv) {
  const a = {
    variant: 'B',
    agent: path.resolve(__dirname, '..'),
    port: 0,
    // 24,000: at ~12,000 resets the agent's connectionEvent is deoptimised once ("code
    // dependencies", natively too, once in 20,000) and re-tiered in the counted windows: B read
    // 220.8k per reset with 12,000 (compiler 15.9k, connectionEvent in baseline code), 168.4k with
    // 24,000 (compiler 0) on the same build.
    warm: 24000,
    batches: 60,
    k1: 8,
    k2: 40,
    step: 500,
    out: '',
    annotate: false,
    app: false,
  };
  for (const arg of argv) {
    const m = /^--([a-z0-9]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`bad argument ${arg}`);
    const [, k, v] = m;
    if (!(k in a)) throw new Error(`unknown option --${k}`);
    a[k] = typeof a[k] === 'number' ? Number(v) : typeof a[k] === 'boolean' ? true : (v ?? '');
  }
  if (!['A', 'B', 'Bo'].includes(a.variant)) throw new Error(`--variant: A, B or Bo, not ${a.variant}`);
  return a;
}

// ---- the app (under valgrind) ----

let left = 0;
let done = () => {};
function onConnect() {
  this.write(X);
}
function onError() {}
function onClose() {
  if (--left === 0) done();
}

/** K connections at once; resolves when the last one closed. */
function batch(port, k) {
  return new Promise((resolve) => {
    left = k;
    done = resolve;
    for (let i = 0; i < k; i++) {
      const socket = net.connect(port, '127.0.0.1', onConnect);
      socket.on('error', onError);
      socket.on('close', onClose);
    }
  });
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** One loop for every phase: V8 optimises it during the warm-up, once. */
async function batches(port, k, count) {
  for (let i = 0; i < count; i++) {
    await batch(port, k);
    await pause(10);
  }
}

function app(a) {
  // Steered by signals, reporting by synchronous writes (conn-instr.js says why).
  const say = (line) => fs.writeSync(1, `${line}\n`);
  const alive = setInterval(() => {}, 1 << 30);
  let onSignal = () => {};
  process.on('SIGUSR2', () => onSignal());
  const signalled = () =>
    new Promise((resolve) => {
      onSignal = resolve;
    });
  (async () => {
    // Warm-up with both batch sizes, and one signal taken in it.
    const per = (a.k1 + a.k2) / 2;
    await batches(a.port, a.k1, Math.ceil(a.warm / 2 / a.k1));
    say('warm0');
    await signalled();
    await batches(a.port, a.k2, Math.ceil(a.warm / 2 / a.k2));
    await batches(a.port, a.k1, Math.ceil(a.warm / 10 / per));
    say('warm');
    await signalled();
    await batches(a.port, a.k1, a.batches);
    say('one');
    await signalled();
    await batches(a.port, a.k2, a.batches);
    say('two');
    await signalled();
    clearInterval(alive);
    process.exit(0);
  })();
}

// ---- the driver (native) ----

function resetServer() {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.resetAndDestroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', 4096, () => resolve(server)));
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.app) return app(a);
  const out = a.out || fs.mkdtempSync(path.join(os.tmpdir(), 'rw-reset-cg-'));
  fs.mkdirSync(out, { recursive: true });
  const receiver = require('node:http').createServer((req, res) => req.resume().on('end', () => res.end()));
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const env = {
    ...process.env,
    RESETWATCH_PORT: '0',
    RESETWATCH_LOG: path.join(out, 'resets.log'),
    RESETWATCH_LOG_RATE: '1',
    RESETWATCH_SPAN_RATE: '1',
  };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_')) delete env[k];
  if (a.variant === 'Bo') {
    Object.assign(env, otlp({ receiverUrl: `http://127.0.0.1:${receiver.address().port}` }, 'Bo'));
  }
  const nodeFlags = [];
  let copy;
  if (a.variant !== 'A') {
    copy = agentCopy(path.resolve(a.agent), a.step);
    nodeFlags.push('--require', path.join(copy, 'dist/agent/index.js'));
  }
  const server = await resetServer();
  const cgFile = path.join(out, 'callgrind.out');
  const { child, next, stderr, signal, control, exited } = startUnderCallgrind(
    cgFile,
    [
      ...nodeFlags,
      __filename,
      '--app',
      `--warm=${a.warm}`,
      `--batches=${a.batches}`,
      `--k1=${a.k1}`,
      `--k2=${a.k2}`,
      `--port=${server.address().port}`,
    ],
    { env, cwd: out },
  );
  const expect = async (word) => {
    const line = await next();
    if (line !== word) throw new Error(`app said ${line}, not ${word}\n${stderr().slice(-2000)}`);
  };
  await expect('warm0');
  signal();
  await expect('warm');
  control('-i', 'on');
  signal();
  await expect('one');
  control('-d', 'one'); // dumps what the first window counted and zeroes the counters
  signal();
  await expect('two');
  control('-i', 'off');
  control('-d', 'two');
  signal();
  await exited();
  server.close();
  receiver.close();
  if (copy) fs.rmSync(copy, { recursive: true, force: true });
  const dumps = fs
    .readdirSync(out)
    .filter((f) => f.startsWith('callgrind.out.'))
    .sort((x, y) => Number(x.split('.').pop()) - Number(y.split('.').pop()));
  if (dumps.length < 2) throw new Error(`expected two dumps in ${out}, found ${dumps.join(', ')}\n${stderr().slice(-2000)}`);
  const one = totalsOf(path.join(out, dumps[0]));
  const two = totalsOf(path.join(out, dumps[1]));
  const n1 = a.batches * a.k1;
  const n2 = a.batches * a.k2;
  const result = {
    variant: a.variant,
    agent: a.variant === 'A' ? 'none' : a.agent,
    k1: a.k1,
    k2: a.k2,
    batches: a.batches,
    perResetK1: Math.round(one / n1),
    perResetK2: Math.round(two / n2),
    perReset: Math.round((two - one) / (n2 - n1)),
    out,
  };
  if (a.annotate) {
    // Both windows' functions, per reset of the difference: the second less the first.
    const f1 = new Map(annotate(path.join(out, dumps[0]), child.pid, 1));
    const f2 = annotate(path.join(out, dumps[1]), child.pid, 1);
    const diff = f2.map(([name, ir]) => [name, (ir - (f1.get(name) ?? 0)) / (n2 - n1)]).sort((x, y) => y[1] - x[1]);
    addFunctions(result, out, diff, result.perReset);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
