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
