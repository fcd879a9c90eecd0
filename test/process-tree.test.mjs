// A process tree under one NODE_OPTIONS (npm start, npx, node spawning node) serves every
// process's resets from one scrape of one port: whichever process started first, whichever exits
// first, and without losing a departed process's counts. The launchers (npm, npx) stay dormant.
// The app's stdout, stderr (minus the agent's own lines), exit code and signal are the same as
// without the agent. Real processes, real npm, real refused connections on loopback.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { ROOT, fixture, cleanEnv, withoutAgentLines, diagLines, runNode } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree as startTreeWith, killTrees, AGENT_OPTIONS } from './helpers/tree.mjs';
import { processGone } from './helpers/resets.mjs';

const APP = fixture('tree-app.cjs');
const NODE = process.execPath;
const NODE_DIR = path.dirname(NODE);

/** npm from this machine, never reaching the network (no update check, audit or fund). */
const NPM_ENV = {
  npm_config_update_notifier: 'false',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_offline: 'true',
  npm_config_loglevel: 'warn',
  PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH}`,
};

afterEach(killTrees);

/** A tree under the agent (unless `agent: false`), with npm kept off the network. */
const startTree = (cmd, args, opts = {}) => startTreeWith(cmd, args, { ...opts, env: { ...NPM_ENV, ...opts.env } });

/** One scrape: total resets, connections dialled, and the family size from /resets. */
async function scrape(port) {
  const metrics = await rawRequest(port);
  assert.equal(metrics.status, 200);
  const samples = parseExposition(metrics.body);
  const resets = await rawRequest(port, { path: '/resets' });
  const events = JSON.parse(resets.body);
  return {
    resets: sumOf(samples, 'resetwatch_resets_total'),
    connections: sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'client' }),
    family: Number(resets.headers['x-resetwatch-family'] ?? 1),
    pids: new Set(events.map((e) => e.pid)),
    events: events.length,
  };
}

/** Scrapes until `pred` holds (a takeover takes a moment), failing after 15 s. */
async function scrapeUntil(port, pred, what) {
  const deadline = Date.now() + 15000;
  let last;
  for (;;) {
    try {
      last = await scrape(port);
      if (pred(last)) return last;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) assert.fail(`${what}: last scrape ${JSON.stringify(last, (_k, v) => (v instanceof Set ? [...v] : v))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * What the app wrote and how it ended, without the agent's lines and without pids: what is compared
 * with and without the agent. A child's {"exited"} line is left out: whether its parent prints it
 * before dying of the same group signal is a race the kernel decides in each run (the CI of
 * abe5df0 saw it printed without the agent and not with it); stopGroup() checks the children.
 */
function observable(r) {
  return {
    code: r.code,
    signal: r.signal,
    stdout: r.stdout
      .replace(/"pid":\d+/g, '"pid":0')
      .split('\n')
      .filter((l) => !l.includes('"exited"'))
      .sort()
      .join('\n'),
    stderr: withoutAgentLines(r.stderr),
  };
}

function npmProject() {
  const dir = mkdtempSync(path.join(tmpdir(), 'resetwatch-tree-'));
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({
      name: 'tree',
      version: '1.0.0',
      private: true,
      scripts: { start: `node ${JSON.stringify(APP).slice(1, -1)} app 2 child:3` },
    }),
  );
  // A local bin for npx: node_modules/.bin/tree-app runs the fixture.
  mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  const bin = path.join(dir, 'node_modules', '.bin', 'tree-app');
  writeFileSync(bin, `#!/bin/sh\nexec node ${JSON.stringify(APP)} "$@"\n`);
  chmodSync(bin, 0o755);
  return dir;
}

