// What the endpoint serves is a sum over parts (exporters/prometheus/cluster.ts): the process, its
// cluster workers, its family's members. A lone process sums one part and skips prom-client's
// aggregation; what it serves must be exactly what the aggregation would have served: the same
// series in the same order, the same values, buckets and exemplars, the same folded total.
// The general path is taken by summing the same part with an empty one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const collect = require('../dist/exporters/prometheus/collect.js');
const { render } = require('../dist/exporters/prometheus/render.js');

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
  const general = await collect.sum([own, { metrics: [], recent: [] }]);
  const one = await collect.sum([own]);
  assert.deepEqual(one.metrics, general.metrics);

  // The cases this checks are there: folded peers, a folded total beyond this thread's own count, exemplars.
  const resets = one.metrics.find((m) => m.name === 'resetwatch_resets_total');
  const foldedTotal = one.metrics.find((m) => m.name === 'resetwatch_peers_folded_total').values[0].value;
  const own_ = own.metrics.find((m) => m.name === 'resetwatch_peers_folded_total').values[0].value;
  assert.ok(
    resets.values.some((v) => v.labels.server_address === '_OTHER'),
    'a folded series',
  );
  assert.ok(foldedTotal > own_ && own_ > 0, `folded total ${foldedTotal}, this thread's counter ${own_}`);
  assert.ok(resets.values.filter((v) => v.exemplar).length > 3, 'exemplars');

  for (const openMetrics of [false, true]) {
    assert.equal(await render(one.metrics, openMetrics), await render(general.metrics, openMetrics));
  }
  // The part itself is left as it was (the sum works on copies).
  assert.deepEqual((await collect.localSnapshot()).metrics, own.metrics);
});
