// A collector that refuses, resets, hangs or answers 503: the app's output and exit code are
// unchanged, the exit is not delayed by more than the 1 s flush budget, no unhandled rejection,
// and what could not be sent is dropped and counted instead of queued without bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { startReceiver, run, ROOT } from './helpers/otlp-receiver.mjs';

const RESETS_APP = path.join(ROOT, 'test/fixtures/otel-resets.mjs');

const APP = { FIXTURE_PHASES: 'connect,established,burst', BURST: '200', BURST_PAUSE: '5' };
const EXPORT = {
  OTEL_BSP_SCHEDULE_DELAY: '20',
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
  OTEL_METRIC_EXPORT_INTERVAL: '50',
  OTEL_METRICS_EXPORTER: 'otlp',
  OTEL_TRACES_EXPORTER: 'otlp',
};
const summary = (r) =>
  r
    .marker('EVENTS')
    .map((e) => `${e.direction}/${e.phase}/${e.errorType}`)
    .sort();

async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

let baseline;
test('baseline: the app without any collector', async () => {
  baseline = await run(RESETS_APP, APP);
  assert.equal(baseline.code, 0, baseline.stderr);
  assert.equal(baseline.stderr, '');
  assert.equal(baseline.marker('EVENTS').length, 202);
});

for (const behaviour of ['refuse', 'reset', 'hang', '503']) {
  test(`collector that ${behaviour === '503' ? 'answers 503' : `${behaviour}s`}: app unchanged, exit within the flush budget, drops counted`, async () => {
    const rx = behaviour === 'refuse' ? undefined : await startReceiver({ behaviour });
    const url = rx ? rx.url : `http://127.0.0.1:${await closedPort()}`;
    try {
      const r = await run(RESETS_APP, { ...APP, ...EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: url });
      assert.equal(r.code, 0, `exit code (with --unhandled-rejections=strict): ${r.stderr}`);
      assert.deepEqual(summary(r), summary(baseline), 'the app saw the same resets');
      // The flush budget is 1 s, from the loop running dry to 'exit' (without it a hanging collector
      // would hold the exit for the 10 s OTLP timeout); process teardown after 'exit' is timed apart,
      // as a busy 2-core machine stretches it without any agent code running.
      const held = r.marker('EXITING') - r.marker('DONE');
      assert.ok(held < 1500, `exit held ${held} ms after the app's work`);
      const teardown = r.exitedAt - r.marker('EXITING');
      assert.ok(teardown < 3000, `exit took ${teardown} ms after 'exit'`);
      // One line per signal at most (a hanging collector fails nothing before the exit), then only counters.
      const lines = r.stderr.trim().split('\n').filter(Boolean);
      assert.ok(lines.length <= 2 && (behaviour === 'hang' || lines.length >= 1), r.stderr);
      for (const l of lines)
        assert.match(
          l,
          /^resetwatch: OpenTelemetry export to http:\/\/127\.0\.0\.1:\d+\/v1\/(traces|metrics) failed \(.+\); further failures are only counted/,
        );
      const stats = r.marker('STATS');
      assert.ok(stats.dropped.otel > 0, `failed exports are counted: ${JSON.stringify(stats.dropped)}`);
      assert.equal(stats.agentErrors, 0);
      if (behaviour === 'hang') {
        // At most 2 requests in flight per signal: a hanging collector cannot pile up sockets. It
        // answers none, so every request before the exit cut (DONE + the 1 s budget) is still open
        // then. The receiver's socket count is not used here: a periodic export just after the cut
        // opens a new connection, and the receiver may accept it before it reads the cut ones' FINs.
        const beforeCut = rx.requests.filter((q) => q.at < r.marker('DONE') + 900);
        assert.ok(beforeCut.length <= 4, `${beforeCut.length} requests held open by a hanging collector`);
      } else if (rx) {
        assert.ok(rx.maxSockets <= 4, `${rx.maxSockets} concurrent connections to the collector`);
      }
      if (rx) {
        assert.ok(rx.requests.length >= 1, 'exports were attempted');
      }
      console.log(
        `# ${behaviour}: exit held ${held} ms (teardown ${teardown}), dropped ${stats.dropped.otel}, requests ${rx?.requests.length ?? '-'}`,
      );
    } finally {
      await rx?.close();
    }
  });
}

test('a collector down while nothing resets: no reset event counted as dropped; the metric points under otel_metrics', async () => {
  // The accounting trial: 110 "dropped events" in 15 s of a quiet app whose collector was down.
  const url = `http://127.0.0.1:${await closedPort()}`;
  const r = await run(RESETS_APP, { FIXTURE_PHASES: 'none', IDLE_MS: '5000', ...EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: url });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.marker('EVENTS'), []);
  const stats = r.marker('STATS');
  assert.equal(stats.dropped.otel ?? 0, 0, JSON.stringify(stats.dropped));
  assert.ok(stats.dropped.otel_metrics > 0, `the metric exports that failed are counted: ${JSON.stringify(stats.dropped)}`);
  assert.match(
    r.stderr,
    /v1\/metrics failed \(.+\); further failures are only counted in resetwatch_dropped_events_total\{resetwatch_exporter="otel_metrics"\}/,
  );
});
