// What the endpoint serves is a sum over parts (exporters/prometheus/cluster.ts): the process, its
// cluster workers, its family's members. A lone process sums one part and skips prom-client's
// aggregation; what it serves must be exactly what the aggregation would have served: the same
// series in the same order, the same values, buckets and exemplars, the same folded total.
// The general path is taken by summing the same part with an empty one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';

const require = createRequire(import.meta.url);
const collect = require('../dist/exporters/prometheus/collect.js');
const { sumSnapshots } = require('../dist/exporters/prometheus/cluster.js');
const { render } = require('../dist/exporters/prometheus/render.js');
const { Counter, Gauge } = require('prom-client');

const EMPTY = { metrics: [], recent: [] };

/** One client reset's sample, as toSample() makes it but for its peer. */
const ONE = {
  direction: 'client',
  phase: 'request',
  errorType: 'ECONNRESET',
  tls: false,
  protocol: 'http/1.1',
  bytesReceived: 10,
  bytesSent: 10,
  connectionAgeMs: 5,
};

/** The one-part sum against the aggregation (the same part with an empty one), in both text formats. */
async function sameAsAggregation(part, maxPeers) {
  const before = structuredClone(part);
  const general = await sumSnapshots([part, EMPTY], 10, maxPeers);
  const one = await sumSnapshots([part], 10, maxPeers);
  // isDeepStrictEqual, not assert.deepEqual: the assertion's diff of two large unequal snapshots
  // runs for minutes, synchronously, where no test timeout can stop it.
  const differ = one.metrics.filter((m, i) => !isDeepStrictEqual(m, general.metrics[i])).map((m) => m.name);
  assert.ok(
    one.metrics.length === general.metrics.length && differ.length === 0,
    `the one-part sum differs: ${differ.join(', ') || 'metric count'}`,
  );
  for (const openMetrics of [false, true]) {
    assert.equal(await render(one.metrics, openMetrics), await render(general.metrics, openMetrics));
  }
  // The part itself is left as it was (the sum works on copies).
  assert.ok(isDeepStrictEqual(part, before), 'the part was changed');
  return one.metrics;
}

const PHASES = ['connect', 'request', 'response', 'idle'];

test('a lone process serves what the aggregation of its one part serves: values, exemplars, the folded total', async () => {
  collect.configure({ maxPeers: 5, serverPeers: false, recent: 50 });
  let seed = 7;
  const r = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let i = 0; i < 600; i++) {
    const client = r() < 0.7;
    const s = {
      direction: client ? 'client' : 'server',
      phase: PHASES[Math.floor(r() * PHASES.length)],
      errorType: ['ECONNRESET', 'EPIPE'][Math.floor(r() * 2)],
      tls: r() < 0.3,
      protocol: ['http/1.1', undefined, 'postgres'][Math.floor(r() * 3)],
      // 12 peers against a bound of 5: most are folded here; '_OTHER' as a worker thread posts a
      // reset it folded itself (counted in the sum's folded total, not in this thread's counter).
      peer: client ? (r() < 0.1 ? '_OTHER' : `db${Math.floor(r() * 12)}.local:5432`) : '',
      bytesReceived: Math.floor(r() * 1e5),
      bytesSent: Math.floor(r() * 1e4),
      connectionAgeMs: r() * 1e5,
    };
    if (r() < 0.3) {
      s.traceId = (i.toString(16) + 'a'.repeat(32)).slice(0, 32);
      s.spanId = 'b'.repeat(16);
    }
    collect.record(s, undefined);
  }
  const own = await collect.localSnapshot();
  const one = await sameAsAggregation(own, 5);

  // The cases this checks are there: folded peers, a folded total beyond this thread's own count, exemplars.
  const resets = one.find((m) => m.name === 'resetwatch_resets_total');
  const foldedTotal = one.find((m) => m.name === 'resetwatch_peers_folded_total').values[0].value;
  const own_ = own.metrics.find((m) => m.name === 'resetwatch_peers_folded_total').values[0].value;
  assert.ok(
    resets.values.some((v) => v.labels.server_address === '_OTHER'),
    'a folded series',
  );
  assert.ok(foldedTotal > own_ && own_ > 0, `folded total ${foldedTotal}, this thread's counter ${own_}`);
  assert.ok(resets.values.filter((v) => v.exemplar).length > 3, 'exemplars');
});

