// PM2, the process manager many Node services run under, with the agent in NODE_OPTIONS. PM2 starts
// its daemon and each fork-mode app detached (a session of its own each), pm2-runtime keeps the
// daemon in the foreground (containers), cluster-mode apps are the daemon's cluster workers, and
// its client (`pm2 start`, `pm2 list`) only talks to the daemon. One scrape of one port serves every
// app's resets, across a reload; the client says nothing and holds nothing; a cluster worker's reset
// lines land in the app's own PM2 log, not in the daemon's. Real pm2 (a devDependency), real
// processes, real refused connections on loopback (test/fixtures/tree-app.cjs).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, fixture, cleanEnv } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree, killTrees, AGENT_OPTIONS } from './helpers/tree.mjs';

const BIN = path.join(ROOT, 'node_modules', '.bin');
const APP = fixture('tree-app.cjs');

afterEach(killTrees);

/** A PM2 home and an ecosystem file for `apps`, in a fresh directory; removed (daemon killed) after the test. */
function pm2Project(t, apps) {
  const dir = mkdtempSync(path.join(tmpdir(), 'rw-pm2-'));
  writeFileSync(path.join(dir, 'eco.config.js'), `module.exports = ${JSON.stringify({ apps })};\n`);
  const home = path.join(dir, 'home');
  t.after(async () => {
    await pm2(home, {}, 'kill').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, home, eco: path.join(dir, 'eco.config.js') };
}

/** The pm2 client, run to its end under the agent: { stdout, stderr }. */
async function pm2(home, env, ...args) {
  return promisify(execFile)(path.join(BIN, 'pm2'), args, {
    env: cleanEnv({ NODE_OPTIONS: AGENT_OPTIONS, PM2_HOME: home, ...env }),
    timeout: 60000,
  });
}

/** What PM2 wrote to the error logs of app `name` (one file per instance), joined. */
function appErrorLog(home, name) {
  const logs = path.join(home, 'logs');
  return readdirSync(logs)
    .filter((f) => f.startsWith(`${name}-error`))
    .map((f) => readFileSync(path.join(logs, f), 'utf8'))
    .join('');
}

/** Scrapes until the resets total is `n` (an app starts, then joins the family), failing after 20 s. */
async function resetsUntil(port, n, what) {
  const deadline = Date.now() + 20000;
  let last;
  for (;;) {
    try {
      const metrics = await rawRequest(port);
      last = sumOf(parseExposition(metrics.body), 'resetwatch_resets_total');
      if (last === n) return;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) assert.fail(`${what}: resets ${last}, expected ${n}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const app = (name, resets, more = {}) => ({ name, script: APP, args: [name, String(resets)], ...more });

test("pm2-runtime (PM2's daemon in the foreground, as in containers): its fork-mode apps' resets are served by one port", async (t) => {
  const port = await freePort();
  const { dir, home, eco } = pm2Project(t, [app('a', 2), app('b', 3)]);
  const tree = startTree(path.join(BIN, 'pm2-runtime'), ['start', eco], {
    cwd: dir,
    env: { PM2_HOME: home, RESETWATCH_PORT: String(port) },
  });
  await tree.ready(2);
  await resetsUntil(port, 5, 'a 2 + b 3, each app in a session of its own');
  const r = await tree.stop('SIGTERM');
  assert.doesNotMatch(r.stdout + r.stderr, /already in use/);
});

test('the PM2 daemon: cluster and fork apps on one port, counted on across `pm2 reload`; the client holds nothing and says nothing; lines in each app’s log', async (t) => {
  const port = await freePort();
  const { home, eco } = pm2Project(t, [app('a', 2, { exec_mode: 'cluster', instances: 2 }), app('b', 3)]);
  const env = { RESETWATCH_PORT: String(port) };
  const started = await pm2(home, env, 'start', eco);
  await resetsUntil(port, 7, 'two cluster workers of a (2 each) and b (3)');
  const reloaded = await pm2(home, env, 'reload', 'all');
  await resetsUntil(port, 14, 'the same again after the reload, the departed processes kept');
  const listed = await pm2(home, env, 'list');
  // The agent's messages and lines, not the word: a path may hold it (the matrix's Nodes live in
  // ~/.cache/resetwatch, and PM2 names its runtime binary in its log).
  const agentText = /resetwatch: |"name":"resetwatch"/;
  for (const out of [started, reloaded, listed]) assert.doesNotMatch(out.stderr, agentText, out.stderr);

  // Reset lines (one per refused connection) in the apps' own error logs, none in the daemon's. PM2
  // writes those files asynchronously: read until they hold them all (at most 10 s).
  const logs = path.join(home, 'logs');
  const lines = (f) =>
    readFileSync(path.join(logs, f), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"name":"resetwatch"')).length;
  const byApp = (prefix) =>
    readdirSync(logs)
      .filter((f) => f.includes('-error') && f.startsWith(prefix))
      .reduce((n, f) => n + lines(f), 0);
  for (const deadline = Date.now() + 10000; Date.now() < deadline && (byApp('a-') < 8 || byApp('b-') < 6); )
    await new Promise((r) => setTimeout(r, 200));
  assert.equal(byApp('a-'), 8, readdirSync(logs).join(', '));
  assert.equal(byApp('b-'), 6);
  assert.ok(existsSync(path.join(home, 'pm2.log')));
  assert.doesNotMatch(readFileSync(path.join(home, 'pm2.log'), 'utf8'), agentText);
});

test("a PM2 cluster worker that crashes on a reset: the reset's line in the app's own log, beside PM2's crash report, and its count at the daemon's endpoint", async (t) => {
  const port = await freePort();
  const crash = { name: 'x', script: fixture('tree-crash.cjs'), args: ['alone'], exec_mode: 'cluster', instances: 1, autorestart: false };
  const { home, eco } = pm2Project(t, [crash]);
  await pm2(home, { RESETWATCH_PORT: String(port) }, 'start', eco);
  const errorLog = () => appErrorLog(home, 'x');
  for (const deadline = Date.now() + 15000; Date.now() < deadline && !/"resetwatch.fatal":true/.test(errorLog()); )
    await new Promise((r) => setTimeout(r, 200));
  assert.match(errorLog(), /"resetwatch.fatal":true/, errorLog());
  // PM2's own report of the crash beside it: behind our line in PM2's asynchronous stream, it was
  // lost at PM2's process.exit().
  for (const deadline = Date.now() + 5000; Date.now() < deadline && !/Error: read ECONNRESET\n\s+at /.test(errorLog()); )
    await new Promise((r) => setTimeout(r, 100));
  assert.match(errorLog(), /Error: read ECONNRESET\n\s+at /, errorLog());
  assert.doesNotMatch(readFileSync(path.join(home, 'pm2.log'), 'utf8'), /"name":"resetwatch"/);
  // And counted by the daemon (its cluster primary), which never asked the worker before it died.
  await resetsUntil(port, 1, 'the reset the worker crashed on');
});

test("a PM2 cluster worker's own messages (a failing collector, met long after start) land in the app's log, not the daemon's", async (t) => {
  const port = await freePort();
  const dead = await freePort(); // nothing listens there: every export is refused
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '1500',
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
  const { home, eco } = pm2Project(t, [app('w', 1, { exec_mode: 'cluster', instances: 1, env })]);
  await pm2(home, { RESETWATCH_PORT: String(port) }, 'start', eco);
  const errorLog = () => appErrorLog(home, 'w');
  const failed = /^resetwatch: OpenTelemetry export to \S+ failed/m;
  for (const deadline = Date.now() + 20000; Date.now() < deadline && !failed.test(errorLog()); )
    await new Promise((r) => setTimeout(r, 200));
  assert.match(errorLog(), failed, errorLog());
  assert.doesNotMatch(readFileSync(path.join(home, 'pm2.log'), 'utf8'), /OpenTelemetry export/);
});

test('launcherOf: the pm2 client is dormant, `pm2 --no-daemon` (the daemon itself) is not', async () => {
  const { launcherOf } = await import(path.join(ROOT, 'dist/agent/launcher.js'));
  assert.equal(launcherOf('/app/node_modules/pm2/bin/pm2', ['start', 'eco.config.js']), 'pm2');
  assert.equal(launcherOf('/usr/local/bin/pm2', ['list']), 'pm2');
  assert.equal(launcherOf('/app/node_modules/pm2/lib/binaries/CLI.js', []), 'pm2');
  assert.equal(launcherOf('/app/node_modules/.bin/pm2', ['start', 'app.js', '--no-daemon']), undefined);
  assert.equal(launcherOf('/app/node_modules/.bin/pm2-runtime', ['start', 'eco.config.js']), undefined);
  assert.equal(launcherOf('/app/node_modules/pm2/bin/pm2', ['start', 'app.js', '--', '--no-daemon']), 'pm2', "the app's own argument");
  assert.equal(launcherOf('/app/node_modules/.bin/pm2-dev', ['app.js']), 'pm2', 'pm2-dev spawns a daemon too');
  assert.equal(launcherOf('/app/node_modules/pm2/lib/binaries/DevCLI.js', ['app.js', '--no-daemon']), 'pm2');
});

test("pm2Home: PM2's daemon, its apps and its foreground runtimes; nothing else", async () => {
  const { pm2Home } = await import(path.join(ROOT, 'dist/exporters/prometheus/family-name.js'));
  const env = { HOME: '/home/u', PM2_HOME: '/srv/pm2' };
  assert.equal(pm2Home(env, ['node', '/app/node_modules/pm2/lib/Daemon.js']), '/srv/pm2');
  assert.equal(pm2Home({ ...env, pm_id: '0' }, ['node', '/app/server.js']), '/srv/pm2');
  assert.equal(pm2Home(env, ['node', '/app/server.js']), undefined, 'PM2_HOME alone (a shell that exports it)');
  assert.equal(pm2Home({ HOME: '/home/u' }, ['node', '/app/node_modules/.bin/pm2-runtime', 'app.js']), '/home/u/.pm2');
  assert.equal(pm2Home(env, ['node', '/app/node_modules/pm2/lib/binaries/Runtime4Docker.js']), '/srv/pm2');
  assert.equal(pm2Home({ HOME: '/home/u' }, ['node', '/usr/local/bin/pm2', 'start', 'app.js', '--no-daemon']), '/home/u/.pm2');
  assert.equal(pm2Home({ HOME: '/home/u' }, ['node', '/usr/local/bin/pm2', 'list']), undefined);
  assert.equal(pm2Home({ HOME: '/home/u' }, ['node', '/usr/local/bin/pm2-dev', 'app.js']), undefined, 'a client of its daemon');
  assert.equal(
    pm2Home({ ...env, PM2_HOME: '/srv/pm2/' }, ['node', '/app/node_modules/pm2/lib/Daemon.js']),
    '/srv/pm2',
    'one home, one family',
  );
});
