// RESETWATCH_SERVER_PEERS: the server hook reads the client's address at accept, so server-side
// reset events carry it even after an RST (when the kernel no longer knows it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import { loadAgent, capture, listen, closeServer, pythonAbort, TLS } from './helpers/resets.mjs';

process.env.RESETWATCH_SERVER_PEERS = '1';
const { onReset } = await loadAgent();
const cap = capture(onReset);

test('an HTTP server reset carries the client address and port', async () => {
  const srv = http.createServer((_req, res) => setTimeout(() => res.end('late'), 1000));
  const port = await listen(srv);
  // The RST comes 300 ms after the request: the accept (and the address read there) must come
  // before it, also on a loaded machine — after an RST the kernel no longer knows the peer.
  await pythonAbort(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 300);
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(e.peerAddress, '127.0.0.1');
  assert.ok(e.peerPort > 0 && e.peerPort !== port);
  await closeServer(srv);
});

test('a TLS server reset carries the client address too', async () => {
  const srv = tls.createServer({ ...TLS });
  srv.on('tlsClientError', () => {});
  const port = await listen(srv);
  // About one RST in 300 reaches a TLS server still in its handshake as an end of file (Node then
  // reports "socket hang up" to 'tlsClientError' only, and there is no reset to record): the abort
  // is repeated, up to 3 times, until one arrives as an RST.
  const mine = (x) => x.direction === 'server' && x.localPort === port;
  for (let attempt = 0; attempt < 3 && !cap.events.some(mine); attempt++) {
    await pythonAbort(port, Buffer.from('1603', 'hex'), 300);
    await cap.next(mine, 2000).catch(() => {});
  }
  const e = await cap.next(mine);
  assert.equal(e.phase, 'tls_handshake');
  assert.equal(e.peerAddress, '127.0.0.1');
  await closeServer(srv);
});

test("an IPv4 client of a dual-stack server (listening on '::'): its address as IPv4, not ::ffff:127.0.0.1, as on a 0.0.0.0 listener", async () => {
  // A trial of IPv6: one client made two series (`127.0.0.1` and `::ffff:127.0.0.1`, network.type
  // ipv6) in one process, as the server listened on 0.0.0.0 or ::.
  const srv = http.createServer((_req, res) => setTimeout(() => res.end('late'), 1000));
  const port = await listen(srv, '::');
  await pythonAbort(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 300);
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(e.peerAddress, '127.0.0.1');
  assert.equal(e.localAddress, '127.0.0.1');
  await closeServer(srv);
});
