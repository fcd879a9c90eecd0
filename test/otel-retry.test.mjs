// resetwatch's own OTLP sender tries a batch again when the collector answers 429, 502, 503 or 504
// or the connection fails, as the OTLP/HTTP specification asks: after the collector's Retry-After
// when it is a valid RFC 9110 value, else after an exponential backoff; at most 5 retries, within
// OTEL_EXPORTER_OTLP_TIMEOUT. A batch given up is counted once; exit and stop() cut what is still in
// flight after the 1 s flush budget, retry only a collector's answer due well within it, and free
// a given-up batch's place at once (docs/opentelemetry.md "Retries of resetwatch's own exporter").
// Real collectors on loopback (test/helpers/otlp-receiver.mjs), a fixture app under the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { startReceiver, ROOT } from './helpers/otlp-receiver.mjs';
import { startMarked } from './helpers/subprocess.mjs';

const require = createRequire(import.meta.url);
const { Poster } = require(path.join(ROOT, 'dist/exporters/otel/post.js'));

const APP = path.join(ROOT, 'test/fixtures/otel-retry-app.cjs');
const EXPORT = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'none', OTEL_BSP_SCHEDULE_DELAY: '20', RESETWATCH_LOG: 'off' };
const FAILED =
  /^resetwatch: OpenTelemetry export to http:\/\/127\.0\.0\.1:\d+\/v1\/traces failed \((.+)\); further failures are only counted/;

/**
 * Starts the fixture app under the agent (helpers/subprocess.mjs startMarked). `marker(name)`
 * resolves with a stdout marker's value as soon as it is printed; `send()` writes a line on its
 * stdin; `exited` resolves with { code, stderr, exitedAt, stats } once it is gone.
 */
function launch(env) {
  const app = startMarked(['--unhandled-rejections=strict', '-r', 'resetwatch', APP], { env: { ...EXPORT, ...env } });
  return {
    exited: app.exited.then((r) => ({ ...r, stats: app.find('STATS'), done: app.find('DONE') })),
    marker: app.marker,
    send: () => app.send('go'),
  };
}

/** A collector that answers as `behaviour` says (closed after the test), and the app launched to export to it. */
async function collectorAndApp(t, behaviour, env = {}) {
  const rx = await startReceiver({ behaviour });
  t.after(() => rx.close());
  return { rx, app: launch({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, ...env }) };
}

const spansOf = (rx) => rx.spans.filter((s) => s.name === 'connection reset');
const answer = (res, status, headers = {}) => {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('busy');
  return true;
};

/**
 * A port that refuses for now: held by a server that resets every connection (nobody else can
 * take the port meanwhile); `free()` closes it for a collector to listen there.
 */
async function refusingPort() {
  const s = net.createServer((c) => c.resetAndDestroy());
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { port: s.address().port, free: () => new Promise((r) => s.close(r)) };
}

test('503, then 200: the batch is sent again and arrives once; nothing dropped', async (t) => {
  const { rx, app } = await collectorAndApp(t, (_req, res, n) => n === 1 && answer(res, 503));
  await rx.waitFor('spans', (s) => s.length > 0);
  await new Promise((r) => setTimeout(r, 300)); // a second copy would come now
  app.send();
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(rx.requests.length, 2);
  assert.equal(spansOf(rx).length, 1, 'delivered once');
  assert.equal(r.stats.dropped.otel ?? 0, 0);
});

test("429 with Retry-After: 2 (delay-seconds), then 503 with an IMF-fixdate: each wait is the collector's", async (t) => {
  let date;
  const behaviour = (_req, res, n) => {
    if (n === 1) return answer(res, 429, { 'retry-after': '2' });
    if (n === 2) {
      date = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
      return answer(res, 503, { 'retry-after': date.toUTCString() });
    }
    return false;
  };
  const { rx, app } = await collectorAndApp(t, behaviour, { OTEL_EXPORTER_OTLP_TIMEOUT: '20000' });
  await rx.waitFor('spans', (s) => s.length > 0, 20000);
  app.send();
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const at = rx.requests.map((q) => q.at);
  assert.equal(at.length, 3);
  // Backoff alone would have waited 1 s ± 20 %, then 1.5 s ± 20 %.
  assert.ok(at[1] - at[0] >= 1900, `second attempt ${at[1] - at[0]} ms after the first; Retry-After said 2 s`);
  assert.ok(at[2] >= date.getTime() - 100, `third attempt ${date.getTime() - at[2]} ms before the Retry-After date`);
  assert.equal(spansOf(rx).length, 1);
  assert.equal(r.stats.dropped.otel ?? 0, 0);
});

