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

// Node touches a socket's idle timer before it hands each chunk to the app, so the app's 'data'
// handler runs between two reads of one poll. The activity clock's "same step" must still hold for
// them (a clock step is a turn of the event loop, not a time gap): a hidden RST behind the bytes
// stays a reset on libuv before 1.52, and a keep-alive race's bytes and end read in one poll are
// what Node reports them as. A per-chunk clock that asked "less than 10 ms apart" failed both.
test("two reads of one poll stay in one clock step, however long the app's 'data' handler works between them", async () => {
  for (const mode of ['hidden', 'race']) {
    const r = await runNode(['--require', 'resetwatch', fixture('busy-handler-resets.cjs')], {
      env: { RESETWATCH_LOG: 'off', MODE: mode },
      timeout: 60000,
    });
    assert.equal(r.code, 0, describeRun(r));
    const { events, node } = JSON.parse(/^RESULT (.*)$/m.exec(r.stdout)?.[1] ?? 'null');
    if (mode === 'hidden') assert.deepEqual(events, { ECONNRESET: 30 }, `every connection is a reset: ${r.stdout}`);
    else assert.deepEqual(events, node, `the keep-alive race is what Node reports: ${r.stdout}`);
  }
});
