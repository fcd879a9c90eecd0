// Promise 5 (bounded memory) and promise 1 (listener counts) over time: 100,000 HTTP requests on
// keep-alive sockets in one process under the agent. At 10k and 100k requests the fixture
// collects garbage and samples heapUsed and the listener counts on every client and server socket.
// Listener counts must not change at all; the heap may not grow by more than 1 MB (10 bytes per
// request would be a leak of that size). The same run without the agent gives the listener
// counts, which the agent does not change (its errorMonitor listener only comes to a plain
// socket destroyed with an error).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, fixture, describeRun, AGENT } from './helpers/subprocess.mjs';

const TOTAL = 100000;
const FIRST = 10000;
const MAX_GROWTH = 1024 * 1024;
const MONITOR = 'Symbol(events.errorMonitor)';

async function soak(agent) {
  const args = ['--expose-gc', ...(agent ? AGENT : []), fixture('app-soak.cjs'), String(TOTAL), String(FIRST)];
  const r = await runNode(args, { timeout: 60000, nice: 10 });
  assert.equal(r.code, 0, describeRun(r));
  const { samples, ms } = JSON.parse(r.stdout);
  assert.deepEqual(
    samples.map((s) => s.done),
    [FIRST, TOTAL],
  );
  return { samples, ms, stderr: r.stderr };
}

test('listener counts and heap stay flat over 100,000 keep-alive requests', async (t) => {
  const plain = await soak(false);
  const agent = await soak(true);
  assert.equal(agent.stderr, '', 'no resets, no agent messages');
  const [a10, a100] = agent.samples;
  t.diagnostic(
    `heapUsed with agent: ${a10.heapUsed} -> ${a100.heapUsed} (${a100.heapUsed - a10.heapUsed} bytes), ` +
      `without: ${plain.samples[0].heapUsed} -> ${plain.samples[1].heapUsed}; ${agent.ms} ms vs ${plain.ms} ms`,
  );

  for (const side of ['client', 'server']) {
    assert.ok(a10[side].sockets >= 1 && a10[side].sockets <= 8, `${side}: ${a10[side].sockets} sockets`);
    assert.deepEqual(a100[side], a10[side], `${side} listener counts unchanged from 10k to 100k`);
    // Against the same run without the agent: the same listeners, no errorMonitor listener.
    assert.deepEqual(a100[side].max, plain.samples[1][side].max, `${side} listeners vs without the agent`);
    assert.equal(a100[side].max[MONITOR], undefined, `${side}: no errorMonitor listener`);
    assert.equal(a100[side].max.error, plain.samples[1][side].max.error, `${side}: no 'error' listener added`);
  }
  assert.equal(a100.serverListeners, a10.serverListeners);
  assert.ok(a100.heapUsed - a10.heapUsed < MAX_GROWTH, `heap grew ${a100.heapUsed - a10.heapUsed} bytes`);
});
