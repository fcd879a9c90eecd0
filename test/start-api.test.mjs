// require('resetwatch').start({...}) / import { start } from 'resetwatch': the same settings as the
// environment, validated by the same code (one line per bad value, its default used, nothing
// thrown), code over environment, RESETWATCH_DISABLED still the operator's off switch; a second
// start() is ignored, stop() then start() starts again; preload and start() together: start()
// applies. Real apps in subprocesses with a real reset. The built declarations compile for
// CommonJS and ESM consumers (tsc --noEmit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runNode, fixture, resetLines, diagLines, describeRun, ROOT } from './helpers/subprocess.mjs';
import { freePort, rawRequest, parseExposition, sumOf } from './helpers/prometheus.mjs';

const CJS = fixture('start-app.cjs');
const ESM = fixture('start-app.mjs');
const ALL_HOOKS = { client: true, destroy: true, tls: true, server: true, http: true, undici: true, activity: true };
const NO_HOOKS = { client: false, destroy: false, tls: false, server: false, http: false, undici: false, activity: false };

/** Runs a start() fixture; `calls` is the list of start() option objects ("stop" calls stop()). */
async function runApp(app, calls, { env = {}, args = [] } = {}) {
  const r = await runNode([...args, app], { env: { START_CALLS: JSON.stringify(calls), ...env } });
  assert.equal(r.code, 0, describeRun(r));
  const report = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{"done"')));
  assert.equal(report.code, 'ECONNRESET', 'the app saw its reset');
  assert.equal(report.threw, null, 'start() never throws');
  return { r, report, lines: resetLines(r.stderr), diags: diagLines(r.stderr) };
}

test('CommonJS and ESM apps: start() options over the environment, and the environment port is never bound', async () => {
  for (const app of [CJS, ESM]) {
    const envPort = await freePort();
    const { r, report, lines, diags } = await runApp(app, [{ port: 0, logRate: 7, labels: { team: 'payments' }, serverPeers: true }], {
      env: { RESETWATCH_PORT: String(envPort), RESETWATCH_LOG_RATE: '3', RESETWATCH_MAX_PEERS: '9', RESETWATCH_LOG: 'stderr' },
    });
    assert.deepEqual(report.returned, [true], 'start() returns the agent');
    assert.equal(report.config.port, 0);
    assert.equal(report.config.logRate, 7);
    assert.equal(report.config.serverPeers, true);
    assert.equal(report.config.maxPeers, 9, 'what the code does not set comes from the environment');
    assert.deepEqual(report.config.labels, { team: 'payments' });
    assert.equal(report.events, 1, 'one event per reset');
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(lines[0].team, 'payments');
    const listening = diags.filter((l) => l.includes('metrics endpoint listening'));
    assert.equal(listening.length, 1, r.stderr);
    assert.doesNotMatch(listening[0], new RegExp(`:${envPort}/`), 'the port start() replaced was never bound');
    assert.equal(diags.length, 1, r.stderr);
    assert.deepEqual(report.installed, ALL_HOOKS);
  }
});

test('bad start() options: one line each naming the option and the default used; the app runs', async () => {
  const { report, diags, r } = await runApp(CJS, [
    {
      port: 'off',
      logRate: -1,
      maxPeers: 'many',
      recent: 1.5,
      logLevel: 'loud',
      serverPeers: 'maybe',
      host: 'a host',
      labels: 42,
      bogus: 1,
    },
  ]);
  assert.equal(report.config.logRate, 10);
  assert.equal(report.config.maxPeers, 100);
  assert.equal(report.config.recent, 200);
  assert.equal(report.config.logLevel, 'warn');
  assert.equal(report.config.serverPeers, false);
  assert.equal(report.config.host, '127.0.0.1');
  assert.deepEqual(report.config.labels, {});
  assert.equal(report.events, 1, 'the agent runs with the defaults');
  const expected = [
    /^resetwatch: start\(\) option "bogus" is unknown; valid: disabled, logLevel, .*labels$/,
    /^resetwatch: start\(\) option logLevel="loud" is not valid; using "warn"$/,
    /^resetwatch: start\(\) option logRate=-1 is not valid \(an integer from 0 to 100000\); using 10$/,
    /^resetwatch: start\(\) option host="a host" is not valid; using "127.0.0.1"$/,
    /^resetwatch: start\(\) option maxPeers="many" is not valid \(an integer from 1 to 10000\); using 100$/,
    /^resetwatch: start\(\) option serverPeers="maybe" is not valid; using false$/,
    /^resetwatch: start\(\) option recent=1.5 is not valid \(an integer from 0 to 10000\); using 200$/,
    /^resetwatch: start\(\) option labels=42 is not valid; using \{\}$/,
  ];
  assert.equal(diags.length, expected.length, r.stderr);
  for (const [i, re] of expected.entries()) assert.match(diags[i], re);

  for (const [calls, re] of [
    [['nope'], /^resetwatch: start\(\) expects an options object, not "nope"; using the environment$/],
    [[null], /^resetwatch: start\(\) expects an options object, not null; using the environment$/],
  ]) {
    const run = await runApp(ESM, calls, { env: { RESETWATCH_LOG_RATE: '4' } });
    assert.equal(run.report.config.logRate, 4);
    assert.equal(run.report.events, 1);
    assert.equal(run.diags.length, 1, run.r.stderr);
    assert.match(run.diags[0], re);
  }
});

test('a second start() is ignored with one line; stop() then start() starts again, hooked once', async () => {
  const twice = await runApp(CJS, [{ logRate: 5 }, { logRate: 6 }]);
  assert.equal(twice.report.config.logRate, 5);
  assert.deepEqual(twice.diags, [
    'resetwatch: start() was called already; these options are ignored (stop() first to start again with others)',
  ]);
  assert.equal(twice.report.events, 1);

  const again = await runApp(ESM, [{ logRate: 5 }, 'stop', { logRate: 6 }], { env: { RESETWATCH_LOG: 'stderr' } });
  assert.equal(again.report.config.logRate, 6);
  assert.deepEqual(again.diags, []);
  assert.equal(again.report.events, 1, 'one event: the hooks were not installed twice');
  assert.equal(again.lines.length, 1, 'one log line: the log output was not started twice');
  assert.deepEqual(again.report.installed, ALL_HOOKS);

  const stopped = await runApp(CJS, [{ logRate: 5 }, 'stop']);
  assert.equal(stopped.report.enabled, false);
  assert.equal(stopped.report.events, 0);
  assert.deepEqual(stopped.report.installed, NO_HOOKS, 'stop() removes every hook');
});

test('preload and start() together (--require, --import): start() applies over the environment', async () => {
  for (const [args, app] of [
    [['--require', 'resetwatch'], CJS],
    [['--import', 'resetwatch'], ESM],
    [['--import', 'resetwatch'], CJS],
  ]) {
    const { report, lines, diags, r } = await runApp(app, [{ logRate: 8, labels: 'team=checkout' }], {
      args,
      env: { RESETWATCH_LOG_RATE: '3', RESETWATCH_LOG: 'stderr' },
    });
    assert.equal(report.config.logRate, 8, `${args.join(' ')} ${path.basename(app)}`);
    assert.equal(report.events, 1);
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(lines[0].team, 'checkout');
    assert.deepEqual(diags, []);
    assert.deepEqual(report.installed.undici, true);
  }
});

test("a preload starts the outputs in the event loop's first turn; the app's own load one tick later, so start() comes first", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'resetwatch-start-'));
  try {
    const log = (name) => path.join(dir, `${name}.log`);
    const probe = (file, pre = '') =>
      `${pre}; const fs = require('node:fs'); const first = fs.existsSync(${JSON.stringify(file)}); ` +
      `setTimeout(() => console.log(JSON.stringify([first, fs.existsSync(${JSON.stringify(file)})])), 100);`;
    const cases = [
      // The log destination is opened when the log output starts: a file that exists or not. A
      // preload's outputs wait for the first turn (agent/register.ts): no reset can come earlier.
      // (And for the app's first load of node:net: the next test.) --import: the loop may turn
      // while the ESM loader loads the preload, before the app (null: either).
      [['--require', 'resetwatch', '-e', probe(log('a'), "require('node:net')")], { RESETWATCH_LOG: log('a') }, [false, true]],
      [['-e', probe(log('b'), "require('node:net')")], { RESETWATCH_LOG: log('b'), NODE_OPTIONS: '--import="resetwatch"' }, [null, true]],
      [['-e', probe(log('c'), "require('resetwatch')")], { RESETWATCH_LOG: log('c') }, [false, true]],
      [['-e', probe(log('d'), "require('resetwatch').start({ log: 'off' })")], { RESETWATCH_LOG: log('d') }, [false, false]],
    ];
    for (const [args, env, want] of cases) {
      const r = await runNode(args, { env });
      assert.equal(r.code, 0, describeRun(r));
      const got = JSON.parse(r.stdout);
      assert.deepEqual(
        got,
        want.map((w, i) => w ?? got[i]),
        `${args.join(' ')} ${JSON.stringify(env)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a preloaded process that has not loaded node:net loads neither hooks nor outputs; its first load of node:net starts both, and the endpoint', async () => {
  const port = await freePort();
  // 150 ms in (its loop has turned), the app notes what is loaded, then dials a server that resets
  // each connection it accepts, and stays 3 s for the scrape.
  const app = `
    const loaded = (end) => Object.keys(require.cache).some((f) => f.endsWith(end));
    setTimeout(() => {
      const early = { hooks: loaded('chunk-hooks.js'), outputs: loaded('chunk-outputs.js'), net: process.moduleLoadList.includes('NativeModule net') };
      const net = require('node:net');
      const server = net.createServer((s) => s.resetAndDestroy()).listen(0, '127.0.0.1', () => {
        const c = net.connect(server.address().port, '127.0.0.1', () => c.write('x'));
        c.on('error', () => {});
        c.on('close', () => {
          server.close();
          console.log(JSON.stringify({ early, outputs: loaded('chunk-outputs.js') }));
          setTimeout(() => {}, 3000);
        });
      });
    }, 150);`;
  let scraped;
  const r = await runNode(['--require', 'resetwatch', '-e', app], {
    env: { RESETWATCH_PORT: String(port) },
    onStdout: (text) => {
      if (scraped === undefined && text.includes('early')) scraped = rawRequest(port);
    },
  });
  assert.equal(r.code, 0, describeRun(r));
  const line = JSON.parse(r.stdout);
  assert.deepEqual(line, { early: { hooks: false, outputs: false, net: false }, outputs: true }, describeRun(r));
  const metrics = await scraped;
  assert.equal(metrics.status, 200);
  assert.equal(sumOf(parseExposition(metrics.body), 'resetwatch_resets_total', { resetwatch_direction: 'client' }), 1, metrics.body);
  assert.equal(resetLines(r.stderr).length, 1, r.stderr);
});

test("registry read in a preloaded app's first line: the outputs still waiting for the first turn start at once, with their settings", async () => {
  const app =
    "require('resetwatch').registry.metrics().then((text) => console.log(JSON.stringify(text.split('\\n').filter((l) => l.startsWith('resetwatch_connections_total')))));";
  const r = await runNode(['--require', 'resetwatch', '-e', app], { env: { RESETWATCH_PORT: '0', RESETWATCH_LABELS: 'team=checkout' } });
  assert.equal(r.code, 0, describeRun(r));
  const lines = JSON.parse(r.stdout);
  assert.ok(lines.length > 0 && lines.every((l) => l.includes('team="checkout"')), r.stdout);
});

test('RESETWATCH_DISABLED=1 wins over start(); start({ disabled: true }) removes what loading installed', async () => {
  for (const app of [CJS, ESM]) {
    const { report, r } = await runApp(app, [{ port: 0, disabled: false }], { env: { RESETWATCH_DISABLED: '1', RESETWATCH_PORT: 'abc' } });
    assert.equal(report.enabled, false);
    assert.equal(report.events, 0);
    assert.deepEqual(report.installed, NO_HOOKS);
    assert.equal(r.stderr, '');
  }
  const said = await runApp(CJS, [{}], { env: { RESETWATCH_DISABLED: 'true', RESETWATCH_LOG_LEVEL: 'info' } });
  assert.deepEqual(said.diags, [
    'resetwatch: disabled by RESETWATCH_DISABLED',
    'resetwatch: disabled by RESETWATCH_DISABLED; start() does nothing',
  ]);
  const off = await runApp(CJS, [{ disabled: true }]);
  assert.equal(off.report.enabled, false);
  assert.equal(off.report.events, 0);
  assert.deepEqual(off.report.installed, NO_HOOKS);
});

test('types: CommonJS (.ts) and ESM (.mts) consumers compile against the built declarations', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'resetwatch-types-'));
  try {
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(ROOT, path.join(dir, 'node_modules', 'resetwatch'), 'dir');
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }));
    const body = (from) => `
import { start, stop, agent, onReset, registry, type StartOptions, type Agent, type ResetEvent } from '${from}';
const options: StartOptions = {
  port: 0, host: '127.0.0.1', logLevel: 'info', log: 'stderr', logRate: 5, spanRate: 0, metricsToken: 't',
  maxPeers: 10, serverPeers: true, recent: 20, rootSpans: false, disabled: false,
  disabledHooks: ['undici', 'http'], disabledOutputs: 'otel,log', labels: { team: 'payments' },
};
const a: Agent = start(options);
start({ port: 'off', labels: 'team=payments' });
// @ts-expect-error port is a number or 'off'
start({ port: 'auto' });
// @ts-expect-error not a hook name
start({ disabledHooks: ['fetch'] });
// @ts-expect-error not an output name
start({ disabledOutputs: ['statsd'] });
// @ts-expect-error label values are strings
start({ labels: { team: 1 } });
const off: void = stop();
onReset((e: ResetEvent) => e.phase);
export const used = [a, off, agent.config.labels, registry];
`;
    writeFileSync(path.join(dir, 'cjs-consumer.ts'), body('resetwatch'));
    writeFileSync(path.join(dir, 'esm-consumer.mts'), body('resetwatch'));
    // The ESM entry's own declarations (dist/agent/index.d.mts), whatever the exports map points at.
    writeFileSync(path.join(dir, 'esm-entry.mts'), body(path.join(ROOT, 'dist/agent/index.mjs')));
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
        },
        files: ['cjs-consumer.ts', 'esm-consumer.mts', 'esm-entry.mts'],
      }),
    );
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = await promisify(execFile)(process.execPath, [tsc, '-p', dir], { cwd: dir }).catch((e) => e);
    assert.equal(r.code ?? 0, 0, `${r.stdout}${r.stderr}`);

    // The check can fail: a consumer using an option that does not exist does not compile.
    writeFileSync(path.join(dir, 'cjs-consumer.ts'), `import { start } from 'resetwatch';\nstart({ prot: 9465 });\n`);
    const bad = await promisify(execFile)(process.execPath, [tsc, '-p', dir], { cwd: dir }).catch((e) => e);
    assert.notEqual(bad.code ?? 0, 0);
    assert.match(`${bad.stdout}`, /cjs-consumer\.ts.*prot/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
