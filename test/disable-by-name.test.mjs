// RESETWATCH_DISABLED_HOOKS / RESETWATCH_DISABLED_OUTPUTS (and start({ disabledHooks,
// disabledOutputs })): a disabled hook installs nothing at all — the patched methods stay Node's
// own, no subscriber on its diagnostics channels — and a disabled output starts nothing. Unknown
// names: one line listing the valid ones; the known ones still apply. Real apps, real resets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, fixture, resetLines, diagLines, describeRun } from './helpers/subprocess.mjs';
import { startReceiver } from './helpers/otlp-receiver.mjs';

const APP = fixture('start-app.cjs');
const ESM = fixture('start-app.mjs');
/** Notes Node's own methods before the agent loads, so the app can tell whether they were patched. */
const PRELOAD = ['--require', fixture('originals.cjs'), '--require', 'resetwatch'];
const HOOKS = ['client', 'server', 'tls', 'destroy', 'http', 'undici', 'activity'];

async function runApp(args, env, calls = []) {
  const r = await runNode(args, { env: { START_CALLS: JSON.stringify(calls), ...env } });
  assert.equal(r.code, 0, describeRun(r));
  const report = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{"done"')));
  assert.equal(report.code, 'ECONNRESET');
  return { r, report, lines: resetLines(r.stderr), diags: diagLines(r.stderr) };
}

const only = (off) => Object.fromEntries(HOOKS.map((h) => [h, !off.includes(h)]));

test('every hook on by default (the control: the checks below can fail)', async () => {
  const { report, diags } = await runApp([...PRELOAD, APP], {});
  assert.deepEqual(report.installed, only([]));
  assert.equal(report.events, 1);
  assert.deepEqual(diags, []);
});

test('RESETWATCH_DISABLED_HOOKS=<one hook>: that hook installs nothing, the others stay', async () => {
  for (const hook of HOOKS) {
    const { report, diags } = await runApp([...PRELOAD, APP], { RESETWATCH_DISABLED_HOOKS: hook });
    assert.deepEqual(report.installed, only([hook]), hook);
    assert.deepEqual(report.config.disabledHooks, [hook]);
    assert.deepEqual(diags, []);
    // The client hook is what sees an outgoing connection at all: off, the client reset is lost.
    assert.equal(report.events, hook === 'client' ? 0 : 1, hook);
  }
});

test('all hooks off, by environment and by start(), preloaded and loaded by the app', async () => {
  const all = await runApp([...PRELOAD, APP], {
    RESETWATCH_DISABLED_HOOKS: ' Client, server,tls,destroy,http,undici,activity ',
    START_HTTP: '1',
  });
  assert.deepEqual(all.report.installed, only(HOOKS));
  assert.equal(all.report.events, 0);
  // Loaded by the app (no preload), configured in code: what loading installed is taken out again.
  for (const app of [APP, ESM]) {
    const coded = await runApp([app], {}, [{ disabledHooks: ['client', 'undici'] }]);
    assert.deepEqual(coded.report.installed, only(['client', 'undici']));
    assert.equal(coded.report.events, 0);
  }
  const fetched = await runApp([...PRELOAD, APP], { RESETWATCH_DISABLED_HOOKS: 'undici', START_HTTP: '1' });
  assert.equal(fetched.report.installed.undici, false, 'no undici subscriber even after a fetch');
});

test('unknown names: one line listing the valid ones; the known ones still apply', async () => {
  const { report, diags } = await runApp([...PRELOAD, APP], {
    RESETWATCH_DISABLED_HOOKS: 'client,fetch',
    RESETWATCH_DISABLED_OUTPUTS: 'statsd,log',
  });
  assert.deepEqual(report.config.disabledHooks, ['client']);
  assert.deepEqual(report.config.disabledOutputs, ['log']);
  assert.deepEqual(diags, [
    'resetwatch: RESETWATCH_DISABLED_HOOKS: unknown "fetch" ignored; valid: client, server, tls, destroy, http, undici, activity',
    'resetwatch: RESETWATCH_DISABLED_OUTPUTS: unknown "statsd" ignored; valid: log, prometheus, otel',
  ]);
  const coded = await runApp([APP], {}, [{ disabledOutputs: ['otel', 'graphite'] }]);
  assert.deepEqual(coded.report.config.disabledOutputs, ['otel']);
  assert.deepEqual(coded.diags, ['resetwatch: start() option disabledOutputs: unknown "graphite" ignored; valid: log, prometheus, otel']);
});

test('RESETWATCH_DISABLED_OUTPUTS: a disabled output writes, binds and sends nothing; the others work', async () => {
  const rx = await startReceiver();
  try {
    const env = {
      RESETWATCH_LOG: 'stderr',
      RESETWATCH_PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_SDK_DISABLED: undefined,
    };
    // Control: every output on.
    const on = await runApp([...PRELOAD, APP], env);
    assert.equal(on.lines.length, 1, on.r.stderr);
    assert.equal(on.diags.filter((l) => l.includes('metrics endpoint listening')).length, 1, on.r.stderr);
    assert.match(on.report.own, /^resetwatch_resets_total\{/m);
    await rx.waitFor('spans', (s) => s.some((x) => x.name === 'connection reset'));

    rx.spans.length = 0;
    rx.requests.length = 0;
    const off = await runApp([...PRELOAD, APP], { ...env, RESETWATCH_DISABLED_OUTPUTS: 'log,prometheus,otel' });
    assert.equal(off.report.events, 1, 'the hooks still publish: onReset subscribers get the event');
    assert.equal(off.lines.length, 0, 'log: no line');
    assert.deepEqual(off.diags, [], 'prometheus: no endpoint');
    assert.doesNotMatch(off.report.own, /^resetwatch_resets_total\{/m, 'prometheus: nothing recorded');
    assert.deepEqual(rx.requests, [], 'otel: nothing sent (the process has exited)');

    const otelOff = await runApp([...PRELOAD, APP], { ...env, RESETWATCH_DISABLED_OUTPUTS: 'otel' });
    assert.equal(otelOff.lines.length, 1);
    assert.deepEqual(rx.requests, []);
  } finally {
    await rx.close();
  }
});
