// The package's three runtime files (build/bundle.js) load as their roles say, and hold one
// instance of each module between them:
// - the agent switched off (RESETWATCH_DISABLED) and a package-manager launcher load the entry only;
// - `node --require resetwatch -e 1` at default settings loads the entry only, and not node:net;
//   an app that loads node:net loads chunk-hooks.js with it (the hooks, and at a fixed port the
//   family election), never chunk-outputs.js before its loop turns;
// - a real reset in an app loads chunk-outputs.js, and the reset reaches an onReset listener
//   (the entry's bus), `agent.stats` and the Prometheus registry's counter (chunk-outputs.js) once
//   each: a second copy of the bus or the stats would leave one of them at 0;
// - the preload does not load node:worker_threads where there are no worker threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runNode, describeRun, ROOT } from './helpers/subprocess.mjs';
import { freePort } from './helpers/prometheus.mjs';

const PRELOAD = ['--require', path.join(ROOT, 'dist/agent/index.js')];

/** Prints the package's runtime files this process loaded, at exit (after whatever the app did). */
const PRINT_LOADED = `process.on('exit', () => {
  const dir = ${JSON.stringify(path.join(ROOT, 'dist/agent') + path.sep)};
  const files = Object.keys(require.cache).filter((f) => f.startsWith(dir)).map((f) => f.slice(dir.length));
  // node:worker_threads too: only a process with worker threads needs it (agent/register.ts isMainThread).
  if (process.moduleLoadList.includes('NativeModule worker_threads')) files.push('node:worker_threads');
  // node:net too: the hooks install when the app loads it (agent/register.ts); until then, nothing needs it.
  if (process.moduleLoadList.includes('NativeModule net')) files.push('node:net');
  console.log(JSON.stringify(files.sort()));
});`;

async function loadedFiles(args, env) {
  const r = await runNode(args, { env });
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(r.stderr, '', 'no line from the agent');
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('RESETWATCH_DISABLED loads the entry only', async () => {
  const files = await loadedFiles([...PRELOAD, '-e', PRINT_LOADED], { RESETWATCH_DISABLED: '1' });
  assert.deepEqual(files, ['index.js']);
});

test('a launcher (npm) loads the entry only', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-chunks-'));
  try {
    const script = path.join(dir, 'npm/bin/npm-cli.js');
    fs.mkdirSync(path.dirname(script), { recursive: true });
    fs.writeFileSync(script, PRINT_LOADED);
    assert.deepEqual(await loadedFiles([...PRELOAD, script], { RESETWATCH_PORT: String(await freePort()) }), ['index.js']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('node --require resetwatch -e 1 at default settings (fixed port) loads the entry only, and not node:net', async () => {
  const files = await loadedFiles([...PRELOAD, '-e', PRINT_LOADED], { RESETWATCH_PORT: String(await freePort()) });
  assert.deepEqual(files, ['index.js']);
});

test('an app that loads node:net (fixed port) loads chunk-hooks.js with it, not chunk-outputs.js, before its loop turns', async () => {
  const files = await loadedFiles([...PRELOAD, '-e', `require('node:net');${PRINT_LOADED}`], { RESETWATCH_PORT: String(await freePort()) });
  assert.deepEqual(files, ['chunk-hooks.js', 'index.js', 'node:net']);
});

const RESET_ONCE = `${PRINT_LOADED}
const net = require('node:net');
const { onReset, agent, registry } = require('resetwatch');
let heard = 0;
onReset(() => heard++);
const server = net.createServer((s) => s.resetAndDestroy()).listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('error', () => setTimeout(async () => {
    server.close();
    const metric = (await registry.getSingleMetric('resetwatch_resets_total').get()).values.reduce((n, v) => n + v.value, 0);
    console.error(JSON.stringify({ heard, stats: agent.stats.resets, metric }));
  }, 100));
});`;

test('a reset loads chunk-outputs.js and is counted once by the bus, the stats and the registry (one instance of each module)', async () => {
  const r = await runNode([...PRELOAD, '-e', RESET_ONCE], { env: { RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' } });
  assert.equal(r.code, 0, describeRun(r));
  const counts = JSON.parse(r.stderr.trim().split('\n').pop());
  assert.deepEqual(counts, { heard: 1, stats: 1, metric: 1 });
  const files = JSON.parse(r.stdout.trim().split('\n').pop()).filter((f) => f.endsWith('.js'));
  assert.deepEqual(files, ['chunk-hooks.js', 'chunk-outputs.js', 'index.js']);
});

// An HTTP reset reads the request's trace header with the app's propagator, or without one with
// @opentelemetry/core's W3C propagator: in a process without OpenTelemetry and a request without
// `traceparent`, there is nothing to read, and loading both (~80 modules) held the first reset's
// turn ~40 ms longer (found by a trial of test runners).
const HTTP_RESET = (headers) => `
const http = require('node:http');
const net = require('node:net');
const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
server.listen(0, '127.0.0.1', () => {
  const req = http.get({ host: '127.0.0.1', port: server.address().port, headers: ${JSON.stringify(headers)} });
  req.on('error', () => setImmediate(() => {
    const otel = Object.keys(require.cache).map((f) => f.match(/node_modules\\/(@opentelemetry\\/[^/]+)\\//)?.[1]).filter(Boolean);
    console.log(JSON.stringify([...new Set(otel)].sort()));
    server.close();
  }));
});`;

test('an HTTP reset without OpenTelemetry or a traceparent loads no OpenTelemetry package; with a traceparent, the propagator', async () => {
  const env = { RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'off' };
  const loaded = async (headers) => {
    const r = await runNode([...PRELOAD, '-e', HTTP_RESET(headers)], { env });
    assert.equal(r.code, 0, describeRun(r));
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  assert.deepEqual(await loaded({}), []);
  const traced = await loaded({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  assert.ok(traced.includes('@opentelemetry/api') && traced.includes('@opentelemetry/core'), JSON.stringify(traced));
});