test('Retry-After values that are not RFC 9110 (a unit, a zone other than GMT, a fraction) are not guessed at: backoff', async (t) => {
  // A lenient reading of any of them waits past the 20 s export timeout and gives the batch up.
  const garbage = ['120 s', 'Fri, 01 Jan 2100 00:00:00 UTC', '99999999999.5'];
  const behaviour = (_req, res, n) => n <= garbage.length && answer(res, 503, { 'retry-after': garbage[n - 1] });
  const { rx, app } = await collectorAndApp(t, behaviour, { OTEL_EXPORTER_OTLP_TIMEOUT: '20000' });
  await rx.waitFor('spans', (s) => s.length > 0, 20000);
  app.send();
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rx.requests.length, 4);
  assert.equal(spansOf(rx).length, 1);
  assert.equal(r.stats.dropped.otel ?? 0, 0);
});

test('Retry-After parsing: delay-seconds and the three HTTP-date forms only; impossible dates refused', () => {
  const { retryAfterMs } = require(path.join(ROOT, 'dist/exporters/otel/retries.js'));
  const now = Date.UTC(2026, 11, 3, 4, 0, 0);
  assert.equal(retryAfterMs('7', now), 7000);
  assert.equal(retryAfterMs('Thu, 03 Dec 2026 04:00:05 GMT', now), 5000, 'IMF-fixdate');
  assert.equal(retryAfterMs('Thursday, 03-Dec-26 04:00:05 GMT', now), 5000, 'RFC 850');
  assert.equal(retryAfterMs('Thu Dec  3 04:00:05 2026', now), 5000, 'asctime');
  // RFC 850's two-digit year: more than 50 years ahead is the past century.
  assert.equal(retryAfterMs('Tuesday, 03-Dec-85 04:00:05 GMT', now), Date.UTC(1985, 11, 3, 4, 0, 5) - now);
  for (const bad of [
    '',
    ' 7',
    '7s',
    '-1',
    '1.5',
    'Wed, 03 Dec 2026 04:00:05 GMT',
    'Thu, 31 Feb 2026 04:00:05 GMT',
    'Thu, 03-Dec-26 04:00:05 GMT',
    'Wednesday, 03-Dec-26 04:00:05 GMT',
    'Thursday, 03-Dec-2026 04:00:05 GMT',
    'Thu Dec 3 04:00:05 2026',
    'Thu Dec  3 04:00:05 2026 GMT',
    'Wed Dec  3 04:00:05 2026',
  ])
    assert.equal(retryAfterMs(bad, now), undefined, JSON.stringify(bad));
});

test('connection refused, then a collector appears on that port: the batch is delivered', async (t) => {
  const { port, free } = await refusingPort();
  const app = launch({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
  await app.marker('RESET');
  await new Promise((r) => setTimeout(r, 300)); // the first attempt (20 ms after the reset) was reset
  await free();
  const rx = await startReceiver({ port });
  t.after(() => rx.close());
  await rx.waitFor('spans', (s) => s.length > 0);
  app.send();
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(spansOf(rx).length, 1);
  assert.equal(r.stats.dropped.otel ?? 0, 0);
});

test('a collector that keeps answering 503: given up at the export timeout, counted once, one line', async (t) => {
  const { rx, app } = await collectorAndApp(t, '503', { OTEL_EXPORTER_OTLP_TIMEOUT: '3000' });
  await app.marker('RESET');
  // Past the 3 s timeout, counted from the first attempt (not from the reset: a loaded machine may
  // start the export late, and the app's end would then cut the series short).
  await rx.waitFor('requests', (q) => q.length >= 1);
  await new Promise((r) => setTimeout(r, rx.requests[0].at + 4000 - Date.now()));
  app.send();
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], FAILED);
  assert.match(FAILED.exec(lines[0])[1], /^HTTP 503; \d attempts in \d+ ms, next attempt would be past the 3000 ms export timeout$/);
  // Backoff waits at least 0.8 s, 1.2 s, 1.8 s: within 3 s there is room for 2 or 3 attempts, never 4.
  assert.ok(rx.requests.length === 2 || rx.requests.length === 3, `${rx.requests.length} attempts`);
  assert.equal(r.stats.dropped.otel, 1, 'the one span, counted once');
});

