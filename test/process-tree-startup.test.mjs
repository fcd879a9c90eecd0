// A process tree whose root is still in its first tick while its children come and go: the root
// must hold the family socket from its preload on, so that what a short-lived child hands over
// waits in the socket for the root's loop (exporters/prometheus/family.ts). Real processes, real
// resets on loopback.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree, killTrees } from './helpers/tree.mjs';

afterEach(killTrees);

/** resetwatch_resets_total once it reaches `want`, or the last value after 10 s. */
async function resetsUntil(port, want) {
  const deadline = Date.now() + 10000;
  let last;
  for (;;) {
    try {
      const r = await rawRequest(port);
      if (r.status === 200) last = sumOf(parseExposition(r.body), 'resetwatch_resets_total');
    } catch (err) {
      last = err.message;
    }
    if (last === want || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('children run with execFileSync before the root first turns, each resetting and exiting: the sum has every reset', async () => {
  const port = await freePort();
  const tree = startTree(process.execPath, [fixture('tree-sync.cjs'), '2'], { env: { RESETWATCH_PORT: String(port) } });
  await tree.ready(1);
  assert.equal(await resetsUntil(port, 3), 3, 'root 1 + two children 1 each');
  const r = await tree.stop('SIGTERM');
  assert.equal(r.signal, 'SIGTERM', r.stderr);
});
