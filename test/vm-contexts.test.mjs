// The package loaded in several vm contexts of one process, as jest loads it once per test file
// (each file gets its own globalThis and module registry; Node's built-ins are shared): the agent
// is installed once per process, so one reset makes one log line, with or without a preload.
// Found by the real-world trial of 2026-12-02: under jest, a reset in the Nth test file that
// requires resetwatch was logged N times (N+1 under NODE_OPTIONS="--require resetwatch").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT, fixture, runNode } from './helpers/subprocess.mjs';

const resetLines = (stderr) => stderr.split('\n').filter((l) => l.includes('"msg":"connection reset:'));

for (const [name, preload] of [
  ['loaded only by the app, in two vm contexts', []],
  ['preloaded, and loaded again by the app in two vm contexts', AGENT],
]) {
  test(`${name}: one reset, one log line`, async () => {
    const r = await runNode([...preload, fixture('vm-contexts.cjs')]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim());
    assert.equal(out.seen.length >= 1, true, 'a subscriber saw the reset');
    assert.equal(resetLines(r.stderr).length, 1, `one log line per reset:\n${r.stderr}`);
  });
}