test('launcherOf: npm, npx, yarn, pnpm and corepack scripts; nothing else', () => {
  const { launcherOf } = createRequire(import.meta.url)(path.join(ROOT, 'dist/agent/launcher.js'));
  const npmLink = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8', env: { ...process.env, ...NPM_ENV } }).trim();
  assert.equal(launcherOf(npmLink), 'npm', npmLink);
  assert.equal(launcherOf(realpathSync(npmLink)), 'npm', realpathSync(npmLink));
  const cases = {
    '/usr/lib/node_modules/npm/bin/npx-cli.js': 'npx',
    '/usr/local/lib/node_modules/yarn/bin/yarn.js': 'yarn',
    '/opt/yarn-v1.22.22/bin/yarn.js': 'yarn',
    '/app/.yarn/releases/yarn-4.5.0.cjs': 'yarn',
    '/usr/local/lib/node_modules/@yarnpkg/cli-dist/bin/yarn.js': 'yarn',
    '/root/.local/share/pnpm/node_modules/pnpm/bin/pnpm.cjs': 'pnpm',
    '/usr/lib/node_modules/corepack/dist/corepack.js': 'corepack',
    '/usr/lib/node_modules/corepack/dist/pnpm.js': 'corepack',
    '/usr/local/bin/pnpm': 'pnpm',
    '/app/node_modules/.bin/yarn': 'yarn',
    '/app/server.js': undefined,
    '/app/bin/yarn.js': undefined,
    '/app/npm-cli.js': undefined,
    '': undefined,
  };
  for (const [script, name] of Object.entries(cases)) assert.equal(launcherOf(script), name, script);
  assert.equal(launcherOf(undefined), undefined);
});

test('npm start: one scrape shows the app and its child; npm is dormant; same output and exit as without the agent', async (t) => {
  const dir = npmProject();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const env = { RESETWATCH_PORT: String(port) };

  const plain = startTree('npm', ['start', '--silent'], { cwd: dir, env, agent: false });
  await plain.ready(2);
  const without = await stopGroup(plain, ['app', 'child']);

  const tree = startTree('npm', ['start', '--silent'], { cwd: dir, env });
  await tree.ready(2);
  const s = await scrapeUntil(port, (x) => x.resets === 5, 'app 2 + child 3 resets');
  assert.equal(s.family, 2, 'the app and its child; npm itself is not a member');
  assert.deepEqual([...s.pids].sort(), [tree.pid('app'), tree.pid('child')].sort());
  assert.ok(s.connections >= 5, `connections ${s.connections}`);
  const withAgent = await stopGroup(tree, ['app', 'child']);
  assert.deepEqual(observable(withAgent), observable(without));
  assert.deepEqual(diagLines(withAgent.stderr), [], 'no agent messages (npm printed none either)');
});

test('npm start with a bad RESETWATCH_* value: reported by the app and its child, not by npm too', async (t) => {
  const dir = npmProject();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const tree = startTree('npm', ['start', '--silent'], { cwd: dir, env: { RESETWATCH_PORT: String(port), RESETWATCH_MAX_PEERS: 'many' } });
  await tree.ready(2);
  await tree.stderrUntil(
    (e) => (e.match(/RESETWATCH_MAX_PEERS="many" is not valid/g) ?? []).length >= 2,
    'the two lines of the app and its child',
  );
  await new Promise((r) => setTimeout(r, 300)); // a third (npm's) would come within this grace
  const r = await tree.stop('SIGTERM');
  const lines = diagLines(r.stderr);
  assert.equal(lines.length, 2, r.stderr);
  for (const l of lines) assert.match(l, /RESETWATCH_MAX_PEERS="many" is not valid/);
});

test('npx with a local bin: the launcher is dormant, the app and its child are summed', async (t) => {
  const dir = npmProject();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const env = { RESETWATCH_PORT: String(port) };
  const plain = startTree('npx', ['--no-install', 'tree-app', 'app', '1', 'child:2'], { cwd: dir, env, agent: false });
  await plain.ready(2);
  const without = await stopGroup(plain, ['app', 'child']);

  const tree = startTree('npx', ['--no-install', 'tree-app', 'app', '1', 'child:2'], { cwd: dir, env });
  await tree.ready(2);
  const s = await scrapeUntil(port, (x) => x.resets === 3, 'app 1 + child 2 resets');
  assert.equal(s.family, 2, 'npx is not a member');
  assert.deepEqual(observable(await stopGroup(tree, ['app', 'child'])), observable(without));
});

