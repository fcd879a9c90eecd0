// A worker thread's reset while the main thread has not turned yet (it started the worker in its
// first tick and blocks): the main thread's channel opened when the Worker was created, so the
// reset is in the process's metrics. A channel opened only in the first turn (or later) misses it:
// a BroadcastChannel receives only what is posted while it is open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, freePort, rawRequest, parseExposition, sumOf } from './helpers/prometheus.mjs';

test("a worker thread started in the main thread's first tick resets before the main thread's loop turns: counted", async (t) => {
  const port = await freePort();
  const app = startApp('threads-first-tick.cjs', { RESETWATCH_PORT: String(port) });
  t.after(() => app.stop());
  const { done } = await app.ready;
  assert.equal(done.waited, 'ok', 'the worker had its reset while the main thread waited');
  assert.equal(done.workerExit, 0);
  let total = 0;
  for (let i = 0; i < 50 && total === 0; i++) {
    try {
      total = sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_resets_total', { resetwatch_direction: 'client' });
    } catch {
      // the endpoint binds in the first turn
    }
    if (total === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(total, 1);
  assert.equal(app.stderr(), '');
});
