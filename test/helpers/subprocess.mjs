// Runs fixture apps in real `node` subprocesses (always process.execPath, cwd = the repository so
// `--require resetwatch` resolves the package itself), with and without the agent, each bounded
// by a timeout and killed when it runs over.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT } from './root.mjs';

export { ROOT };
export const FIXTURES = path.join(ROOT, 'test/fixtures');
export const AGENT = ['--require', 'resetwatch'];

/** Path of a fixture app (`test/fixtures/<name>`). */
export const fixture = (name) => path.join(FIXTURES, name);

/**
 * The environment for a subprocess: this process's, without anything that would load or configure
 * the agent (NODE_OPTIONS, RESETWATCH_*) or make node:test treat the child as a sub-test; then
 * `env`. The metrics port is `off` unless the test asks for one (parallel tests would collide on
 * the default port).
 */
export function cleanEnv(env = {}) {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_TEST_CONTEXT' || k.startsWith('RESETWATCH_')) continue;
    out[k] = v;
  }
  out.RESETWATCH_PORT = 'off';
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/**
 * Spawns `node ...args` and resolves when it exits: { code, signal, stdout, stderr, ms, timedOut }.
 * `ms` is wall-clock time from spawn to exit. `onStdout(text, child)` sees stdout as it arrives
 * (e.g. to send a signal once the app says it is ready). `nice` lowers the child's priority.
 * `wrap`: a command and its arguments that run node (e.g. strace), spawned in its place.
 */
export function runNode(args, { env = {}, timeout = 20000, onStdout, cwd = ROOT, nice = 0, wrap = [] } = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const [file, ...argv] = [...wrap, process.execPath, ...args];
    const child = spawn(file, argv, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    // A long CPU-heavy run (the soak) yields the CPU to the timing tests running beside it.
    if (nice)
      try {
        os.setPriority(child.pid, nice);
      } catch {
        /* not permitted: run as is */
      }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      if (onStdout) onStdout(stdout, child);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ code, signal, stdout, stderr, ms, timedOut });
    });
  });
}

/**
 * Starts `node ...args` (stdin a pipe) and reads the markers on its stdout, lines `NAME <json>`:
 * `marker(name)` resolves with a marker's value as soon as its line is complete (undefined if the
 * app exits first), `find(name)` is the value printed so far; `send(line)` writes a line on its
 * stdin; `exited` resolves with { code, stdout, stderr, exitedAt } once it is gone. Killed after 60 s.
 */
export function startMarked(args, { env = {}, cwd = ROOT } = {}) {
  const child = spawn(process.execPath, args, { cwd, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting = [];
  const find = (name) => {
    const l = stdout.split('\n').find((x) => x.startsWith(`${name} `) && stdout.includes(`${x}\n`));
    return l === undefined ? undefined : JSON.parse(l.slice(name.length + 1));
  };
  child.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d;
    for (const w of [...waiting]) {
      const v = find(w.name);
      if (v !== undefined) waiting.splice(waiting.indexOf(w), 1) && w.resolve(v);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  child.stdin.on('error', () => {});
  const kill = setTimeout(() => child.kill('SIGKILL'), 60000);
  const exited = new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(kill);
      for (const w of waiting) w.resolve(undefined);
      resolve({ code, stderr, stdout, exitedAt: Date.now() });
    }),
  );
  return {
    exited,
    find,
    marker: (name) => new Promise((resolve) => (find(name) !== undefined ? resolve(find(name)) : waiting.push({ name, resolve }))),
    send: (line) => child.stdin.write(`${line}\n`),
  };
}

/** Runs the same app without and with the agent (`agentArgs` go before the app's own args). */
export async function withAndWithout(args, { agentArgs = AGENT, env = {}, agentEnv = {}, ...opts } = {}) {
  const plain = await runNode(args, { env, ...opts });
  const agent = await runNode([...agentArgs, ...args], { env: { ...env, ...agentEnv }, ...opts });
  return { plain, agent };
}

/**
 * The agent's reset log lines (pino JSON, name "resetwatch", with an `error.type`) in a stream's
 * text, parsed. Other lines of the log output (e.g. the rate limiter's summary) are not resets.
 */
export function resetLines(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line);
      if (o && o.name === 'resetwatch' && 'error.type' in o) out.push(o);
    } catch {
      /* not ours */
    }
  }
  return out;
}

/** The agent's own one-line messages ("resetwatch: …"). */
export function diagLines(text) {
  return text.split('\n').filter((l) => l.startsWith('resetwatch: '));
}

/** A stream's text without anything the agent wrote: what the app and Node wrote. */
export function withoutAgentLines(text) {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('resetwatch: ') && !isLogLine(l))
    .join('\n');
}

function isLogLine(line) {
  if (!line.startsWith('{')) return false;
  try {
    return JSON.parse(line).name === 'resetwatch';
  } catch {
    return false;
  }
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Describes a run for assertion messages. */
export function describeRun(r) {
  return `exit ${r.code} signal ${r.signal}${r.timedOut ? ' (timed out)' : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/**
 * Every guard() site in the agent and its exporters (read from the sources, so new hooks are
 * covered without editing the tests), except enable/start/stop/disable: with those failing nothing
 * would be installed at all, and there would be no hook body left to fail.
 */
export function faultSites() {
  const sites = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/guard\(\s*'([^']+)'/g)) sites.add(m[1]);
      }
    }
  };
  walk(path.join(ROOT, 'agent'));
  walk(path.join(ROOT, 'exporters'));
  return [...sites].sort();
}

/**
 * python3 running `code` (a TLS or TCP peer of the test, as a non-Node one): `line` resolves with
 * the first line it prints, `done` when it exits (0, else rejected). Killed after 15 s.
 */
export function python(code) {
  const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const line = new Promise((resolve) =>
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    }),
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (status) => {
      clearTimeout(timer);
      status === 0 ? resolve() : reject(new Error(`python3 exited ${status}`));
    });
  });
  return { line, done };
}