test('node spawning node: the leader exits, a survivor takes the port over, counts never go backwards; a child that exits keeps its counts', async () => {
  const port = await freePort();
  // Without the agent first: the same tree, the same ending.
  const args = [APP, 'root', '2', 'a:3', 'b:4'];
  const plain = startTree(NODE, args, { env: { RESETWATCH_PORT: String(port) }, agent: false });
  await plain.ready(3);
  process.kill(plain.pid('root'), 'SIGTERM');
  process.kill(plain.pid('b'), 'SIGTERM');
  const without = await plain.stop('SIGTERM');

  const tree = startTree(NODE, args, {
    env: { RESETWATCH_PORT: String(port), RESETWATCH_LOG_LEVEL: process.env.TREE_DEBUG ? 'debug' : 'warn' },
  });
  await tree.ready(3);
  const all = await scrapeUntil(port, (x) => x.resets === 9 && x.family === 3, 'root 2 + a 3 + b 4');
  const before = all.connections;
  assert.deepEqual([...all.pids].sort(), ['root', 'a', 'b'].map(tree.pid).sort());

  // The first process (the leader, which bound the port) exits: a or b takes over.
  process.kill(tree.pid('root'), 'SIGTERM');
  const after = await scrapeUntil(
    port,
    (x) => x.family === 2 && x.resets === 9,
    `a survivor serving the two children, the leader's own resets still in the sum`,
  );
  assert.ok(after.connections >= before, `connections ${before} → ${after.connections}`);
  assert.equal(after.events, 9, '/resets still lists every reset');

  // A child exits: its counts stay.
  process.kill(tree.pid('b'), 'SIGTERM');
  const last = await scrapeUntil(port, (x) => x.family === 1, 'one process left');
  assert.equal(last.resets, 9);
  assert.ok(last.connections >= after.connections);

  const withAgent = await tree.stop('SIGTERM');
  assert.deepEqual(observable(withAgent), observable(without));
  if (!process.env.TREE_DEBUG) assert.deepEqual(diagLines(withAgent.stderr), []);
});

test('SIGTERM to the process group: every process dies of it, as without the agent', async () => {
  const port = await freePort();
  const args = [APP, 'root', '1', 'a:1', 'b:1'];
  const runs = [];
  for (const agent of [false, true]) {
    const tree = startTree(NODE, args, { env: { RESETWATCH_PORT: String(port) }, agent });
    await tree.ready(3);
    if (agent) await scrapeUntil(port, (x) => x.resets === 3, 'three resets');
    runs.push(await stopGroup(tree, ['a', 'b']));
  }
  assert.equal(runs[1].signal, 'SIGTERM');
  assert.deepEqual(observable(runs[1]), observable(runs[0]));
});

/**
 * SIGTERM to the tree's group; resolves with what stop() does once every named child is gone too.
 * A child's exit line its parent did print must say SIGTERM.
 */
async function stopGroup(tree, children) {
  const pids = children.map(tree.pid);
  const r = await tree.stop('SIGTERM');
  for (const pid of pids) await gone(pid);
  for (const l of r.stdout.split('\n').filter((x) => x.includes('"exited"'))) assert.equal(JSON.parse(l).signal, 'SIGTERM', l);
  return r;
}

/** Resolves once the process is gone or a zombie (helpers/resets.mjs processGone); fails after 10 s. */
async function gone(pid) {
  for (const end = Date.now() + 10000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    if (processGone(pid)) return;
  }
  assert.fail(`process ${pid} still runs 10 s after SIGTERM to its group`);
}

test('a port held by another program: one "already in use" line for the whole tree; the app runs on; the endpoint starts once the port is free', async (t) => {
  const holder = net.createServer();
  await new Promise((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => holder.close());
  const port = holder.address().port;
  const tree = startTree(NODE, [APP, 'root', '1', 'a:1', 'b:1'], { env: { RESETWATCH_PORT: String(port) } });
  await tree.ready(3);
  await tree.stderrUntil((e) => e.includes('already in use'), 'the "in use" line');
  await new Promise((r) => setTimeout(r, 300)); // a second line would come within this grace
  assert.equal(diagLines(tree.stderr()).length, 1, tree.stderr());
  // The program holding the port exits (a script run beside the service): the tree's leader binds
  // it at its next try (1 s, then 2 s, …) and serves the whole tree's resets.
  await new Promise((r) => holder.close(r));
  await scrapeUntil(port, (x) => x.resets === 3, 'root, a and b once the port is free');
  const r = await tree.stop('SIGTERM');
  const lines = diagLines(r.stderr);
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0], new RegExp(`${port} is already in use`));
  assert.match(lines[1], new RegExp(`listening on http://127\\.0\\.0\\.1:${port}/metrics: the port is free now`));
});

