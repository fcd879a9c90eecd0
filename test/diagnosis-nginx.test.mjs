// The classic 502 behind nginx (issue 12): the Node upstream's `server.keepAliveTimeout` is
// shorter than nginx's upstream keep-alive, so Node closes an idle upstream connection just as
// nginx sends the next request on it. Reproduced for real and deterministically: nginx is stopped
// (SIGSTOP) with a request waiting in its listen queue while Node's keep-alive timer closes the
// connection (FIN), then resumed: it sends the request on the dead connection, the upstream's
// kernel answers with an RST, and nginx answers the client 502. What the Node side can say: nothing
// — the request never reaches the process (Node had closed the socket; the kernel, not Node,
// answers it), so resetwatch has no event to record. README Limits and docs/runbook.md say how to
// confirm this pattern from the proxy's side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { captureEach, listen, closeServer, delay, pythonAbort, TLS } from './helpers/resets.mjs';
import { startNginx } from './helpers/proxies.mjs';

const cap = captureEach();

/** One HTTP/1.1 request over a fresh connection (Connection: close); resolves with the status line. */
function send(port, method, path, body = '') {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out.split('\r\n', 1)[0]));
    s.on('error', reject);
    s.write(`${method} ${path} HTTP/1.1\r\nHost: app\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
}

/** A Node upstream whose keep-alive timeout (300 ms, + Node's own 1 s buffer) is far below nginx's 60 s. */
async function upstream() {
  const seen = [];
  const closed = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  srv.keepAliveTimeout = 300;
  srv.on('connection', (s) => closed.push(new Promise((resolve) => s.on('close', resolve))));
  const port = await listen(srv);
  return { srv, port, seen, closed };
}

/**
 * Sends `method path` through nginx at the worst moment: nginx stopped, the request queued, Node's
 * keep-alive timer closing the idle upstream connection; then nginx resumes.
 */
async function lateRequest(nginx, up, method, path) {
  process.kill(nginx.pid, 'SIGSTOP');
  try {
    const answer = send(nginx.port, method, path, method === 'POST' ? 'late' : '');
    await Promise.all(up.closed); // Node closed every upstream connection (FIN)
    process.kill(nginx.pid, 'SIGCONT');
    return await answer;
  } finally {
    process.kill(nginx.pid, 'SIGCONT');
  }
}

/** nginx's access log once it has a line containing `text` (it may write it just after the response). */
async function logged(nginx, text) {
  for (let i = 0; i < 100 && !nginx.accessLog().includes(text); i++) await delay(20);
  return nginx.accessLog();
}

const UPSTREAM_GONE =
  /\[error\] .*(upstream prematurely closed connection|recv\(\) failed \(104: Connection reset by peer\)|writev?\(\) failed \(32: Broken pipe\)) while (reading response header from|sending request to) upstream, client: 127\.0\.0\.1, .*request: "(\w+ \S+) HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:(\d+)/;

test('POST: nginx sends it on the connection Node just closed: 502, and the Node side never sees it', { timeout: 30000 }, async () => {
  const up = await upstream();
  const nginx = await startNginx({ upstreamPort: up.port });
  try {
    assert.equal(await send(nginx.port, 'POST', '/first', 'one'), 'HTTP/1.1 200 OK');
    assert.equal(await lateRequest(nginx, up, 'POST', '/late'), 'HTTP/1.1 502 Bad Gateway');
    const line = nginx
      .errorLog()
      .split('\n')
      .find((l) => UPSTREAM_GONE.test(l));
    assert.ok(line, `nginx logged the dead upstream connection:\n${nginx.errorLog()}`);
    const [, , , request, port] = UPSTREAM_GONE.exec(line);
    assert.equal(request, 'POST /late');
    assert.equal(Number(port), up.port);
    const up1 = `127.0.0.1:${up.port}`;
    assert.match(await logged(nginx, '"POST /late'), new RegExp(`"POST /late HTTP/1.1" 502 upstream_addr=${up1} upstream_status=502\n`));
    // The late request never reached the Node process (its kernel answered it), so there is no
    // reset event on the upstream side: the one request Node saw is the first.
    await delay(300);
    assert.deepEqual(up.seen, ['POST /first']);
    assert.deepEqual(
      cap.events.filter((e) => e.localPort === up.port),
      [],
    );
    // ...while this process does record an upstream reset it can see: a client resetting mid-request.
    const raw = net.connect(up.port, '127.0.0.1');
    await once(raw, 'connect');
    raw.write('POST /x HTTP/1.1\r\nHost: app\r\nContent-Length: 9\r\n\r\nabc');
    await delay(50);
    raw.resetAndDestroy();
    const e = await cap.next((ev) => ev.direction === 'server' && ev.localPort === up.port);
    assert.equal(`${e.phase}/${e.errorType}`, 'request/ECONNRESET');
  } finally {
    await nginx.stop();
    await closeServer(up.srv);
  }
});

test('GET: nginx retries it on a new connection: 200, but the error log line is the same', { timeout: 30000 }, async () => {
  const up = await upstream();
  const nginx = await startNginx({ upstreamPort: up.port });
  try {
    assert.equal(await send(nginx.port, 'GET', '/first'), 'HTTP/1.1 200 OK');
    assert.equal(await lateRequest(nginx, up, 'GET', '/late'), 'HTTP/1.1 200 OK');
    const line = nginx
      .errorLog()
      .split('\n')
      .find((l) => UPSTREAM_GONE.test(l));
    assert.ok(line, `nginx logged the dead upstream connection:\n${nginx.errorLog()}`);
    assert.equal(UPSTREAM_GONE.exec(line)[3], 'GET /late');
    // The access log shows the retry: two tries at the same upstream, the first one failed.
    const up1 = `127.0.0.1:${up.port}`;
    assert.match(
      await logged(nginx, '"GET /late'),
      new RegExp(`"GET /late HTTP/1.1" 200 upstream_addr=${up1}, ${up1} upstream_status=502, 200\n`),
    );
    // Node saw the retry, on a new connection; nothing reset on its side.
    assert.deepEqual(up.seen, ['GET /first', 'GET /late']);
    await delay(300);
    assert.deepEqual(
      cap.events.filter((e) => e.localPort === up.port),
      [],
    );
  } finally {
    await nginx.stop();
    await closeServer(up.srv);
  }
});

test('an upload the client gives up behind nginx (streamed, proxy_request_buffering off): nginx closes its upstream mid-body, and the Node side records peer_closed in the request phase', {
  timeout: 30000,
}, async () => {
  // No 'clientError' listener, as in express: Node destroys the upstream socket with its parser's
  // HPE_INVALID_EOF_STATE at nginx's FIN.
  const up = await upstream();
  const nginx = await startNginx({ upstreamPort: up.port, extra: 'proxy_request_buffering off;' });
  try {
    await pythonAbort(nginx.port, `POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`, 300);
    const e = await cap.next((x) => x.direction === 'server' && x.localPort === up.port);
    assert.equal(e.errorType, 'peer_closed');
    assert.equal(e.code, 'HPE_INVALID_EOF_STATE');
    assert.equal(e.phase, 'request');
    assert.equal(e.request?.method, 'POST');
    assert.ok(e.bytesReceived > 1000, `bytesReceived ${e.bytesReceived}: the head and the part of the body nginx passed on`);
    // Node's own 400, written after nginx's FIN, is no early answer (the trial of 2026-12-05).
    assert.ok(e.bytesSent > 0, `bytesSent ${e.bytesSent}: Node's 400`);
    assert.match(
      e.hint?.text ?? '',
      /^the client gave up .*while it was still sending the request, before any response/,
      `hint: ${e.hint?.text}`,
    );
    // nginx saw its client's RST while it streamed the body upstream.
    for (let i = 0; i < 50 && !/\(104: Connection reset by peer\)/.test(nginx.errorLog()); i++) await delay(100);
    assert.match(nginx.errorLog(), /\(104: Connection reset by peer\)/);
    assert.deepEqual(up.seen, ['POST /upload']);
  } finally {
    await nginx.stop();
    await closeServer(up.srv);
  }
});