test('a collector that refused a batch (400) and then takes the next: the failure line, then one line saying export works again', async (t) => {
  const { rx, app } = await collectorAndApp(t, (_req, res, n) => n === 1 && answer(res, 400), { FIXTURE_END: 'again' });
  await app.marker('RESET');
  await rx.waitFor('requests', (r) => r.length >= 1);
  app.send(); // the second reset: its span goes to the collector, which now answers 200
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0], FAILED);
  assert.match(
    lines[1],
    /^resetwatch: OpenTelemetry export to http:\/\/127\.0\.0\.1:\d+\/v1\/traces works again \(what failed meanwhile is counted in resetwatch_dropped_events_total\{resetwatch_exporter="otel"\}\)$/,
  );
  assert.equal(spansOf(rx).length, 1, 'the second span');
  assert.equal(r.stats.dropped.otel, 1, 'the first, counted');
});

test('Retry-After: 0 on every answer: 5 retries at most (100 ms apart at least), then given up and counted once', async (t) => {
  const { rx, app } = await collectorAndApp(t, (_req, res) => answer(res, 503, { 'retry-after': '0' }), {
    OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
  });
  await rx.waitFor('requests', (q) => q.length >= 6);
  await new Promise((r) => setTimeout(r, 500)); // a 7th would come now
  app.send();
  const r = await app.exited;
  assert.equal(rx.requests.length, 6);
  for (let i = 1; i < 6; i++) assert.ok(rx.requests[i].at - rx.requests[i - 1].at >= 95, 'the 100 ms floor');
  assert.match(r.stderr, /failed \(HTTP 503; 6 attempts in \d+ ms\)/);
  assert.equal(r.stats.dropped.otel, 1);
});

test('a stalled collector (accepts, never answers) holds the exit only for the flush budget; the batch is cut and counted', async (t) => {
  const { rx, app } = await collectorAndApp(t, 'hang', { OTEL_EXPORTER_OTLP_TIMEOUT: '30000', FIXTURE_END: 'now', FIXTURE_STAY_MS: '300' });
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rx.requests.length, 1, 'the export was under way at exit');
  // A bound, not a benchmark: the 1 s flush budget, far from the 30 s export timeout.
  assert.ok(r.exitedAt - r.done < 5000, `exit held ${r.exitedAt - r.done} ms`);
  assert.equal(r.stats.dropped.otel, 1, 'cut at exit: counted');
  assert.match(r.stderr, /failed \(connection closed; 1 attempt, cut at exit or stop\)/);
});

test('a retry wait at exit (503 with Retry-After: 20) holds the exit only for the flush budget', async (t) => {
  const { rx, app } = await collectorAndApp(t, (_req, res) => answer(res, 503, { 'retry-after': '20' }), {
    OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
    FIXTURE_END: 'now',
    FIXTURE_STAY_MS: '300',
  });
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rx.requests.length, 1);
  assert.ok(r.exitedAt - r.done < 5000, `exit held ${r.exitedAt - r.done} ms`);
  assert.equal(r.stats.dropped.otel, 1);
  assert.match(r.stderr, /failed \(HTTP 503; 1 attempt, cut at exit or stop\)/);
});

test('stop() with an export stalled: its connection is cut after the flush budget, while the app runs on', async (t) => {
  const { rx, app } = await collectorAndApp(t, 'hang', {
    OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
    FIXTURE_END: 'stop',
    FIXTURE_STAY_MS: '4000',
  });
  await rx.waitFor('requests', (q) => q.length >= 1);
  app.send();
  const stopped = await app.marker('STOPPED');
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rx.closes.length, 1);
  assert.ok(rx.closes[0] >= stopped && rx.closes[0] < r.done, 'closed by the agent after stop(), before the app ended');
  assert.equal(r.stats.dropped.otel, 1);
});

const EXIT_APP = path.join(ROOT, 'test/fixtures/otel-retry-exit.cjs');
/** `onApp(app)`: the app as soon as it is started (`app.send(line)` writes a line on its stdin). */
async function runExitApp(mode, env, onApp) {
  const app = startMarked(['-r', 'resetwatch', EXIT_APP], { env: { ...EXPORT, FIXTURE_MODE: mode, ...env } });
  onApp?.(app);
  const { code, stderr } = await app.exited;
  return { code, stderr, stats: app.find('STATS') };
}

