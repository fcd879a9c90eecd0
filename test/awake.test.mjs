// The agent's look for an app's late OpenTelemetry SDK (exporters/otel/index.ts) rides on wake-ups
// the process has anyway (agent/awake.ts): a scrape of the endpoint, an OTLP metric export. An idle
// app is then not woken for it; an app nothing scrapes is still looked at by the look's own timer.
// The schedule these tests rely on: the first look 1 s after start; then a look finding what the
// last one found waits twice as long (5 s after a new answer, then 10, 20…); a wake-up runs a look
// once half its wait has passed, its timer at the whole wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { ROOT, NODE, rawRequest } from './helpers/prometheus.mjs';
import { freePort } from './helpers/ports.mjs';
import { startReceiver } from './helpers/otlp-receiver.mjs';

const require = createRequire(import.meta.url);
const { choreWithin, awake } = require('../dist/agent/awake.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a chore runs at a wake-up once half its time has passed, once, and its timer is then gone', async () => {
  let runs = 0;
  choreWithin('test.chore', 400, () => runs++);
  awake();
  assert.equal(runs, 0, 'a wake-up at once does not run it');
  await sleep(250);
  awake();
  assert.equal(runs, 1, 'a wake-up past half its time runs it');
  awake();
  await sleep(300);
  assert.equal(runs, 1, 'it ran once: no second run by a wake-up or by its timer');
});

test('a chore nothing wakes for runs on its own timer; a cancelled one never runs; a throw stays in the agent', async (t) => {
  let runs = 0;
  const hold = setInterval(() => {}, 1000); // the chore's timer is unref'd: it never holds a process
  t.after(() => clearInterval(hold));
  await new Promise((resolve) => choreWithin('test.chore', 50, () => resolve(runs++)));
  assert.equal(runs, 1);
  const cancel = choreWithin('test.chore', 50, () => runs++);
  cancel();
  await sleep(120);
  awake();
  assert.equal(runs, 1, 'cancelled');
  choreWithin('test.chore.throws', 10, () => {
    throw new Error('chore failed');
  });
  await sleep(30);
  assert.doesNotThrow(awake);
});

// The app registers its own SDK 3 s after start; its reader, collecting every 100 ms, prints when
// resetwatch's instruments first appear in it.
const APP = `
require('node:net'); // a service: the agent's hooks and outputs start with its first load of node:net
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const { metrics } = require('@opentelemetry/api');
class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
setInterval(() => {}, 1000);
setTimeout(() => {
  const reader = new Reader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  console.log('registered');
  setInterval(async () => {
    const { resourceMetrics } = await reader.collect();
    if (resourceMetrics.scopeMetrics.some((s) => s.scope.name === 'resetwatch')) {
      console.log('found');
      process.exit(0);
    }
  }, 100);
}, +process.env.REGISTER_MS);
`;

/** Runs APP; resolves the test clock's times of its 'registered' and 'found' lines. */
function runApp(env, onRegistered) {
  const child = spawn(NODE, ['--require', 'resetwatch', '-e', APP], {
    cwd: ROOT,
    env: { ...process.env, RESETWATCH_LOG: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const at = {};
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  child.stdout.setEncoding('utf8').on('data', (d) => {
    for (const line of d.split('\n').filter(Boolean)) {
      at[line] = Date.now();
      if (line === 'registered') onRegistered?.();
    }
  });
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, at, err });
    }),
  );
}

test("a scrape runs the due look for an app's SDK: its instruments come with the scrape, not ~4 s later with the timer", async () => {
  const port = await freePort();
  const scrapes = [];
  let exited = false;
  let scraping;
  const run = runApp({ RESETWATCH_PORT: String(port), REGISTER_MS: '3000' }, () => {
    // Looks: 1 s, then 11 s by the timer; a scrape from 6 s runs the second. Scrapes from ~7 s.
    scraping = (async () => {
      await sleep(4000);
      while (!exited && scrapes.length < 10) {
        scrapes.push(Date.now());
        const res = await rawRequest(port).catch((e) => ({ status: e.message }));
        if (!exited) assert.equal(res.status, 200);
        await sleep(500);
      }
    })();
  });
  const r = await run;
  exited = true;
  await scraping;
  assert.equal(r.code, 0, r.err);
  assert.ok(r.at.found >= scrapes[0], `found ${r.at.found - r.at.registered} ms after registering, before the first scrape (4000 ms)`);
  assert.ok(
    r.at.found - r.at.registered < 6500,
    `found ${r.at.found - r.at.registered} ms after registering: not with a scrape (they began at 4000 ms) but later, as the timer's (~8000)`,
  );
});

test("an OTLP metric export runs the due look too: an app's SDK registered late gets the instruments with an export", async (t) => {
  const rx = await startReceiver();
  t.after(() => rx.close?.());
  // Looks: 1 s (finds resetwatch's own provider: a new one, so the next is due 5 s on), the
  // first export from 3.5 s (the same provider: the next due 10 s on), then the first export
  // from ~8.7–9.7 s, where the timer's would be ~13.7–14.7 s. The app registers at 6.5 s.
  const r = await runApp({
    RESETWATCH_PORT: 'off',
    REGISTER_MS: '6500',
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    OTEL_TRACES_EXPORTER: 'none',
  });
  assert.equal(r.code, 0, r.err);
  const after = r.at.found - r.at.registered;
  assert.ok(after >= 1000, `found ${after} ms after registering: before a look was due (~2200–4200 ms)`);
  assert.ok(after < 6000, `found ${after} ms after registering: with the timer's look (~7200–8200), not an export's (~2200–4200)`);
});
