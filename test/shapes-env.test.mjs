// Environments production runs in, for a pnpm-installed app with stderr a pipe: the app's
// directory and /tmp read-only (a private mount namespace: `unshare -m`, bind mounts remounted
// ro), a non-root user (setpriv to nobody, the app and node copied where nobody can read them),
// no HOME, /proc not mounted (an empty tmpfs over it) or unreadable, and all of these at once.
// Same stdout, stderr (minus the agent's lines) and exit status with and without the agent; the
// agent saw the reset (its line on stderr). Without /proc the agent cannot reopen a pipe for
// itself: a pipe nobody reads must still not block the app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { layout, runShape, assertSame, inParallel, resetLineCount } from './helpers/shapes.mjs';
import { freePort } from './helpers/ports.mjs';

const PARALLEL = 3;
const AGENT = ['--require', 'resetwatch'];
const ro = (dir) => [`mount --bind ${dir} ${dir}`, `mount -o remount,bind,ro ${dir}`];
const RO_TMP = ro('/tmp');
const NO_PROC = ['mount -t tmpfs -o ro,mode=755 none /proc'];
const UNREADABLE_PROC = ['mount -t tmpfs -o mode=700 none /proc'];

let pnpm; // the cached layout (root's)
let shared; // a copy nobody can read: { dir, app, node }

before(async () => {
  pnpm = await layout('pnpm');
  // The cache lives under root's home: nobody gets its own world-readable copy of app and node.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-env-'));
  fs.chmodSync(dir, 0o755);
  fs.cpSync(pnpm, path.join(dir, 'app'), { recursive: true, verbatimSymlinks: true });
  const node = path.join(dir, 'node');
  try {
    fs.linkSync(process.execPath, node);
  } catch {
    fs.copyFileSync(process.execPath, node);
  }
  fs.chmodSync(node, 0o755);
  shared = { dir, app: path.join(dir, 'app'), node };
});

after(() => {
  if (shared) fs.rmSync(shared.dir, { recursive: true, force: true });
});

async function pair({ cwd, env = {}, agentEnv = {}, expectStatus = 3, flags = [], ...shape }) {
  const plain = await runShape({ cwd, stdout: 'file', stderr: 'pipe', ...shape, env, args: [...flags, 'app.cjs'] });
  const withAgent = await runShape({
    cwd,
    stdout: 'file',
    stderr: 'pipe',
    ...shape,
    env: { ...env, ...agentEnv },
    args: [...flags, ...AGENT, 'app.cjs'],
  });
  assert.equal(plain.status, expectStatus, `the app itself works here\n${plain.stdout}${plain.stderr}${plain.runner.stderr}`);
  return { plain, withAgent };
}

test('environments: read-only app directory and /tmp, nobody, no HOME, no /proc, unreadable /proc, all at once', async () => {
  const cases = [
    { label: 'read-only app directory and /tmp', cwd: pnpm, mounts: [...ro(pnpm), ...RO_TMP], agentEnv: { RESETWATCH_PORT: '0' } },
    { label: 'user nobody', cwd: shared.app, node: shared.node, user: 'nobody', agentEnv: { RESETWATCH_PORT: '0' } },
    { label: 'no HOME', cwd: pnpm, env: { HOME: undefined } },
    { label: 'no /proc', cwd: pnpm, mounts: NO_PROC },
    { label: 'no /proc, stderr a socket', cwd: pnpm, mounts: NO_PROC, stderr: 'socket' },
    { label: '/proc unreadable (nobody)', cwd: shared.app, node: shared.node, user: 'nobody', mounts: UNREADABLE_PROC },
    {
      label: 'all at once: nobody, no HOME, read-only, no /proc',
      cwd: shared.app,
      node: shared.node,
      user: 'nobody',
      env: { HOME: undefined },
      mounts: [...RO_TMP, ...NO_PROC],
      agentEnv: { RESETWATCH_PORT: '0' },
    },
  ];
  await inParallel(cases, PARALLEL, async ({ label, ...c }) => {
    const { plain, withAgent } = await pair(c);
    assertSame(assert, plain, withAgent, { label });
  });
});

