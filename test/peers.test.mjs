// One peer key for every output (exporters/shared/peers.ts): under RESETWATCH_MAX_PEERS the
// Prometheus `peer` label and the OpenTelemetry address attributes admit the same peers and fold
// the same resets into `_OTHER`, also for keys that differ only in spelling (an IPv6 literal with
// and without brackets, names cut at the length bound) and for server-side peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './helpers/root.mjs';

const require = createRequire(import.meta.url);
const { DEFAULTS } = require(path.join(ROOT, 'dist/agent/config.js'));
const { PeerLimiter, peerOf, OTHER_PEER } = require(path.join(ROOT, 'dist/exporters/shared/peers.js'));
const otel = require(path.join(ROOT, 'dist/exporters/otel/metrics.js'));
const { SeriesIndex } = require(path.join(ROOT, 'dist/exporters/shared/series-index.js'));

const long = 'a'.repeat(300);
const base = {
  time: 0,
  errorType: 'ECONNRESET',
  code: 'ECONNRESET',
  message: 'x',
  phase: 'response',
  tls: false,
  bytesReceived: 0,
  bytesSent: 0,
  connectionAgeMs: 1,
  fatal: false,
};
const client = (serverAddress, serverPort) => ({ ...base, direction: 'client', serverAddress, serverPort });
const server = (peerAddress) => ({ ...base, direction: 'server', peerAddress, peerPort: 40000 });
const EVENTS = [
  client('::1', 80),
  client('[::1]', 80),
  client(`${long}x`, 1),
  client(`${long}y`, 1),
  server('10.0.0.1'),
  client('api.example', 443),
  client('api.example', undefined),
  server('10.0.0.2'),
  client('api.example', 443),
  server('10.0.0.1'),
];

test('Prometheus and OpenTelemetry admit the same peers and fold the same resets', () => {
  const config = { ...DEFAULTS, serverPeers: true, maxPeers: 3 };
  // Prometheus: the label each reset gets (exporters/prometheus/record.ts does this per reset).
  const promPeers = new PeerLimiter(config.maxPeers);
  const promFolded = EVENTS.map((e) => promPeers.label(peerOf(e, config.serverPeers)) === OTHER_PEER);
  // OpenTelemetry: the attributes of the series each reset is counted in, through the real record().
  const inst = {
    resets: [],
    resetIndex: new SeriesIndex(),
    received: sink(),
    sent: sink(),
    age: sink(),
    idle: sink(),
    folded: { add() {} },
  };
  const otelPeers = new PeerLimiter(config.maxPeers);
  const otelFolded = EVENTS.map((e) => {
    const before = inst.resets.map((s) => s.n);
    otel.record(inst, e, config, otelPeers);
    const series = inst.resets.find((s, i) => s.n !== (before[i] ?? 0));
    return (series.attrs['server.address'] ?? series.attrs['client.address']) === OTHER_PEER;
  });
  assert.deepEqual(otelFolded, promFolded);
  // [::1]:80 twice, one name cut at 260 characters twice, 10.0.0.1: three peers; the rest folds.
  assert.deepEqual(promFolded.map(Number), [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]);
});

test('client peer keys past the 1,024 remembered ones, and the same host on other ports, are still their own', () => {
  // peerOf remembers the keys it built (exporters/shared/peers.ts): the first 1,024 (host, port)
  // pairs come from there the second time, the rest are built again; each must be its own key.
  const want = [];
  for (let i = 0; i < 1100; i++) {
    want.push([client(`10.1.${i >> 8}.${i & 255}`, 8000 + (i % 7)), `10.1.${i >> 8}.${i & 255}:${8000 + (i % 7)}`]);
    want.push([client('db.internal', 5000 + i), `db.internal:${5000 + i}`]);
  }
  want.push([client('db.internal', undefined), 'db.internal'], [client('fd00::1', 443), '[fd00::1]:443']);
  for (let round = 0; round < 2; round++) {
    for (const [e, key] of want) assert.equal(peerOf(e, false), key, `round ${round}`);
  }
  // With every key distinct, a limiter as large admits all of them: none folded.
  const limiter = new PeerLimiter(want.length);
  assert.equal(new Set(want.map(([e]) => limiter.label(peerOf(e, false)))).size, want.length);
});

function sink() {
  return { record() {} };
}
