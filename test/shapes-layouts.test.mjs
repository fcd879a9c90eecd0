// Module layouts as production installs them, each made by the real package manager from an
// `npm pack` tarball of this checkout (test/helpers/shapes.mjs caches them): npm (flat), pnpm
// (symlinks into node_modules/.pnpm), yarn classic, a global install, the agent required by
// absolute path from an unrelated directory (a Kubernetes init container's NODE_OPTIONS), and
// --preserve-symlinks. CommonJS and ESM apps whose dependency `debug` needs its sibling `ms`.
// stderr is a pipe and a unix socket: a plain fstat of either at preload once left its mode in the
// stat buffer fs.realpathSync reads back, and the pnpm app died with "Cannot find module 'ms'"
// (fixed in d536c45; this file fails on d536c45^). Same stdout, stderr (minus the agent's lines)
// and exit status with and without the agent, and the agent saw the reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { layout, runShape, assertSame, inParallel, resetLineCount } from './helpers/shapes.mjs';
import { ROOT } from './helpers/subprocess.mjs';

const PARALLEL = 3;
const APPS = { cjs: 'app.cjs', esm: 'app.mjs' };

/** Runs each case without and with the agent, stderr a pipe and a socket; asserts each pair. */
async function check(cases) {
  const runs = [];
  for (const c of cases) for (const stderr of ['pipe', 'socket']) runs.push({ ...c, stderr });
  await inParallel(runs, PARALLEL, async ({ label, cwd, app, agentArgs = [], agentEnv = {}, args = [], env = {}, stderr, expect = {} }) => {
    const base = { cwd, stderr, stdout: 'file', env };
    const plain = await runShape({ ...base, args: [...args, app] });
    const withAgent = await runShape({ ...base, args: [...args, ...agentArgs, app], env: { ...env, ...agentEnv } });
    const name = `${label}, stderr a ${stderr}`;
    assert.equal(plain.status, expect.status ?? 3, `${name}: the app itself works in this layout\n${plain.stdout}${plain.stderr}`);
    if (expect.deps !== false) assert.match(plain.stdout, /humanize 2s/, name);
    assertSame(assert, plain, withAgent, { label: name, ...expect.same });
  });
}

test('npm, pnpm and yarn layouts: --require and --import, CommonJS and ESM apps', async () => {
  const cases = [];
  for (const kind of ['npm', 'pnpm', 'yarn']) {
    const cwd = await layout(kind);
    for (const [lang, app] of Object.entries(APPS)) {
      cases.push({ label: `${kind} ${lang} --require`, cwd, app, agentArgs: ['--require', 'resetwatch'] });
      cases.push({ label: `${kind} ${lang} --import`, cwd, app, agentArgs: ['--import', 'resetwatch'] });
    }
    cases.push({ label: `${kind} cjs NODE_OPTIONS`, cwd, app: 'app.cjs', agentEnv: { NODE_OPTIONS: '--require resetwatch' } });
  }
  // The pnpm layout is where the stat buffer mattered: see that its modules all came from .pnpm.
  const pnpm = await layout('pnpm');
  assert.ok(fs.lstatSync(path.join(pnpm, 'node_modules/debug')).isSymbolicLink(), 'pnpm links its packages');
  assert.ok(!fs.existsSync(path.join(pnpm, 'node_modules/ms')), 'ms is not hoisted: only a resolved realpath finds it');
  await check(cases);
});

test('pnpm: an app that crashes on an unhandled reset, dies of a signal, or meets resets behind an answer, does so the same way', async () => {
  const cwd = await layout('pnpm');
  // No report (the app dies before it writes one): the two resets are counted by their lines.
  await check([
    {
      label: 'pnpm crash',
      cwd,
      app: 'app.cjs',
      agentArgs: ['--require', 'resetwatch'],
      env: { SHAPES_CRASH: '1', SHAPES_RESETS: '2' },
      expect: { status: 1, same: { resets: 2 } },
    },
    {
      // Node 20 and 22 read each answer and its RST as an end of input: the agent asks the kernel
      // (getpeername, one more read on the socket), with stderr a pipe and a socket.
      label: 'pnpm answered reset',
      cwd,
      app: 'app.cjs',
      agentArgs: ['--require', 'resetwatch'],
      env: { SHAPES_ANSWERED: '1', SHAPES_RESETS: '2' },
      expect: { same: { resets: 2 } },
    },
    {
      label: 'pnpm SIGTERM',
      cwd,
      app: 'app.mjs',
      agentArgs: ['--import', 'resetwatch'],
      env: { SHAPES_SIGNAL: 'SIGTERM' },
      expect: { status: 128 + 15 },
    },
    {
      label: 'pnpm SIGKILL',
      cwd,
      app: 'app.cjs',
      agentArgs: ['--require', 'resetwatch'],
      env: { SHAPES_SIGNAL: 'SIGKILL' },
      expect: { status: 128 + 9 },
    },
  ]);
});

