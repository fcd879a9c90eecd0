// A server that answers an upload at once, before its body arrived (413, 401, 415: what fastify
// and express body limits do), and the client that then stops sending with an RST. The server's
// answer was written in full, so the hint must not say the client gave up "before any response":
// that sends the on-call engineer after timeouts when the cause is the early answer.
// Found by the real-world trial of 2026-12-02 (fastify's 415 for an upload without a content type).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { captureEach, listen, closeServer, pythonAbort } from './helpers/resets.mjs';

const cap = captureEach();

test('an upload answered early (413), then reset by the client: the hint does not claim no response was sent', async () => {
  let answered = 0;
  const srv = http.createServer((_req, res) => {
    res.statusCode = 413;
    res.end('too large\n', () => answered++);
  });
  const port = await listen(srv);
  await pythonAbort(port, `POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`, 200);
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(answered, 1, 'the 413 was written in full before the reset');
  assert.equal(e.errorType, 'ECONNRESET');
  assert.ok(e.bytesSent > 0, `the response's bytes are counted: ${e.bytesSent}`);
  assert.equal(e.phase, 'request');
  assert.doesNotMatch(e.hint?.text ?? '', /before any response/, `hint: ${e.hint?.text}`);
  assert.match(e.hint.text, /^this server answered before the request had fully arrived/);
  await closeServer(srv);
});

test('the same early answer, then a FIN from the client in the middle of its body: peer_closed in the request phase, the same hint', async () => {
  const srv = http.createServer((_req, res) => {
    res.statusCode = 413;
    res.end('too large\n');
  });
  const port = await listen(srv);
  const c = net.connect(port, '127.0.0.1', () =>
    c.write(`POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`),
  );
  c.on('error', () => {});
  c.once('data', () => setTimeout(() => c.end(), 50));
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(e.errorType, 'peer_closed');
  assert.equal(e.code, 'HPE_INVALID_EOF_STATE');
  assert.equal(e.phase, 'request', 'the parser was in the middle of the request: not idle');
  assert.match(e.hint?.text ?? '', /^this server answered before the request had fully arrived/, `hint: ${e.hint?.text}`);
  await closeServer(srv);
});
