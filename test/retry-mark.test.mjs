// retry.ts: a GET on a reused keep-alive socket that meets an RST before one byte of its response
// is `safe`. "Before one byte" is measured from where the previous response ended; that response's
// body may arrive in chunks after its headers (Node publishes http.client.response.finish at the
// headers), and those bytes are not this request's. Real loopback sockets, real RSTs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { captureEach, listen, closeServer, delay } from './helpers/resets.mjs';

const cap = captureEach();

for (const split of [false, true]) {
  test(`a GET reset on a reused socket before any response byte is retry-safe (previous body ${split ? 'after its headers' : 'with its headers'})`, async () => {
    let n = 0;
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.on('data', () => {
        if (++n > 1) return s.resetAndDestroy();
        if (!split) return s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
        setTimeout(() => s.write('ok'), 50);
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
    await delay(50);
    const req = http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume());
    req.on('error', () => {});
    const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
    assert.equal(e.reusedSocket, true);
    assert.equal(e.phase, 'response');
    assert.equal(e.retry, 'safe');
    agent.destroy();
    await closeServer(server);
  });
}
