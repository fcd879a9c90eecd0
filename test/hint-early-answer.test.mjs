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

/** A handler that answers at once with a 413, the request's body unread (a body limit). */
const answer413 = (_req, res) => {
  res.statusCode = 413;
  res.end('too large\n');
};

// At once (express, fastify) or a moment later (an async handler: Next.js, a look-up first, found by
// the layouts trial): the response done, only Node's parser still holds the request arriving.
for (const later of [false, true]) {
  test(`an upload answered early (413${later ? ', from an async handler' : ''}), then reset by the client: the hint does not claim no response was sent`, async () => {
    let answered = 0;
    const srv = http.createServer((_req, res) => {
      res.statusCode = 413;
      const end = () => res.end('too large\n', () => answered++);
      if (later) setTimeout(end, 5);
      else end();
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
    // The request still arriving, its response done: its method and host (a browser trial saw none).
    assert.deepEqual(e.request, { method: 'POST', host: 'svc' });
    assert.equal(e.protocol, 'http/1.1');
    await closeServer(srv);
  });
}

test('the same early answer, then a FIN from the client in the middle of its body: peer_closed in the request phase, the same hint', async () => {
  const srv = http.createServer(answer413);
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
  assert.deepEqual(e.request, { method: 'POST', host: 'svc' });
  await closeServer(srv);
});

test("an upload with Expect: 100-continue answered early (413) after Node's 100 Continue, then a FIN mid-body: the early-answer hint", async () => {
  // curl sends Expect: 100-continue for large uploads, those that get a 413. Node writes its 100
  // Continue before the handler runs; the 413 follows before any body byte is read.
  const srv = http.createServer(answer413);
  const port = await listen(srv);
  const c = net.connect(port, '127.0.0.1', () =>
    c.write('POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n'),
  );
  c.on('error', () => {});
  let got = '';
  c.on('data', (d) => {
    got += d;
    if (got.includes('100 Continue') && got.includes('413')) {
      c.removeAllListeners('data');
      c.write('x'.repeat(1000));
      setTimeout(() => c.end(), 50);
    }
  });
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(e.phase, 'request');
  assert.match(e.hint?.text ?? '', /^this server answered before the request had fully arrived/, `hint: ${e.hint?.text}`);
  await closeServer(srv);
});

test("a keep-alive connection answered at once, then an upload on it cut off by a FIN: no early answer (Node's own 400 is not one)", async () => {
  const srv = http.createServer((req, res) => {
    if (req.method === 'GET') return res.end('ok\n'); // answered inside the parser's call
    req.on('error', () => {});
    req.resume();
    req.on('end', () => res.end('stored\n'));
  });
  const port = await listen(srv);
  const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: svc\r\n\r\n'));
  c.on('error', () => {});
  c.once('data', () =>
    setTimeout(() => {
      c.write(`POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
      setTimeout(() => c.end(), 100);
    }, 50),
  );
  c.resume();
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(e.phase, 'request');
  assert.equal(e.code, 'HPE_INVALID_EOF_STATE');
  assert.ok(e.bytesSent > 0, `bytesSent ${e.bytesSent}: the first answer and Node's 400`);
  assert.match(e.hint?.text ?? '', /while it was still sending the request, before any response/, `hint: ${e.hint?.text}`);
  await closeServer(srv);
});
