// Production shapes: real module layouts made by real package managers from an `npm pack` tarball
// of this checkout, and a runner that starts an app with its stdout/stderr connected the way
// production connects them (TTY, pipe, unix socket, file, /dev/null, closed, a pipe nobody reads),
// optionally in a private mount namespace (read-only directories, no /proc) or as another user.
//
// Installs are cached under ~/.cache/resetwatch (RESETWATCH_CACHE to move it): pnpm and yarn in
// <cache>/pnpm and <cache>/yarn, the layouts in <cache>/shapes/<key>/ where <key> hashes the
// packed files, so a changed checkout repacks and reinstalls and an unchanged one reuses them on
// every Node version. Concurrent test files share them through a lock directory.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, cleanEnv } from './subprocess.mjs';

export const CACHE = process.env.RESETWATCH_CACHE || path.join(os.homedir(), '.cache', 'resetwatch');
const SHAPES = path.join(CACHE, 'shapes');
const APP_FILES = ['app.cjs', 'app.mjs', 'app-common.cjs'];
const APP_SRC = path.join(ROOT, 'test/fixtures/shapes');
/** Pinned so a cached layout means the same thing on every machine. */
export const VERSIONS = { pnpm: '12.23.0', yarn: '1.22.22', debug: '4.4.3' };

/** Runs a command; resolves { code, signal, stdout, stderr }; rejects when it cannot start. A run
 * over `timeout` is killed with everything it started. */
export function run(cmd, args, { cwd = ROOT, env = process.env, timeout = 120000, stdio } = {}) {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a timeout ends everything it started (their pipes included).
    const child = spawn(cmd, args, { cwd, env, stdio: stdio ?? ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeout);
    child.stdout?.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function mustRun(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal})\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** One process at a time per name (test files run concurrently); a lock older than 10 min is stale. */
async function withLock(name, fn) {
  const dir = path.join(SHAPES, `.lock-${name}`);
  fs.mkdirSync(SHAPES, { recursive: true });
  for (;;) {
    try {
      fs.mkdirSync(dir);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs > 600000) fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        /* gone */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds `dir` once with `build(tmp)`: built in a temporary sibling, renamed into place when done. */
async function cached(dir, build) {
  if (fs.existsSync(dir)) return dir;
  return withLock(path.basename(dir), async () => {
    if (fs.existsSync(dir)) return dir;
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    await build(tmp);
    fs.renameSync(tmp, dir);
    return dir;
  });
}

/** Everything `npm pack` puts in the tarball (package.json `files`), hashed. */
function packKey() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify(VERSIONS));
  const add = (p) => {
    const st = fs.statSync(p, { bigint: true });
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) add(path.join(p, e));
    else {
      hash.update(path.relative(ROOT, p));
      hash.update(fs.readFileSync(p));
    }
  };
  add(path.join(ROOT, 'package.json'));
  for (const f of pkg.files) if (fs.existsSync(path.join(ROOT, f))) add(path.join(ROOT, f));
  return hash.digest('hex').slice(0, 16);
}

/** An npm-installed command-line tool (pnpm, yarn) in <cache>/<name>. */
async function tool(name) {
  const dir = await cached(path.join(CACHE, name, VERSIONS[name]), (tmp) =>
    mustRun('npm', [
      'install',
      '--no-save',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
      '--ignore-scripts',
      '--prefix',
      tmp,
      `${name}@${VERSIONS[name]}`,
    ]),
  );
  return path.join(dir, 'node_modules', '.bin', name);
}

/** Package-manager processes never phone anywhere but the npm registry. */
const PM_ENV = {
  ...process.env,
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  YARN_IGNORE_PATH: '1',
  YARN_ENABLE_TELEMETRY: '0',
  DISABLE_OPENCOLLECTIVE: '1',
  COREPACK_ENABLE_NETWORK: '0',
};

let keyMemo;
/** The directory of this checkout's layouts, with its tarball packed into it. */
async function packed() {
  keyMemo ??= packKey();
  const dir = await cached(path.join(SHAPES, keyMemo), async (tmp) => {
    await mustRun('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { env: PM_ENV });
    const [tgz] = fs.readdirSync(tmp).filter((f) => f.endsWith('.tgz'));
    fs.renameSync(path.join(tmp, tgz), path.join(tmp, 'resetwatch.tgz'));
  });
  pruneOld();
  return dir;
}

/** Layouts of other checkouts, unused for a day, go. */
function pruneOld() {
  for (const e of fs.readdirSync(SHAPES)) {
    if (e === keyMemo || e.startsWith('.')) continue;
    const p = path.join(SHAPES, e);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 86400000) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      /* another process */
    }
  }
}