test('two batches waiting for their retries at exit are given up: the batch the exit flush sends still gets a slot', async (t) => {
  // Each of the first two batches answered, the app makes its next reset (one batch per reset,
  // however long the first reset's loading of OpenTelemetry takes).
  let app;
  const rx = await startReceiver({
    behaviour: (_req, res, n) => {
      if (n > 2) return false;
      app.send('next');
      return answer(res, 503, { 'retry-after': '5' });
    },
  });
  t.after(() => rx.close());
  const r = await runExitApp('three', { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url }, (a) => (app = a));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rx.requests.length, 3);
  assert.equal(spansOf(rx).length, 1, 'the last reset, flushed at exit, reached the collector');
  assert.equal(r.stats.dropped.otel, 2, 'the two waiting batches, given up');
});

test("after the exit flush, an app working on from 'beforeExit' gets retries again", async (t) => {
  const rx = await startReceiver({ behaviour: (_req, res, n) => n === 2 && answer(res, 503) });
  t.after(() => rx.close());
  const r = await runExitApp('revive', { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(rx.requests.length, 3, 'the later batch, answered 503, was sent again');
  assert.equal(spansOf(rx).length, 2);
  assert.equal(r.stats.dropped.otel ?? 0, 0);
});

test('a batch waiting for its retry when the exit budget is already spent is given up and counted, not lost uncounted', async (t) => {
  // The first exit flush spends the whole second on a stalled export; the app works on, and its
  // next batch, answered 503 with Retry-After: 20, is still waiting when the loop runs dry again.
  const rx = await startReceiver({ behaviour: (_req, res, n) => n === 1 || (n === 2 && answer(res, 503, { 'retry-after': '20' })) });
  t.after(() => rx.close());
  const r = await runExitApp('revive', { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_TIMEOUT: '30000' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rx.requests.length, 2);
  assert.equal(r.stats.dropped.otel, 2, 'the stalled batch and the waiting one, each counted');
});

test('no new connection after the exit cut: a stalled batch, cut, is not tried again while the app works on (http and https)', async (t) => {
  // The exit flush's budget ends on a stalled export: cut() closes its connection and ends the
  // flush (retries are allowed again: the app works on 3 s from 'beforeExit'). The cut batch's
  // failure is a connection error, retryable, its backoff (1 s ± 20 %) well within those 3 s: only
  // the sender's generation check (OtlpSender.attempts) keeps it from dialling the collector again.
  for (const secure of [false, true]) {
    await t.test(secure ? 'https' : 'http', async (t) => {
      const rx = await startReceiver({ behaviour: 'hang', tls: secure });
      t.after(() => rx.close());
      const r = await runExitApp('linger', {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
        ...(secure ? { OTEL_EXPORTER_OTLP_CERTIFICATE: path.join(ROOT, 'test/fixtures/otel-tls/cert.pem') } : {}),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(rx.connections, 1, 'no connection opened after the cut');
      assert.equal(rx.requests.length, 1, 'the export was under way at the first exit');
      assert.equal(rx.closes.length, 1, 'its connection, cut by the agent');
      assert.equal(r.stats.dropped.otel, 1, 'the cut batch, counted once');
      assert.match(r.stderr, /failed \(connection closed; 1 attempt, cut at exit or stop\)/);
    });
  }
});

test('no collector (refused) at exit: a batch waiting for its backoff is given up at once, not tried again', async (t) => {
  const { port, free } = await refusingPort();
  t.after(free);
  // Refused by a reset here (a port nobody listens on would do the same): a connection failure.
  const app = launch({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, FIXTURE_END: 'now', FIXTURE_STAY_MS: '300' });
  const r = await app.exited;
  assert.equal(r.code, 0, r.stderr);
  // Its 1 s backoff (± 20 %) would have ended within the exit's 1 s budget: a second attempt.
  assert.match(r.stderr, /failed \([^;]*ECONNRESET[^;]*; 1 attempt, cut at exit or stop\)/);
  assert.equal(r.stats.dropped.otel, 1);
});

test('a 2xx status whose connection is cut before the body ends counts as delivered', async (t) => {
  const server = net.createServer((s) =>
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => s.destroy())),
  );
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const p = new Poster(new URL(`http://127.0.0.1:${server.address().port}/v1/traces`), undefined, 2);
  assert.equal(await p.post({ 'Content-Length': '1' }, Buffer.from('x'), 2000), undefined);
  p.destroy();
});

test('a 2xx status whose chunked body is malformed counts as delivered', async (t) => {
  const server = net.createServer((s) => s.once('data', () => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const p = new Poster(new URL(`http://127.0.0.1:${server.address().port}/v1/traces`), undefined, 2);
  assert.equal(await p.post({ 'Content-Length': '1' }, Buffer.from('x'), 2000), undefined);
  p.destroy();
});
