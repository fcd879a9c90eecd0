'use strict';
// The callgrind side of the instruction-count benches (bench/conn-instr.js, bench/reset-instr.js,
// bench/micro-ka-callgrind.js): the app as `node --single-threaded --perf-basic-prof` under
// `valgrind --tool=callgrind --instr-atstart=no` (nothing counted until `callgrind_control -i on`),
// steered by signals and reporting a line at a time, and the dumps read back: totals and the
// functions, JIT frames named from V8's perf map.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');

/**
 * The command line up to node's own arguments: node under callgrind, counting off, dumps to `cgFile`.
 * A fixed `--hash-seed`: V8 seeds its string hashes at random in each process, so the slots of a
 * dictionary-mode object's properties differ from process to process, and with them the cost of
 * every lookup there: `process.nextTick` (about ten per keep-alive request, in Node's streams)
 * cost 126 instructions a lookup in one process and 138 in the next, ±0.3k per request between two
 * builds compared with nothing else different (2026-12-03, docs/benchmarks.md "Eleventh pass").
 */
function callgrindNode(cgFile) {
  return [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    `--callgrind-out-file=${cgFile}`,
    process.execPath,
    '--single-threaded',
    '--perf-basic-prof',
    '--hash-seed=7',
  ];
}

/**
 * `node … nodeArgs` under callgrind (callgrindNode), in `cwd` (V8's isolate-*.log of
 * --perf-basic-prof lands there): `next()` is its next stdout line, `stderr()` what it wrote
 * there, `signal()` sends it SIGUSR2, `control(...args)` runs callgrind_control on it.
 */
function startUnderCallgrind(cgFile, nodeArgs, { env, cwd }) {
  const [valgrind, ...args] = callgrindNode(cgFile);
  const child = spawn(valgrind, [...args, ...nodeArgs], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return {
    child,
    next: lines(child.stdout),
    stderr: () => stderr,
    signal: () => process.kill(child.pid, 'SIGUSR2'),
    control: (...flags) => execFileSync('callgrind_control', [...flags, String(child.pid)], { stdio: 'ignore' }),
    exited: () => new Promise((r) => child.on('exit', r)),
  };
}

/** A copy of DIR/dist with the activity clock's step set, resolving packages from DIR. */
function agentCopy(dir, step) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-conn-instr-'));
  fs.cpSync(path.join(dir, 'dist'), path.join(tmp, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(dir, 'node_modules'), path.join(tmp, 'node_modules'));
  for (const rel of ['dist/agent/chunk-hooks.js', 'dist/agent/hooks/activity.js']) {
    const file = path.join(tmp, rel);
    const text = fs.readFileSync(file, 'utf8');
    const next = text.replace(/CLOCK_STEP_MS ?= ?10\b/, `CLOCK_STEP_MS=${step}`);
    if (next === text) throw new Error(`no CLOCK_STEP_MS = 10 in ${rel}`);
    fs.writeFileSync(file, next);
  }
  return tmp;
}

/** A function that resolves with the stream's next line. */
function lines(stream) {
  const waiting = [];
  const queued = [];
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (waiting.length > 0) waiting.shift()(line);
      else queued.push(line);
      i = buf.indexOf('\n');
    }
  });
  return () => (queued.length > 0 ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r)));
}

/** What a dump counted: its `totals:` line (`summary:` stays 0 with --instr-atstart=no). `detail`: appended to the error. */
function totalsOf(file, detail = '') {
  const m = /^totals:\s+(\d+)/m.exec(fs.readFileSync(file, 'utf8'));
  if (!m) throw new Error(`no totals in ${file}${detail}`);
  return Number(m[1]);
}

/** Self instructions per function over the whole run, JIT frames named from the perf map. */
function annotate(cgFile, pid, n) {
  const text = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', cgFile], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const map = [];
  const mapFile = `/tmp/perf-${pid}.map`;
  if (fs.existsSync(mapFile)) {
    fs.copyFileSync(mapFile, path.join(path.dirname(cgFile), 'perf.map')); // for callgrind_annotate --tree
    for (const line of fs.readFileSync(mapFile, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
      if (m) map.push([Number.parseInt(m[1], 16), Number.parseInt(m[2], 16), m[3]]);
    }
  }
  const nameOf = (addr) => {
    let found;
    for (const [start, size, name] of map) if (addr >= start && addr < start + size) found = name; // latest wins
    return found;
  };
  const totals = new Map();
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$/.exec(line);
    if (!m || !/[:[]/.test(m[2])) continue;
    const ir = Number(m[1].replace(/,/g, ''));
    let name = m[2].trim();
    const hex = /0x([0-9a-f]+)/.exec(name);
    if (hex && name.startsWith('???')) name = nameOf(Number.parseInt(hex[1], 16)) ?? 'JIT ?';
    else name = name.replace(/ \[.*\]$/, '');
    name = name.replace(/\/[^ ]*\/rw-conn-instr-[^/]+\//, 'AGENT/'); // the copy's temporary directory
    totals.set(name, (totals.get(name) ?? 0) + ir);
  }
  return [...totals].sort((x, y) => y[1] - x[1]).map(([name, ir]) => [name, ir / n]);
}

/** Where a function's instructions belong. */
function kind(name) {
  if (/v8::internal::(compiler|maglev)::|Turbofan|TurboFan|PipelineImpl|OptimizedCompilationJob/.test(name)) return 'compiler';
  if (
    /Scaveng|Sweep|Marking|MarkCompact|Heap::|heap::|Evacuat|GCTracer|BodyDescriptor|IterateObjectCache|SizeFromMap|Pretenuring|RelocIterator|RootVisitor|MemoryChunk|PagedSpace|FreeList|malloc_consolidate|WeakObjects|MemoryAllocator/.test(
      name,
    )
  )
    return 'gc';
  if (name.startsWith('JS:')) return 'js';
  if (name.includes('Builtins_')) return 'builtins';
  if (name.includes('v8::')) return 'v8';
  if (name.includes('node::') || name.includes('uv_') || name.includes('libuv')) return 'node';
  return 'other';
}

/**
 * A result's functions (`[name, instructions]`, most first) written to `out`/functions.txt, and
 * added to `result`: `parts`, their sum by kind(), and `mutator`, `figure` less V8's compiler and GC.
 */
function addFunctions(result, out, functions, figure) {
  fs.writeFileSync(path.join(out, 'functions.txt'), functions.map(([name, ir]) => `${ir.toFixed(1)}\t${name}\n`).join(''));
  const parts = {};
  for (const [name, ir] of functions) parts[kind(name)] = (parts[kind(name)] ?? 0) + ir;
  for (const k of Object.keys(parts)) parts[k] = Math.round(parts[k]);
  result.parts = parts;
  result.mutator = figure - (parts.compiler ?? 0) - (parts.gc ?? 0);
}

module.exports = { addFunctions, agentCopy, annotate, callgrindNode, startUnderCallgrind, totalsOf };
