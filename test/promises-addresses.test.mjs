// Promise 1 for the sockets' own state: the agent reads a reset socket's addresses (hooks/destroy.ts
// → classify.ts snapshot) without leaving Node's address caches (`_sockname`, `_peername`) filled,
// so an app that reads `localAddress`/`remoteAddress` after the close sees what it saw without the
// agent. The fixture (app-addresses.cjs) reports them from its 'close' listeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAndWithout, fixture, describeRun, resetLines } from './helpers/subprocess.mjs';

const report = (r) => JSON.parse(/^ADDRESSES (.*)$/m.exec(r.stdout)?.[1] ?? 'null');

test("a reset socket's address caches and its error's own keys are as without the agent (RST and FIN resets)", async () => {
  const { plain, agent } = await withAndWithout([fixture('app-addresses.cjs')], { agentEnv: { RESETWATCH_PORT: 'off' } });
  for (const r of [plain, agent]) assert.equal(r.code, 0, describeRun(r));
  const want = report(plain);
  assert.equal(want.rawError, 'ECONNRESET');
  assert.equal(want.httpError, 'socket hang up');
  assert.ok(want.rawErrorKeys.includes('syscall'), JSON.stringify(want));
  assert.deepEqual(report(agent), want);
  // Both were the agent's resets, with their addresses read all the same.
  const events = resetLines(agent.stderr);
  assert.equal(events.length, 2, describeRun(agent));
  for (const e of events) assert.equal(e['network.local.address'], '127.0.0.1', JSON.stringify(e));
  const hangup = events.find((e) => e['error.type'] === 'peer_closed');
  assert.equal(hangup?.['network.peer.address'], '127.0.0.1', JSON.stringify(events));
});