test('a member that crashes on a reset (uncaught ECONNRESET) has handed it over: the leader serves it', async () => {
  const port = await freePort();
  const tree = startTree(NODE, [fixture('tree-crash.cjs')], { env: { RESETWATCH_PORT: String(port) } });
  await tree.ready(1);
  const exited = await tree.exited('child');
  assert.equal(exited.code, 1, 'the crash, as without the agent');
  assert.match(tree.stderr(), /read ECONNRESET|ECONNRESET/);
  await scrapeUntil(port, (x) => x.resets === 1, "the child's reset, sent before it crashed");
  await tree.stop('SIGTERM');
});

test("an app whose first load of node:net is in its 'beforeExit' listener, beside a family's leader: the listener runs once, as without the agent", async () => {
  const port = await freePort();
  const root = startTree(NODE, [APP, 'root', '0'], { env: { RESETWATCH_PORT: String(port) }, session: false });
  await root.ready(1);
  await scrapeUntil(port, (x) => x.family === 1, 'the root leading');
  // console.log to a pipe makes Node's stdout a net.Socket: its first load of node:net. A refused
  // bind of the family's name there would leave a handle to close, and Node would emit
  // 'beforeExit' again. The app's loop turned before (a timer); one that never turned still sees
  // it twice (README Limits).
  const app = "let n = 0; process.on('beforeExit', () => console.log('beforeExit', ++n)); setTimeout(() => {}, 20);";
  for (let i = 0; i < 3; i++) {
    const plain = await runNode(['-e', app]);
    const agent = await runNode(['--require', 'resetwatch', '-e', app], { env: { RESETWATCH_PORT: String(port) } });
    assert.equal(plain.stdout, 'beforeExit 1\n');
    assert.deepEqual([agent.code, agent.stdout, withoutAgentLines(agent.stderr)], [plain.code, plain.stdout, plain.stderr]);
  }
  await root.stop('SIGTERM');
});

test('RESETWATCH_PORT=0: each process its own free port, as before (no family)', async () => {
  const tree = startTree(NODE, [APP, 'root', '1', 'a:1'], { env: { RESETWATCH_PORT: '0' } });
  await tree.ready(2);
  await tree.stderrUntil((e) => (e.match(/listening on/g) ?? []).length >= 2, 'two "listening" lines');
  const r = await tree.stop('SIGTERM');
  const ports = diagLines(r.stderr)
    .map((l) => /listening on http:\/\/[^:]+:(\d+)\//.exec(l)?.[1])
    .filter(Boolean);
  assert.equal(new Set(ports).size, 2, r.stderr);
});

test("a cluster primary in the family brings its workers' sum; it stays after the primary exits", async () => {
  const port = await freePort();
  // Both in this test's session: one family (a family is one user's session).
  const root = startTree(NODE, [APP, 'root', '1'], { env: { RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' }, session: false });
  await root.ready(1);
  const primary = spawn(NODE, [fixture('prom-cluster.cjs')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: cleanEnv({ NODE_OPTIONS: AGENT_OPTIONS, RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' }),
  });
  let out = '';
  let err = '';
  primary.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
  });
  primary.stderr.setEncoding('utf8').on('data', (d) => {
    err += d;
  });
  const exited = new Promise((resolve) => primary.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    // Workers 2 + 3 resets, the root's 1: one scrape of the root's port.
    const s = await scrapeUntil(port, (x) => x.resets === 6, 'root 1 + cluster workers 2 + 3');
    assert.equal(s.family, 2, 'the root and the cluster primary (its workers are in its own sum)');
    assert.equal(err, '', 'the primary and its workers print nothing');
    primary.stdin.end(); // the primary disconnects its workers and exits
    assert.deepEqual(await exited, { code: 0, signal: null }, out + err);
    const after = await scrapeUntil(port, (x) => x.family === 1, 'the primary gone');
    assert.equal(after.resets, 6);
  } finally {
    primary.kill('SIGKILL');
    await root.stop('SIGTERM');
  }
});
