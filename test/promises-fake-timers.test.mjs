// Promise 1 next to a test suite's fake timers: the agent takes Node's own timer functions when it
// loads (agent/timers.ts), so an app that fakes timers afterwards finds none of the agent's in its
// fake clock: the same count, runAll() finishing, nothing on stderr but the reset's log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAndWithout, fixture, describeRun, withoutAgentLines, resetLines } from './helpers/subprocess.mjs';

test('an app that fakes timers (@sinonjs/fake-timers) and meets a reset: its fake clock holds only its own timer, runAll() finishes, as without the agent', async () => {
  // The endpoint on a fixed free port, as in production (its retries and chores are timers too).
  const { plain, agent } = await withAndWithout([fixture('app-fake-timers.cjs')], { agentEnv: { RESETWATCH_PORT: '0' } });
  for (const r of [plain, agent]) assert.equal(r.code, 0, describeRun(r));
  assert.equal(plain.stdout, 'client: ECONNRESET\nfake timers: 1\nthe app timer ran\nrunAll finished\n', describeRun(plain));
  assert.equal(agent.stdout, plain.stdout, describeRun(agent));
  assert.equal(withoutAgentLines(agent.stderr), plain.stderr, describeRun(agent));
  assert.equal(resetLines(agent.stderr).length, 1, describeRun(agent));
});
