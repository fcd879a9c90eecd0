// hooks/activity.ts keeps a coarse clock fresh with its own unref'd timer. An app that fakes its
// timers (node:test mock.timers, sinon, jest) when the agent first arms that timer must not take
// it over: a faked timer that never fires froze the clock for the rest of the process (every
// later event's idleMs read as the connection's whole age), and showed up among the app's fake
// timers. Real loopback sockets, a real RST; the bound is relative (half the connection's age).
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
