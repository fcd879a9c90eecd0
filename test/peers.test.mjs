// One peer key for every output (exporters/shared/peers.ts): under RESETWATCH_MAX_PEERS the
// Prometheus `peer` label and the OpenTelemetry address attributes admit the same peers and fold
// the same resets into `_other`, also for keys that differ only in spelling (an IPv6 literal with
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
  const inst = { resets: new Map(), received: sink(), sent: sink(), age: sink(), idle: sink(), folded: { add() {} } };
  const otelPeers = new PeerLimiter(config.maxPeers);
  const otelFolded = EVENTS.map((e) => {
    const before = new Map([...inst.resets].map(([k, s]) => [k, s.n]));
    otel.record(inst, e, config, otelPeers);
    const [, series] = [...inst.resets].find(([k, s]) => s.n !== (before.get(k) ?? 0));
    return (series.attrs['server.address'] ?? series.attrs['client.address']) === OTHER_PEER;
  });
  assert.deepEqual(otelFolded, promFolded);
  // [::1]:80 twice, one name cut at 260 characters twice, 10.0.0.1: three peers; the rest folds.
  assert.deepEqual(promFolded.map(Number), [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]);
});

function sink() {
  return { record() {} };
}
