// The family's name is bound at preload through net.Server#_listen2 (exporters/prometheus/family-name.ts),
// which publishes only the end of Node's tracing:net.server.listen; a neighbour agent subscribed
// to that channel must see every listen as a start and an end, as without resetwatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT, fixture, runNode } from './helpers/subprocess.mjs';
import { freePort } from './helpers/prometheus.mjs';

test('a tracing:net.server.listen subscriber loaded first sees each asyncEnd after its asyncStart', async () => {
  const port = await freePort();
  const r = await runNode(['--require', fixture('listen-tracer.cjs'), ...AGENT, '-e', 'setTimeout(() => {}, 300)'], {
    env: { RESETWATCH_PORT: String(port) },
  });
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop());
  // The family's name and the metrics port: at least one listen each, all matched.
  assert.ok(seen.asyncEnd >= 1, `the agent's listens were published: ${r.stdout}`);
  assert.equal(seen.asyncStart, seen.asyncEnd, `every asyncEnd has its asyncStart: ${r.stdout}`);
});
