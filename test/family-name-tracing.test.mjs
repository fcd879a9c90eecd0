// The family's name is bound at preload through net.Server#_listen2 (exporters/prometheus/family-name.ts),
// which publishes only the end of Node's tracing:net.server.listen; a neighbour agent subscribed
// to that channel must see every listen as a start and an end, as without resetwatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT, fixture, runNode } from './helpers/subprocess.mjs';
import { freePort } from './helpers/prometheus.mjs';

test('a tracing:net.server.listen subscriber loaded first sees each asyncEnd after its asyncStart', async () => {
  const port = await freePort();
  const r = await runNode(['--require', fixture('listen-tracer.cjs'), ...AGENT, '-e', "require('node:net'); setTimeout(() => {}, 300)"], {
    env: { RESETWATCH_PORT: String(port) },
  });
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop());
  // The family's name and the metrics port: at least one listen each, all matched.
  assert.ok(seen.asyncEnd >= 1, `the agent's listens were published: ${r.stdout}`);
  assert.equal(seen.asyncStart, seen.asyncEnd, `every asyncEnd has its asyncStart: ${r.stdout}`);
});

// The preload binds the name when the app first loads node:net (agent/register.ts), which may be
// inside Node's loading of node:cluster or node:child_process. listen() there would load
// node:cluster on top of the half-loaded one: Node's net would keep a cluster without
// _getServer, and cluster a child_process without fork, for the rest of the process.
const FIRST_LOADS = {
  'node:cluster': `
    require('node:cluster');
    const s = require('node:net').createServer().listen(0, '127.0.0.1', () => {
      s.close();
      process.stdout.write('listening\\n');
    });`,
  'node:child_process': `
    require('node:child_process');
    const cluster = require('node:cluster');
    cluster.setupPrimary({ exec: process.execPath, execArgv: ['-e', 'process.exit(0)'] });
    cluster.fork().on('exit', (code) => process.stdout.write('worker exited ' + code + '\\n'));`,
};
const WANT = { 'node:cluster': 'listening', 'node:child_process': 'worker exited 0' };

for (const [first, script] of Object.entries(FIRST_LOADS)) {
  test(`a tracing:net.server.listen subscriber, and an app whose first load of node:net is ${first}: the app's own listen and fork work as without the agent`, async () => {
    const port = await freePort();
    const r = await runNode(['--require', fixture('listen-tracer.cjs'), ...AGENT, '-e', script], {
      env: { RESETWATCH_PORT: String(port) },
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], WANT[first], r.stdout);
    const seen = JSON.parse(lines.pop());
    assert.ok(seen.asyncEnd >= 1, `the agent's listens were published: ${r.stdout}`);
    assert.equal(seen.asyncStart, seen.asyncEnd, `every asyncEnd has its asyncStart: ${r.stdout}`);
  });
}
