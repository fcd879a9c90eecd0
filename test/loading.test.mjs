// Every way of loading the agent installs it exactly once and sees the app's resets: --require,
// NODE_OPTIONS, --import, for CommonJS and ESM apps (named imports from node:net included), loaded
// twice, in worker threads and forked children. RESETWATCH_DISABLED, and bad env values (one line
// naming the variable and the value used instead; the app runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, fixture, resetLines, diagLines, withoutAgentLines, describeRun } from './helpers/subprocess.mjs';
import { freePort } from './helpers/prometheus.mjs';

const CJS = fixture('app-load.cjs');
const ESM = fixture('app-load.mjs');
const NAMED = fixture('app-load-named.mjs');

/** Runs an app with the given node args / env; returns its report and its reset lines. */
async function load(nodeArgs, app, { env = {}, appArgs = [] } = {}) {
  const r = await runNode([...nodeArgs, app, ...appArgs], { env });
  assert.equal(r.code, 0, describeRun(r));
  const report = JSON.parse(r.stdout);
  assert.equal(report.code, 'ECONNRESET', 'the app saw its reset');
  return { r, report, lines: resetLines(r.stderr) };
}

function assertOnce({ r, report, lines }) {
  assert.equal(report.present, true, 'the agent is loaded');
  assert.equal(report.events, 1, 'one event per reset');
  assert.equal(lines.length, 1, `one log line per reset\n${r.stderr}`);
  assert.equal(lines[0]['error.type'], 'ECONNRESET');
  assert.equal(lines[0]['resetwatch.direction'], 'client');
  assert.deepEqual(diagLines(r.stderr), [], 'no agent messages');
}

const WAYS = {
  '--require resetwatch': { args: ['--require', 'resetwatch'] },
  'NODE_OPTIONS=--require=resetwatch': { args: [], env: { NODE_OPTIONS: '--require=resetwatch' } },
  '--import resetwatch': { args: ['--import', 'resetwatch'] },
  'NODE_OPTIONS=--import=resetwatch': { args: [], env: { NODE_OPTIONS: '--import=resetwatch' } },
};

test('without the agent the fixtures see no agent (baseline)', async () => {
  for (const app of [CJS, ESM, NAMED]) {
    const { r, report, lines } = await load([], app);
    assert.equal(report.present, false);
    assert.equal(lines.length, 0);
    assert.equal(r.stderr, '');
  }
});

for (const [way, { args, env }] of Object.entries(WAYS)) {
  test(`${way}: CommonJS and ESM apps, named ESM imports from node:net`, async () => {
    for (const app of [CJS, ESM, NAMED]) assertOnce(await load(args, app, { env }));
  });
}

test('loaded twice (--require and --import) installs once', async () => {
  for (const app of [CJS, ESM, NAMED]) assertOnce(await load(['--require', 'resetwatch', '--import', 'resetwatch'], app));
  assertOnce(await load(['--import', 'resetwatch'], CJS, { env: { NODE_OPTIONS: '--require=resetwatch' } }));
});

test('a later require/import of the package by the app returns the same agent', async () => {
  for (const app of [CJS, ESM]) {
    const run = await load(['--require', 'resetwatch'], app, { appArgs: ['again'] });
    assertOnce(run);
    assert.equal(run.report.same, true, 'same instance');
  }
  // Loaded by the app alone (no preload): it installs then, once.
  for (const app of [CJS, ESM]) assertOnce(await load([], app, { appArgs: ['again'] }));
});

test('RESETWATCH_DISABLED=1: nothing hooked, nothing logged, the app runs', async () => {
  for (const value of ['1', 'true']) {
    const { r, report, lines } = await load(['--require', 'resetwatch'], NAMED, { env: { RESETWATCH_DISABLED: value } });
    assert.equal(report.present, true);
    assert.equal(report.events, 0);
    assert.equal(lines.length, 0);
    assert.equal(r.stderr, '');
  }
});

test('a bad env value prints one line naming the variable and the value used, and the app runs', async () => {
  const cases = [
    ['RESETWATCH_LOG_LEVEL', 'loud', '"warn"'],
    ['RESETWATCH_LOG_RATE', 'fast', '10'],
    ['RESETWATCH_MAX_PEERS', '-3', '100'],
    ['RESETWATCH_SERVER_PEERS', 'maybe', 'false'],
    ['RESETWATCH_DISABLED', 'perhaps', 'false'],
  ];
  for (const [name, value, used] of cases) {
    const { r, report, lines } = await load(['--require', 'resetwatch'], CJS, { env: { [name]: value } });
    assert.equal(report.events, 1, `${name}: the agent still works`);
    assert.equal(lines.length, 1);
    const diags = diagLines(r.stderr);
    assert.equal(diags.length, 1, `${name}=${value}: one line\n${r.stderr}`);
    assert.ok(diags[0].includes(name) && diags[0].includes(value) && diags[0].includes(`using ${used}`), diags[0]);
    assert.equal(withoutAgentLines(r.stderr), '', 'nothing else on stderr');
  }
});

test('RESETWATCH_PORT=abc: one line naming it and the port used instead; the app runs', async () => {
  const { r, report } = await load(['--require', 'resetwatch'], CJS, { env: { RESETWATCH_PORT: 'abc' } });
  assert.equal(report.events, 1);
  const diags = diagLines(r.stderr);
  const about = diags.filter((l) => l.includes('RESETWATCH_PORT'));
  assert.equal(about.length, 1, r.stderr);
  assert.match(about[0], /RESETWATCH_PORT="abc" is not valid; using 9465/);
  // The default port 9465 may be taken on this machine: then one more line says so. Nothing else.
  for (const l of diags) if (l !== about[0]) assert.match(l, /9465/);
});

test('worker threads and forked children: the agent loads in each, their resets are logged, nothing crashes', async () => {
  // A fixed port: the main thread binds it; the worker thread must not try; the forked child
  // (a separate process with the same NODE_OPTIONS/execArgv) joins the main process's family
  // (exporters/prometheus/family.ts) and serves through it: no line from anyone.
  const port = await freePort();
  for (const [args, env] of [
    [['--require', 'resetwatch'], {}],
    [[], { NODE_OPTIONS: '--require=resetwatch' }],
    [['--import', 'resetwatch'], {}],
  ]) {
    const r = await runNode([...args, fixture('app-workers.cjs')], { env: { ...env, RESETWATCH_PORT: String(port) } });
    assert.equal(r.code, 0, describeRun(r));
    const report = JSON.parse(r.stdout);
    assert.deepEqual([report.thread.code, report.thread.present, report.thread.events, report.thread.exit], ['ECONNRESET', true, 1, 0]);
    assert.deepEqual([report.child.code, report.child.present, report.child.events, report.child.exit], ['ECONNRESET', true, 1, 0]);
    const lines = resetLines(r.stderr);
    assert.equal(lines.length, 2, r.stderr);
    assert.deepEqual(
      lines.map((l) => l.pid).sort(),
      [report.main.pid, report.child.pid].sort(),
      'one line from the thread (main pid), one from the child',
    );
    // None: the worker thread never tries to bind, the child shares the main process's endpoint.
    assert.deepEqual(diagLines(r.stderr), [], r.stderr);
    assert.equal(withoutAgentLines(r.stderr), '');
  }
});
