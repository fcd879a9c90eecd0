// agent/keep-alive.ts reads the keep-alive timeout a server advertises (`Keep-Alive: timeout=N`),
// which separates middlebox_reset from keepalive_race (hints.ts). Header parameter names are
// case-insensitive (RFC 9110 §5.6.6): `Timeout=30` advertises the same as `timeout=30`, for Node's
// http client as for undici (which already matched either case). Real loopback sockets, real RSTs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureEach, secondRequestReset } from './helpers/resets.mjs';

const cap = captureEach();

for (const param of ['timeout=30', 'Timeout=30', 'max=100, TIMEOUT=30']) {
  test(`Keep-Alive: ${param} on an http response: a bare RST on the reused socket 0.1 s later is middlebox_reset`, async () => {
    const answer = (s) => s.write(`HTTP/1.1 200 OK\r\nKeep-Alive: ${param}\r\nContent-Length: 2\r\n\r\nok`);
    const e = await secondRequestReset(cap, answer, 100);
    assert.equal(e.reusedSocket, true);
    assert.equal(e.hint?.id, 'middlebox_reset', JSON.stringify(e.hint));
    assert.match(e.hint.text, /the 30 s keep-alive timeout/);
  });
}