test('an https upstream busy when nginx connects: nginx gives up on the TLS handshake (504), and the Node side records the reset in tls_handshake', {
  timeout: 30000,
}, async (t) => {
  const srv = https.createServer({ ...TLS }, (_req, res) => res.end('ok'));
  const seen = [];
  srv.on('tlsClientError', (err) => seen.push(err.code));
  const port = await listen(srv);
  t.after(() => closeServer(srv));
  const nginx = await startNginx({ upstreamPort: port, upstreamScheme: 'https', extra: 'proxy_connect_timeout 200ms;' });
  t.after(() => process.kill(nginx.pid, 'SIGTERM'));
  // A client in another process asks nginx while this process (the upstream) is blocked: nginx
  // connects (the kernel accepts), sends its ClientHello, times out and closes; the upstream reads
  // the ClientHello and that end in one poll and answers it, which nginx's kernel resets.
  const client = spawn(
    process.execPath,
    ['-e', `require('http').get('http://127.0.0.1:${nginx.port}/', (r) => { console.log(r.statusCode); r.resume(); })`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let status = '';
  client.stdout.on('data', (d) => (status += d));
  // Busy until nginx gave up (its 200 ms handshake timeout, once the client process started and
  // asked: a fixed time could end first on a loaded machine), 10 s at most.
  for (let until = Date.now() + 10000, next = 0; Date.now() < until; ) {
    if (Date.now() < next) continue;
    if (/upstream timed out/.test(nginx.errorLog())) break;
    next = Date.now() + 50;
  }
  await once(client, 'exit');
  assert.equal(status.trim(), '504', 'nginx gave up on the upstream');
  const e = await cap.next((ev) => ev.direction === 'server' && ev.localPort === port);
  assert.equal(e.phase, 'tls_handshake');
  assert.equal(e.errorType, 'ECONNRESET');
  assert.equal(e.tls, true);
  assert.equal(e.bytesReceived, 0);
  assert.match(e.hint.text, /a client that gave up waiting/);
  assert.match(await logged(nginx, '504'), /upstream_status=504/);
  assert.match(nginx.errorLog(), /upstream timed out \(110: Connection timed out\) while SSL handshaking to upstream/);
  await delay(100);
  assert.deepEqual(seen, ['ECONNRESET'], 'the app saw tlsClientError ECONNRESET');
  assert.equal(cap.events.filter((ev) => ev.localPort === port).length, 1);
});