test('a peer this process admitted but the sum does not is summed into _OTHER, not served twice', async () => {
  // This process admits up to 50 peers; the sum's own bound (1 peer, already taken by the test
  // above) folds the two it admits now.
  collect.configure({ maxPeers: 50, serverPeers: false, recent: 50 });
  for (const peer of ['a.local:1', 'b.local:1']) {
    collect.record({ ...ONE, peer }, undefined);
  }
  const part = await collect.localSnapshot();
  const one = await sameAsAggregation(part, 1);
  const resets = one.find((m) => m.name === 'resetwatch_resets_total');
  const keys = resets.values.map((v) => JSON.stringify(Object.entries(v.labels).sort()));
  assert.equal(new Set(keys).size, keys.length, 'one series per label set');
});

test("an app's own metrics in the registry are summed as the aggregation sums them: 'omit' omitted, no timestamps", async () => {
  const gauge = new Gauge({ name: 'app_omitted', help: 'h', aggregator: 'omit', registers: [collect.registry] });
  const counter = new Counter({ name: 'app_requests_total', help: 'h', labelNames: ['k'], registers: [collect.registry] });
  try {
    gauge.set(3);
    counter.inc({ k: 'x' }, 2);
    const part = await collect.localSnapshot();
    // What an app's value may carry besides (prom-client's aggregation keeps neither): a timestamp,
    // and an exemplar (its exemplar-enabled metrics live in an OpenMetrics registry, not this one).
    Object.assign(part.metrics.find((m) => m.name === 'app_requests_total').values[0], {
      timestamp: 12345,
      exemplar: { labelSet: { trace_id: 'c'.repeat(32) }, value: 2, timestamp: 1 },
    });
    // A bound over the sum that admits every peer here: nothing folds, the part is its own sum.
    const one = await sameAsAggregation(part, 50);
    assert.ok(!one.some((m) => m.name === 'app_omitted'), "'omit' omits");
    const app = one.find((m) => m.name === 'app_requests_total');
    assert.equal(app.values[0].value, 2);
  } finally {
    collect.registry.removeSingleMetric('app_omitted');
    collect.registry.removeSingleMetric('app_requests_total');
  }
});

test("a seconds histogram's sum reads the same whichever way the parts are grouped: a departed member never lowers it", async () => {
  // Three processes' connection ages, each to the microsecond as recorded. A leader sums
  // (0.1 + 0.2) + 0.3 = 0.6000000000000001 while all three are members; once two have left, their
  // parts are one retired sum (0.5) and the leader sums 0.1 + 0.5 = 0.6: one bit lower, a counter
  // reset to Prometheus, unless the sum is served to the microsecond (render.ts).
  const { Histogram, Registry } = require('prom-client');
  const { combine } = require('../dist/exporters/prometheus/cluster.js');
  const name = 'resetwatch_reset_connection_age_seconds';
  const part = async (seconds) => {
    const reg = new Registry();
    const h = new Histogram({ name, help: 'age', labelNames: ['resetwatch_direction'], buckets: [1], registers: [reg] });
    h.observe({ resetwatch_direction: 'client' }, seconds);
    return { metrics: await reg.getMetricsAsJSON(), recent: [] };
  };
  const [a, b, c] = [await part(0.1), await part(0.2), await part(0.3)];
  const served = async (parts) => {
    const text = await render((await sumSnapshots(parts, 10, 5)).metrics, false);
    return Number(new RegExp(`^${name}_sum\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
  };
  const members = await served([a, b, c]);
  const retired = await served([a, await combine([b, c], 10)]);
  assert.ok(retired >= members, `the sum went down from ${members} to ${retired} when two members left`);
  assert.equal(members, 0.6);
  assert.equal(retired, 0.6);
});