test("Node's permission model: the app runs as without the agent, which records its resets; where sockets are denied, the agent's own binds fail quietly", async () => {
  // It freezes the built-in modules' exports: the agent kept itself on node:path's and every app
  // died at start, RESETWATCH_DISABLED=true included.
  const major = Number(process.versions.node.split('.')[0]);
  const permission = [major >= 23 ? '--permission' : '--experimental-permission', '--allow-fs-read=*'];
  // From Node 25 sockets need --allow-net too.
  const net = major >= 25 ? ['--allow-net'] : [];
  const cases = [
    { label: 'permission model', flags: [...permission, ...net] },
    { label: 'permission model, disabled', flags: [...permission, ...net], agentEnv: { RESETWATCH_DISABLED: 'true' }, resets: null },
    { label: 'permission model, a fixed port', flags: [...permission, ...net], agentEnv: { RESETWATCH_PORT: String(await freePort()) } },
  ];
  // Node's ExperimentalWarning names the process's pid.
  const pidless = (r) => ({ ...r, stderr: r.stderr.replace(/\(node:\d+\)/g, '(node:PID)') });
  await inParallel(cases, PARALLEL, async ({ label, resets, ...c }) => {
    const { plain, withAgent } = await pair({ cwd: pnpm, ...c });
    assertSame(assert, pidless(plain), pidless(withAgent), { label, resets });
  });
  // No sockets at all (Node 25 and later without --allow-net): a process that never dials still
  // runs as without the agent, whose endpoint and family binds are refused.
  const script = ['-e', 'console.log("ran")'];
  const env = { RESETWATCH_PORT: String(await freePort()) };
  const plain = await runShape({ cwd: pnpm, stdout: 'file', stderr: 'pipe', env, args: [...permission, ...script] });
  const withAgent = await runShape({ cwd: pnpm, stdout: 'file', stderr: 'pipe', env, args: [...permission, ...AGENT, ...script] });
  assert.equal(plain.status, 0, plain.stderr);
  assertSame(assert, pidless(plain), pidless(withAgent), { label: 'permission model, no sockets', resets: null });
});

test('RESETWATCH_LOG=<file> on a read-only filesystem: one line saying so, the app unchanged, its resets still counted', async () => {
  const file = path.join(pnpm, 'resets.log');
  const { plain, withAgent } = await pair({ cwd: pnpm, mounts: [...ro(pnpm), ...RO_TMP], agentEnv: { RESETWATCH_LOG: file } });
  assertSame(assert, plain, withAgent, { label: 'ro RESETWATCH_LOG', lines: false });
  const own = withAgent.stderr.split('\n').filter((l) => l.startsWith('resetwatch: '));
  assert.equal(own.length, 1, withAgent.stderr);
  assert.match(
    own[0],
    /^resetwatch: RESETWATCH_LOG=".*resets\.log" cannot be opened \(EROFS: read-only file system.*\); reset log lines are off$/,
  );
});

test('no /proc or unreadable /proc, stderr a pipe or socket nobody reads: the app neither blocks nor dies', async () => {
  const RESETS = 1500;
  const cases = [
    { label: 'no /proc, unread pipe', cwd: pnpm, mounts: NO_PROC, stderr: 'unread' },
    { label: 'no /proc, unread socket', cwd: pnpm, mounts: NO_PROC, stderr: 'unread-socket' },
    {
      label: 'unreadable /proc, unread pipe',
      cwd: shared.app,
      node: shared.node,
      user: 'nobody',
      mounts: UNREADABLE_PROC,
      stderr: 'unread',
    },
  ];
  await inParallel(cases, PARALLEL, async ({ label, ...c }) => {
    const { plain, withAgent } = await pair({
      ...c,
      env: { SHAPES_RESETS: String(RESETS), SHAPES_QUIET: '1' },
      agentEnv: { RESETWATCH_LOG_RATE: '0' },
      timeout: 60000,
    });
    assertSame(assert, plain, withAgent, { label, resets: RESETS, lines: false });
    const written = resetLineCount(withAgent.stderr);
    assert.ok(written > 0 && written < RESETS, `${label}: ${written} of ${RESETS} lines fit; the rest were dropped`);
  });
});
