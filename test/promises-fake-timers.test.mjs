// Promise 1 next to a test suite's fake timers: the agent takes Node's own timer functions when it
// loads (agent/timers.ts), so an app that fakes timers afterwards finds none of the agent's in its
// fake clock: the same count, runAll() finishing, nothing on stderr but the reset's log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAndWithout, fixture, describeRun, withoutAgentLines, resetLines } from './helpers/subprocess.mjs';
import { freePort } from './helpers/prometheus.mjs';

test('an app that fakes timers and clocks (@sinonjs/fake-timers) and meets a reset: its fake clock holds only its own timer, runAll() finishes, as without the agent; the reset has its real time', async () => {
  // The endpoint on a fixed free port, as in production (the family's chores are timers too).
  const port = await freePort();
  const before = Date.now();
  const { plain, agent } = await withAndWithout([fixture('app-fake-timers.cjs')], { agentEnv: { RESETWATCH_PORT: String(port) } });
  for (const r of [plain, agent]) assert.equal(r.code, 0, describeRun(r));
  assert.equal(plain.stdout, 'client: ECONNRESET\nfake timers: 1\nthe app timer ran\nrunAll finished\n', describeRun(plain));
  assert.equal(agent.stdout, plain.stdout, describeRun(agent));
  assert.equal(withoutAgentLines(agent.stderr), plain.stderr, describeRun(agent));
  const lines = resetLines(agent.stderr);
  assert.equal(lines.length, 1, describeRun(agent));
  // The fake Date reads 0 in the app; the event's time and the connection's age are the real ones.
  assert.ok(lines[0].time >= before && lines[0].time <= Date.now(), `time ${lines[0].time}`);
  assert.ok(lines[0]['resetwatch.connection.age'] > 0, JSON.stringify(lines[0]));
});
