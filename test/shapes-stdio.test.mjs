// stdio as production connects it, for a pnpm-installed app (where a stat of stdio left in Node's
// stat buffer broke module resolution): stdout and stderr each a TTY (util-linux `script`), a pipe,
// a unix socket, a file, /dev/null, closed (`>&-`), and a pipe or socket nobody reads. The reset
// log lines on stderr (the default) and on stdout (RESETWATCH_LOG=stdout). Same stdout, stderr
// (minus the agent's lines) and exit status with and without the agent; the agent saw every reset
// (its onReset count, and its lines wherever they can be read back); nothing blocks on a full
// destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layout, runShape, assertSame, inParallel, resetLineCount } from './helpers/shapes.mjs';

const PARALLEL = 3;
const READABLE = new Set(['tty', 'pipe', 'socket', 'file', 'unread', 'unread-socket']);
const AGENT = ['--require', 'resetwatch'];

async function pair({ cwd, app = 'app.cjs', agentArgs = AGENT, env = {}, agentEnv = {}, ...shape }) {
  const plain = await runShape({ cwd, ...shape, env, args: [app] });
  const withAgent = await runShape({ cwd, ...shape, env: { ...env, ...agentEnv }, args: [...agentArgs, app] });
  assert.equal(plain.status, shape.expectStatus ?? 3, `the app itself works\n${plain.stdout}${plain.stderr}`);
  return { plain, withAgent };
}

test('stderr a TTY, a pipe, a unix socket, a file, /dev/null, closed; stdout a file (CJS and ESM)', async () => {
  const cwd = await layout('pnpm');
  const cases = ['tty', 'pipe', 'socket', 'file', 'null', 'closed'].flatMap((stderr) =>
    ['app.cjs', 'app.mjs'].map((app) => ({ stderr, app })),
  );
  await inParallel(cases, PARALLEL, async ({ stderr, app }) => {
    const { plain, withAgent } = await pair({ cwd, app, stderr, stdout: 'file' });
    assertSame(assert, plain, withAgent, { label: `${app}: stderr ${stderr}`, lines: READABLE.has(stderr) ? 'stderr' : false });
  });
});

test('stdout a TTY, a pipe, a unix socket, a file, /dev/null, closed, unread; stderr a file — and the same with RESETWATCH_LOG=stdout', async () => {
  const cwd = await layout('pnpm');
  const cases = [];
  for (const stdout of ['tty', 'pipe', 'socket', 'file', 'null', 'closed', 'unread', 'unread-socket']) {
    cases.push({ stdout, log: 'stderr' });
    cases.push({ stdout, log: 'stdout' });
  }
  await inParallel(cases, PARALLEL, async ({ stdout, log }) => {
    const { plain, withAgent } = await pair({ cwd, stdout, stderr: 'file', agentEnv: { RESETWATCH_LOG: log } });
    const lines = log === 'stderr' ? 'stderr' : READABLE.has(stdout) ? 'stdout' : false;
    assertSame(assert, plain, withAgent, { label: `stdout ${stdout}, RESETWATCH_LOG=${log}`, lines });
  });
});

test('stdout and stderr on one TTY; an app that dies of SIGTERM there', async () => {
  const cwd = await layout('pnpm');
  for (const app of ['app.cjs', 'app.mjs']) {
    const { plain, withAgent } = await pair({ cwd, app, stdout: 'tty', stderr: 'tty' });
    assertSame(assert, plain, withAgent, { label: `${app} on one TTY`, lines: 'stdout' });
  }
  const { plain, withAgent } = await pair({ cwd, stdout: 'tty', stderr: 'tty', env: { SHAPES_SIGNAL: 'SIGTERM' }, expectStatus: 128 + 15 });
  assertSame(assert, plain, withAgent, { label: 'SIGTERM on one TTY', lines: 'stdout' });
});

test('a pipe or a unix socket nobody reads: the app neither blocks nor dies, the lines that do not fit are dropped, every reset is still seen', async () => {
  const cwd = await layout('pnpm');
  const RESETS = 1500; // ~1 MB of lines against a 64 KiB pipe or ~200 KiB of socket buffer
  const cases = [];
  for (const kind of ['unread', 'unread-socket']) {
    // quiet: the app writes nothing, so Node never makes its own stream for the fd (which would
    // have made it non-blocking): the agent alone must not block on it. Not quiet: the app's own
    // stderr line went first. (Output the app writes after the agent filled the destination
    // waits as it would behind any other writer: README, Limits.)
    cases.push({ kind, log: 'stderr', quiet: '1' }, { kind, log: 'stderr', quiet: '0' }, { kind, log: 'stdout', quiet: '1' });
  }
  await inParallel(cases, PARALLEL, async ({ kind, log, quiet }) => {
    const env = { SHAPES_RESETS: String(RESETS), SHAPES_QUIET: quiet };
    const shape = log === 'stderr' ? { stderr: kind, stdout: 'file' } : { stdout: kind, stderr: 'file' };
    const { plain, withAgent } = await pair({
      cwd,
      ...shape,
      env,
      agentEnv: { RESETWATCH_LOG: log, RESETWATCH_LOG_RATE: '0' },
      timeout: 60000,
    });
    const label = `${kind} ${log}${quiet === '1' ? ', quiet app' : ''}`;
    assertSame(assert, plain, withAgent, { label, resets: RESETS, lines: false });
    const written = resetLineCount(withAgent[log]);
    assert.ok(written > 0 && written < RESETS, `${label}: ${written} of ${RESETS} lines fit; the rest were dropped`);
  });
});

test('stderr a pipe whose reader is gone, or a full disk: the agent lines and messages fail quietly, the app runs as without it', async () => {
  // The agent's one-line messages went through process.stderr, which emits a failed write (EPIPE,
  // ENOSPC) as an 'error' event: with no listener of the app's there, the app crashed on the
  // message saying that reset lines can no longer be written, or on a wrong setting's message.
  const cwd = await layout('pnpm');
  const cases = ['broken', 'full'].flatMap((stderr) => [
    { stderr, agentEnv: {} },
    { stderr, agentEnv: { RESETWATCH_LOG_RATE: 'bogus' } },
  ]);
  await inParallel(cases, PARALLEL, async ({ stderr, agentEnv }) => {
    const { plain, withAgent } = await pair({ cwd, stderr, stdout: 'file', agentEnv });
    assertSame(assert, plain, withAgent, { label: `stderr ${stderr} ${JSON.stringify(agentEnv)}`, lines: false });
  });
});

test('an app that crashes on an unhandled reset with stderr a pipe nobody reads (not yet full) crashes the same way', async () => {
  // Once the agent's lines have filled such a pipe, Node's own crash report finds no room either:
  // README, Limits.
  const cwd = await layout('pnpm');
  const { plain, withAgent } = await pair({
    cwd,
    stderr: 'unread',
    stdout: 'file',
    env: { SHAPES_CRASH: '1', SHAPES_RESETS: '3' },
    expectStatus: 1,
  });
  assertSame(assert, plain, withAgent, { label: 'crash, unread stderr', resets: 3, lines: 'stderr' });
  assert.match(plain.stderr, /Error: read ECONNRESET/);
});
