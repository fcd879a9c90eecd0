// retry.ts: a GET on a reused keep-alive socket that meets an RST before one byte of its response
// is `safe`. "Before one byte" is measured from where the previous response ended; that response's
// body may arrive in chunks after its headers (Node publishes http.client.response.finish at the
// headers), and those bytes are not this request's. Real loopback sockets, real RSTs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureEach, secondRequestReset } from './helpers/resets.mjs';

const cap = captureEach();

for (const split of [false, true]) {
  test(`a GET reset on a reused socket before any response byte is retry-safe (previous body ${split ? 'after its headers' : 'with its headers'})`, async () => {
    const answer = (s) => {
      if (!split) return s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
      setTimeout(() => s.write('ok'), 50);
    };
    const e = await secondRequestReset(cap, answer, 50);
    assert.equal(e.reusedSocket, true);
    assert.equal(e.phase, 'response');
    assert.equal(e.retry, 'safe');
  });
}

test('a GET the server held before its RST is not retry-safe, and no race or middlebox hint', async () => {
  // A dead pooled connection answers within a round trip; this peer took the request and reset it
  // 700 ms later (a gateway trial: an upstream's reset after 150 ms read as a middlebox, `safe`).
  const answer = (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=30\r\n\r\nok');
  const e = await secondRequestReset(cap, answer, 50, 700);
  assert.equal(e.reusedSocket, true);
  assert.ok(e.request.ageMs >= 600, `held ${e.request.ageMs} ms`);
  assert.equal(e.retry, 'unsafe');
  assert.equal(e.hint, undefined);
  // The same peer resetting at once: the middlebox hint (it advertised 30 s) and `safe`.
  const quick = await secondRequestReset(cap, answer, 50);
  assert.equal(quick.retry, 'safe');
  assert.equal(quick.hint?.id, 'middlebox_reset');
});