test('the agent installed globally or copied into an unrelated directory, required by absolute path (NODE_OPTIONS, as a Kubernetes init container sets it)', async () => {
  const cwd = await layout('pnpm-app');
  const global = path.join(await layout('global'), 'lib/node_modules/resetwatch');
  const copied = path.join(await layout('agent-dir'), 'node_modules/resetwatch');
  // /agent as a symlink to the global package (its dependencies inside it), as `ln -s` would make it.
  const linkDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-agent-link-'));
  const link = path.join(linkDir, 'agent');
  fs.symlinkSync(global, link);
  try {
    const cases = [];
    for (const [where, dir] of [
      ['global', global],
      ['copied', copied],
      ['symlinked', link],
    ]) {
      for (const [lang, app] of Object.entries(APPS)) {
        cases.push({ label: `${where} ${lang} NODE_OPTIONS=--require ${dir}`, cwd, app, agentEnv: { NODE_OPTIONS: `--require ${dir}` } });
      }
      cases.push({
        label: `${where} esm --import <abs>/index.mjs`,
        cwd,
        app: 'app.mjs',
        agentArgs: ['--import', path.join(dir, 'dist/agent/index.mjs')],
      });
    }
    cases.push({
      label: 'symlinked --preserve-symlinks',
      cwd,
      app: 'app.cjs',
      args: ['--preserve-symlinks'],
      agentEnv: { NODE_OPTIONS: `--require ${link}` },
      env: { SHAPES_DEPS: '0' },
      expect: { deps: false },
    });
    await check(cases);
  } finally {
    fs.rmSync(linkDir, { recursive: true, force: true });
  }
});

test("--preserve-symlinks: works in a flat layout and through a symlink to a global install; where it hides the agent's own dependencies (pnpm, a symlink to a package whose dependencies are its siblings) the agent says so in one line and stays out", async () => {
  const npm = await layout('npm');
  await check([
    { label: 'npm --preserve-symlinks', cwd: npm, app: 'app.cjs', args: ['--preserve-symlinks'], agentArgs: ['--require', 'resetwatch'] },
  ]);
  const pnpm = await layout('pnpm');
  const linkDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-agent-link-'));
  const link = path.join(linkDir, 'agent');
  fs.symlinkSync(path.join(await layout('agent-dir'), 'node_modules/resetwatch'), link);
  try {
    const cases = [
      ['pnpm', ['--require', 'resetwatch']],
      ['symlink to node_modules/resetwatch', ['--require', link]],
    ];
    await inParallel(
      cases.flatMap((c) => ['pipe', 'socket'].map((stderr) => [...c, stderr])),
      PARALLEL,
      async ([label, agentArgs, stderr]) => {
        const base = { cwd: pnpm, stderr, stdout: 'file', env: { SHAPES_DEPS: '0' } };
        const plain = await runShape({ ...base, args: ['--preserve-symlinks', 'app.cjs'] });
        const withAgent = await runShape({ ...base, args: ['--preserve-symlinks', ...agentArgs, 'app.cjs'] });
        assert.equal(plain.status, 3, plain.stderr);
        assertSame(assert, plain, withAgent, { resets: null, label: `${label} --preserve-symlinks, stderr a ${stderr}` });
        const own = withAgent.stderr.split('\n').filter((l) => l.startsWith('resetwatch: '));
        assert.equal(own.length, 1, withAgent.stderr);
        assert.match(
          own[0],
          /^resetwatch: disabled, the app runs without it: its dependency \S+ cannot be found from .* \(--preserve-symlinks hides/,
        );
        assert.deepEqual(withAgent.report, { agent: true, events: 0 }, 'installed but disabled');
      },
    );
  } finally {
    fs.rmSync(linkDir, { recursive: true, force: true });
  }
});

// Bundlers an app may build itself with: esbuild, and @vercel/ncc (webpack inside: a require of
// anything but a literal string becomes a context that throws at run time, as in webpack, rspack
// and rollup's commonjs plugin; a trial of bundlers found the agent crashing every such bundle).
const BUNDLERS = {
  esbuild: (entry, dir) => {
    const out = path.join(dir, 'app.bundle.cjs');
    execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [
      entry,
      '--bundle',
      '--platform=node',
      '--log-level=error',
      `--outfile=${out}`,
    ]);
    return out;
  },
  ncc: (entry, dir) => {
    execFileSync(path.join(ROOT, 'node_modules/.bin/ncc'), ['build', entry, '-o', path.join(dir, 'ncc'), '-q'], { stdio: 'pipe' });
    return path.join(dir, 'ncc', 'index.cjs'); // a .cjs entry's output is .cjs too
  },
};

