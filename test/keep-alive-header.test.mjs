// agent/keep-alive.ts reads the keep-alive timeout a server advertises (`Keep-Alive: timeout=N`),
// which separates middlebox_reset from keepalive_race (hints.ts). Header parameter names are
// case-insensitive (RFC 9110 §5.6.6): `Timeout=30` advertises the same as `timeout=30`, for Node's
// http client as for undici (which already matched either case). Real loopback sockets, real RSTs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { captureEach, listen, closeServer, delay } from './helpers/resets.mjs';

const cap = captureEach();

for (const param of ['timeout=30', 'Timeout=30', 'max=100, TIMEOUT=30']) {
  test(`Keep-Alive: ${param} on an http response: a bare RST on the reused socket 0.1 s later is middlebox_reset`, async () => {
    let n = 0;
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.on('data', () => {
        if (++n > 1) return s.resetAndDestroy();
        s.write(`HTTP/1.1 200 OK\r\nKeep-Alive: ${param}\r\nContent-Length: 2\r\n\r\nok`);
      });
    });
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true });
    await new Promise((resolve) =>
      http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }),
    );
    await delay(100);
    const req = http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume());
    req.on('error', () => {});
    const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
    assert.equal(e.reusedSocket, true);
    assert.equal(e.hint?.id, 'middlebox_reset', JSON.stringify(e.hint));
    assert.match(e.hint.text, /the 30 s keep-alive timeout/);
    agent.destroy();
    await closeServer(server);
  });
}
