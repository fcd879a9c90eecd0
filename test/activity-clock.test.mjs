// hooks/activity.ts keeps a coarse clock of when each connection last moved bytes. An app that
// fakes its timers (node:test mock.timers, sinon, jest) must not freeze it: when the clock was kept
// fresh by a timer of the agent's, a faked one that never fired froze the clock for the rest of the
// process (every later event's idleMs read as the connection's whole age). The clock uses no timer
// now; this keeps it so. Real loopback sockets, a real RST; the bound is relative (half the
// connection's age).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, fixture, describeRun } from './helpers/subprocess.mjs';

for (const mode of ['plain', 'mock']) {
  test(`idleMs of a busy connection stays small after the app ${mode === 'mock' ? 'faked and restored its timers' : 'did nothing to its timers'}`, async () => {
    const r = await runNode(['--require', 'resetwatch', fixture('fake-timers-clock.mjs'), mode], { env: { RESETWATCH_LOG: 'off' } });
    assert.equal(r.code, 0, describeRun(r));
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    assert.equal(lines.length, 1, describeRun(r));
    const { idleMs, ageMs } = JSON.parse(lines[0]);
    assert.ok(ageMs >= 800, describeRun(r));
    assert.ok(idleMs < ageMs / 2, `a chunk moved every 30 ms, yet idleMs ${idleMs} of ${ageMs} ms`);
  });
}