for (const [bundler, bundle] of Object.entries(BUNDLERS)) {
  test(`an app that bundles the agent itself with ${bundler} (require('resetwatch') in its code, pino inside the bundle), run where no node_modules is: its reset lines are written`, async () => {
    const cwd = await layout('npm');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-bundle-'));
    try {
      const entry = path.join(cwd, `bundle-entry-${process.pid}-${bundler}.cjs`);
      // One refused connection to a port nothing listens on (127.0.0.3: the tree fixtures' way).
      fs.writeFileSync(
        entry,
        "require('resetwatch');\nconst s = require('node:net').createServer().listen(0, '127.0.0.2', () => {\n" +
          "  const c = require('node:net').connect(s.address().port, '127.0.0.3');\n" +
          "  c.on('error', (e) => { console.log('refused', e.code); s.close(); });\n});\n",
      );
      let out;
      try {
        out = bundle(entry, dir);
      } finally {
        fs.rmSync(entry, { force: true });
      }
      const r = await runShape({ cwd: dir, stderr: 'pipe', stdout: 'file', args: [out], env: { RESETWATCH_PORT: 'off' } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /refused ECONNREFUSED/);
      assert.doesNotMatch(r.stderr, /^resetwatch: /m, 'no line of the agent about itself');
      assert.equal(resetLineCount(r.stderr), 1, r.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a loader that compiles .js files, registered after the agent (as tsx, @babel/register and nyc register theirs), never compiles the agent's own files; the app's still go through it, and its reset line is written", async () => {
  // A trial of TypeScript loaders: under `node -r tsx/cjs`, tsx parsed the agent's ~250 KB of
  // code in every process (~50 ms each). The agent's files are compiled by the loader Node had when
  // the agent loaded (build/bundle.js); the bundling test above keeps require()'s way working.
  const cwd = await layout('npm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-js-hook-'));
  try {
    const hook = path.join(dir, 'hook.cjs');
    fs.writeFileSync(
      hook,
      "const Module = require('node:module');\nconst seen = [];\nconst js = Module._extensions['.js'];\n" +
        "Module._extensions['.js'] = function (m, filename) { seen.push(filename); return js(m, filename); };\n" +
        "process.on('exit', () => console.log(JSON.stringify({ seen })));\n",
    );
    const app = path.join(dir, 'app.js');
    fs.writeFileSync(
      app,
      "const s = require('node:net').createServer().listen(0, '127.0.0.2', () => {\n" +
        "  const c = require('node:net').connect(s.address().port, '127.0.0.3');\n" +
        "  c.on('error', (e) => { console.log('refused', e.code); s.close(); });\n});\n",
    );
    const r = await runShape({
      cwd,
      stderr: 'pipe',
      stdout: 'file',
      args: ['--require', 'resetwatch', '--require', hook, app],
      env: { RESETWATCH_PORT: 'off' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /refused ECONNREFUSED/);
    const { seen } = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{"seen"')));
    assert.ok(seen.includes(app), `the hook compiled the app: ${JSON.stringify(seen)}`);
    const agentFiles = seen.filter((f) => f.includes(`${path.sep}resetwatch${path.sep}dist${path.sep}`));
    assert.deepEqual(agentFiles, [], "none of the agent's own files went through the hook");
    assert.equal(resetLineCount(r.stderr), 1, r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