function appPackage(dir, deps) {
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'shapes-app', version: '1.0.0', private: true, dependencies: deps }, null, 2),
  );
}

/**
 * The app files, brought up to date in a layout on every run (they are not part of the cache key).
 * Only a changed file is replaced, and by a rename: other test files run apps from the same layout
 * at the same time, and a copy in place let one of them start an empty app.cjs (exit 0, no output).
 */
function copyApp(dir) {
  for (const f of APP_FILES) {
    const src = fs.readFileSync(path.join(APP_SRC, f));
    const dest = path.join(dir, f);
    if (fs.existsSync(dest) && fs.readFileSync(dest).equals(src)) continue;
    const tmp = `${dest}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, src, { mode: fs.statSync(path.join(APP_SRC, f)).mode });
    fs.renameSync(tmp, dest);
  }
}

const BUILDERS = {
  /** npm: a flat node_modules with the app's dependency and the agent. */
  async npm(tmp, tgz) {
    appPackage(tmp, { debug: VERSIONS.debug, resetwatch: `file:${tgz}` });
    await mustRun('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--install-links'], { cwd: tmp, env: PM_ENV });
  },
  /** pnpm: every package a symlink into node_modules/.pnpm, its dependencies its siblings there. */
  async pnpm(tmp, tgz, deps = { debug: VERSIONS.debug, resetwatch: `file:${tgz}` }) {
    appPackage(tmp, deps);
    // protobufjs (OpenTelemetry's) has a postinstall script pnpm would refuse to skip silently.
    fs.writeFileSync(path.join(tmp, 'pnpm-workspace.yaml'), 'allowBuilds:\n  protobufjs: false\n');
    await mustRun(
      await tool('pnpm'),
      ['install', '--store-dir', path.join(CACHE, 'pnpm', 'store'), '--config.update-notifier=false', '--reporter=silent'],
      { cwd: tmp, env: PM_ENV },
    );
  },
  /** yarn classic, node-modules linker (hoisted). */
  async yarn(tmp, tgz) {
    appPackage(tmp, { debug: VERSIONS.debug, resetwatch: `file:${tgz}` });
    await mustRun(
      await tool('yarn'),
      [
        'install',
        '--cache-folder',
        path.join(CACHE, 'yarn', 'cache'),
        '--non-interactive',
        '--no-progress',
        '--ignore-scripts',
        '--ignore-engines',
        '--silent',
      ],
      { cwd: tmp, env: PM_ENV },
    );
  },
  /** A pnpm app without the agent, for agents that come from elsewhere. */
  async 'pnpm-app'(tmp, tgz) {
    await BUILDERS.pnpm(tmp, tgz, { debug: VERSIONS.debug });
  },
  /** What a Kubernetes init container copies into a shared volume: <dir>/node_modules/resetwatch. */
  async 'agent-dir'(tmp, tgz) {
    await mustRun('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', '--install-links', '--prefix', tmp, tgz], {
      env: PM_ENV,
    });
  },
  /** `npm install -g <tarball> --prefix <dir>`: the agent in <dir>/lib/node_modules/resetwatch. */
  async global(tmp, tgz) {
    await mustRun('npm', ['install', '-g', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', tmp, tgz], { env: PM_ENV });
  },
};

/**
 * A cached layout of this checkout: `npm`, `pnpm`, `yarn` (app + debug + agent), `pnpm-app`
 * (app + debug), `global` (the agent alone, installed globally under a prefix), `agent-dir` (the
 * agent alone in <dir>/node_modules). Returns its directory (app layouts: the app files copied in).
 */
export async function layout(kind) {
  const base = await packed();
  const tgz = path.join(base, 'resetwatch.tgz');
  const dir = await cached(path.join(base, kind), (tmp) => BUILDERS[kind](tmp, tgz));
  if (kind !== 'global' && kind !== 'agent-dir') copyApp(dir);
  return dir;
}

/**
 * How the app's stdout or stderr is connected:
 * - `tty`: a pseudo-terminal (util-linux `script`); `pipe`: a pipe read by `cat`;
 * - `socket`: a unix stream socket (the runner's own end reads it, as journald's does);
 * - `file`, `null` (/dev/null), `closed` (`>&-`);
 * - `unread`: a pipe whose reader never reads; what fits in it is read after the app exited;
 * - `unread-socket`: the same with a (blocking) unix stream socket, made by python3.
 */
export const STDIO = ['tty', 'pipe', 'socket', 'file', 'null', 'closed', 'unread', 'unread-socket'];
const UNREAD_SOCKET = path.join(APP_SRC, 'unread-socket.py');

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Runs `node <args>` in `cwd` with stdout and stderr connected as asked, and resolves
 * { status, stdout, stderr, report } where `status` is the shell's `$?` (128+n for signal n),
 * stdout/stderr what could be read of them (TTY output has CRLF line ends; both streams on one
 * TTY come back in `stdout`), `report` the app's SHAPES_REPORT_FD line parsed (or undefined).
 * `mounts` are shell commands run in a private mount namespace (`unshare -m`) after every
 * destination is open and before the app starts; `user` runs the app as that user (setpriv).
 * `env` replaces the environment (cleanEnv: no NODE_OPTIONS unless given, metrics port off).
 */
export async function runShape({
  args,
  cwd,
  env = {},
  stdout = 'file',
  stderr = 'file',
  mounts = [],
  user,
  node = process.execPath,
  timeout = 30000,
}) {
  const tty = stdout === 'tty' || stderr === 'tty';
  if (tty && [stdout, stderr].includes('socket')) throw new Error('a TTY and a socket cannot be combined');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-shape-'));
  try {
    // Every destination is opened by the shell first (fds 3-9), so a read-only mount or another
    // user later cannot get in the way of collecting the results.
    const lines = ['set -u', `D=${q(dir)}`, 'exec 8>"$D/status" 9>"$D/report"'];
    const redir = [];
    const after = [];
    const keep = [];
    let wrap = '';
    for (const [fd, kind, name, tmpFd, readFd] of [
      [1, stdout, 'out', 3, 5],
      [2, stderr, 'err', 4, 6],
    ]) {
      const fifo = `"$D/${name}.fifo"`;
      if (kind === 'file') {
        lines.push(`exec ${tmpFd}>"$D/${name}"`);
        redir.push(`${fd}>&${tmpFd}`);
      } else if (kind === 'null') {
        lines.push(`exec ${tmpFd}>/dev/null`);
        redir.push(`${fd}>&${tmpFd}`);
      } else if (kind === 'closed') redir.push(`${fd}>&-`);
      else if (kind === 'pipe') {
        lines.push(`mkfifo ${fifo}`, `cat ${fifo} > "$D/${name}" & ${name}_reader=$!`, `exec ${tmpFd}>${fifo}`);
        redir.push(`${fd}>&${tmpFd}`);
        after.push(`exec ${tmpFd}>&-`, `wait $${name}_reader`);
      } else if (kind === 'unread') {
        // The shell holds the read end and never reads while the app runs; afterwards whatever
        // is in the pipe is taken without waiting (nonblock: it ends at EAGAIN).
        lines.push(`mkfifo ${fifo}`, `exec ${readFd}<>${fifo} ${tmpFd}>${fifo} 7>"$D/${name}"`);
        redir.push(`${fd}>&${tmpFd}`);
        after.push(`exec ${tmpFd}>&-`, `dd bs=65536 iflag=nonblock status=none <&${readFd} >&7 2>/dev/null`, 'exec 7>&-');
      } else if (kind === 'broken') {
        // A pipe whose reader is gone: held open read-write while the write end opens, then closed,
        // so every write fails with EPIPE (Node ignores SIGPIPE).
        lines.push(`mkfifo ${fifo}`, `exec ${readFd}<>${fifo} ${tmpFd}>${fifo}`, `exec ${readFd}<&-`);
        redir.push(`${fd}>&${tmpFd}`);
      } else if (kind === 'full') {
        // A full disk: every write fails with ENOSPC.
        lines.push(`exec ${tmpFd}>/dev/full`);
        redir.push(`${fd}>&${tmpFd}`);
      } else if (kind === 'unread-socket') {
        if (wrap) throw new Error('one unread socket per run');
        lines.push(`exec ${readFd}>"$D/${name}"`);
        wrap = `python3 ${q(UNREAD_SOCKET)} ${fd} ${readFd} `;
        keep.push(readFd);
      } else if (kind !== 'socket' && kind !== 'tty') throw new Error(`unknown stdio kind ${kind}`);
    }
    lines.push(...mounts);
    const envs = Object.entries(cleanEnv(env))
      .map(([k, v]) => `${k}=${q(v)}`)
      .join(' ');
    const prefix = user ? `setpriv --reuid=${user} --regid=${user === 'nobody' ? 'nogroup' : user} --clear-groups --inh-caps=-all -- ` : '';
    const close = [3, 4, 5, 6, 7, 8].filter((fd) => !keep.includes(fd)).map((fd) => `${fd}>&-`);
    lines.push(
      `env -i ${envs} SHAPES_REPORT_FD=9 ${wrap}${prefix}${q(node)} ${args.map(q).join(' ')} ${redir.join(' ')} ${close.join(' ')}`,
    );
    lines.push('echo $? >&8', ...after);
    let script = lines.join('\n');
    if (mounts.length) script = `exec unshare -m --propagation private sh -c ${q(script)}`;
    fs.writeFileSync(path.join(dir, 'run.sh'), `cd ${q(cwd)}\n${script}\n`);
    const sh = tty ? ['script', ['-qec', `sh ${q(path.join(dir, 'run.sh'))}`, '/dev/null']] : ['sh', [path.join(dir, 'run.sh')]];
    const r = await run(sh[0], sh[1], { cwd: dir, timeout, env: { PATH: process.env.PATH, TERM: 'dumb' } });
    const read = (f) => {
      try {
        return fs.readFileSync(path.join(dir, f), 'utf8');
      } catch {
        return '';
      }
    };
    const status = read('status');
    if (status === '') {
      const why =
        r.signal === 'SIGKILL'
          ? `ran over its ${timeout} ms and was killed: the app blocked or did not exit`
          : `failed (${r.code ?? r.signal})`;
      throw new Error(`the shape runner ${why}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    }
    const report = read('report');
    const from = (kind, name, runner) => (kind === 'socket' ? runner : kind === 'tty' ? r.stdout : read(name));
    return {
      status: Number(status),
      stdout: from(stdout, 'out', r.stdout),
      stderr: stderr === 'tty' && stdout === 'tty' ? '' : from(stderr, 'err', r.stderr),
      runner: r,
      report: report ? JSON.parse(report) : undefined,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `fn` over `items` with at most `n` at a time; resolves with the results in order. */
export async function inParallel(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/**
 * The app behaved the same without and with the agent: same status, same stdout and stderr once
 * the agent's own lines are taken out (RESETWATCH_LOG=stdout puts them on stdout); and the agent saw `resets` resets (its onReset count, and
 * as many reset lines in the stream named by `lines`, `stderr` unless told).
 */
export function assertSame(assert, plain, withAgent, { resets = 1, lines = 'stderr', label = '' } = {}) {
  // Bounded: a flood of reset lines in a failure message would choke the test runner.
  const cut = (t) => (t.length > 3000 ? `${t.slice(0, 1500)}\n[… ${t.length - 3000} chars …]\n${t.slice(-1500)}` : t);
  const show = (r) =>
    `status ${r.status}\n--- stdout\n${cut(r.stdout)}--- stderr\n${cut(r.stderr)}--- runner\n${cut(r.runner.stdout + r.runner.stderr)}`;
  const msg = `${label}\n=== without the agent\n${show(plain)}\n=== with the agent\n${show(withAgent)}`;
  assert.equal(withAgent.status, plain.status, `exit status\n${msg}`);
  assert.equal(stripAgent(withAgent.stdout), plain.stdout, `stdout without the agent's lines\n${msg}`);
  assert.equal(stripAgent(withAgent.stderr), plain.stderr, `stderr without the agent's lines\n${msg}`);
  if (resets === null) return;
  if (withAgent.report !== undefined || plain.report !== undefined) {
    assert.deepEqual(withAgent.report, { agent: true, events: resets }, `onReset count\n${msg}`);
  }
  if (lines) assert.equal(resetLineCount(withAgent[lines]), resets, `reset log lines on ${lines}\n${msg}`);
}

/** A stream's text without the agent's lines ("resetwatch: …" and its JSON log lines). */
export function stripAgent(text) {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('resetwatch: ') && !isAgentJson(l))
    .join('\n');
}

export function resetLineCount(text) {
  return text.split('\n').filter((l) => isAgentJson(l) && l.includes('"error.type"')).length;
}

function isAgentJson(line) {
  if (!line.startsWith('{')) return false;
  try {
    return JSON.parse(line).name === 'resetwatch';
  } catch {
    return false;
  }
}
