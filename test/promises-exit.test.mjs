// Promise 2, exit timing: the agent never keeps the event loop alive. `node --require resetwatch
// -e 1` exits as promptly as `node -e 1`, and an app that opens and closes servers and clients ends
// with the same live resources and at the same time. The metrics endpoint is on (a free port), as
// in production. Runs are interleaved (plain, agent, plain, …) so that both see the same machine
// load; the bound (100 ms) is on the difference of the medians, which includes the agent's load
// time (~55–65 ms on an idle 2-core machine, Node 20–26).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, fixture, median, describeRun, AGENT } from './helpers/subprocess.mjs';

const RUNS = 9;
const BOUND_MS = 100;
const ENV = { RESETWATCH_PORT: '0' };

async function timed(args) {
  const plain = [];
  const agent = [];
  for (let i = 0; i < RUNS; i++) {
    const p = await runNode(args, { timeout: 10000 });
    const a = await runNode([...AGENT, ...args], { timeout: 10000, env: ENV });
    for (const r of [p, a]) assert.equal(r.timedOut, false, `still running after 10 s\n${describeRun(r)}`);
    plain.push(p);
    agent.push(a);
  }
  return { plain, agent, plainMs: median(plain.map((r) => r.ms)), agentMs: median(agent.map((r) => r.ms)) };
}

test('node --require resetwatch -e 1 exits within 100 ms of node -e 1', async (t) => {
  const { plain, agent, plainMs, agentMs } = await timed(['-e', '1']);
  t.diagnostic(`median: plain ${plainMs.toFixed(1)} ms, agent ${agentMs.toFixed(1)} ms`);
  for (const r of [...plain, ...agent]) assert.equal(r.code, 0, describeRun(r));
  // The agent did load (its metrics endpoint announced itself).
  assert.match(agent[0].stderr, /resetwatch: metrics endpoint listening/);
  assert.ok(agentMs - plainMs < BOUND_MS, `agent ${agentMs.toFixed(1)} ms vs plain ${plainMs.toFixed(1)} ms`);
});

test('an app that opens and closes servers and clients exits at the same time, with the same live resources', async (t) => {
  const { plain, agent, plainMs, agentMs } = await timed([fixture('app-exit.cjs')]);
  t.diagnostic(`median: plain ${plainMs.toFixed(1)} ms, agent ${agentMs.toFixed(1)} ms`);
  for (const r of [...plain, ...agent]) {
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, plain[0].stdout, 'the same resources keep the loop alive at the end');
  }
  assert.ok(agentMs - plainMs < BOUND_MS, `agent ${agentMs.toFixed(1)} ms vs plain ${plainMs.toFixed(1)} ms`);
});
