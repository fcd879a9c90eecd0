// Server-side HTTP phases with the activity hook off (RESETWATCH_DISABLED_HOOKS=activity): the
// http hook then subscribes the http.server.* diagnostics channels (request start, response
// finish) and the phase and request age come from them. With the activity hook on (the default,
// core-server.test.mjs) those channels have no subscriber of ours: Node builds no message per
// server request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';

process.env.RESETWATCH_DISABLED_HOOKS = 'activity';
const { captureEach, reusedThenResetEvent } = await import('./helpers/resets.mjs');

const cap = captureEach();

test('the http.server.* channels are subscribed when the activity hook is off', () => {
  assert.equal(dc.channel('http.server.request.start').hasSubscribers, true);
  assert.equal(dc.channel('http.server.response.finish').hasSubscribers, true);
});

test('idle after a response, from the bytes read since it finished', async () => {
  const e = await reusedThenResetEvent(cap, undefined, 0);
  assert.equal(e.phase, 'idle');
});

test('request: the next request had begun', async () => {
  const e = await reusedThenResetEvent(cap, 'GET /next HTTP/1.1\r\nHo', 100);
  assert.equal(e.phase, 'request');
});

test('response: the age is the second request’s, from its start on the channel', async () => {
  const e = await reusedThenResetEvent(cap, 'GET /slow HTTP/1.1\r\nHost: svc\r\n\r\n', 100);
  assert.equal(e.phase, 'response');
  // The second request began 400 ms into the connection (reusedThenReset's pause): an age counted
  // from the first request would be the connection's. Bounded by that, not by the clock, which
  // a loaded machine's timers stretch.
  assert.ok(
    e.request.ageMs >= 90 && e.request.ageMs <= e.connectionAgeMs - 300,
    `ageMs ${e.request.ageMs}, connection ${e.connectionAgeMs}`,
  );
});
