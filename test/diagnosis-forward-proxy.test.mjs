// A client behind a forward proxy (tinyproxy from Debian): undici's ProxyAgent tunnels every
// request with CONNECT, as its EnvHttpProxyAgent and Node's own env proxy (NODE_USE_ENV_PROXY) do.
// The tunnel's CONNECT is no exchange: the first request through it is not a reuse (clients trial:
// every tunnelled request the target reset read as a keep-alive race, "retry safe"). The peer is
// the proxy (README Limits); the request's host names the target.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { loadAgent, capture, listen, closeServer } from './helpers/resets.mjs';
import { checkEvent, any } from './helpers/check-event.mjs';
import { startTinyproxy } from './helpers/proxies.mjs';

const require = createRequire(import.meta.url);
const { request, ProxyAgent } = require('undici');

const { onReset } = await loadAgent();
const cap = capture(onReset);
after(() => cap.stop());

test('undici through a CONNECT tunnel: a request the target resets is its first on the connection; a later one on the same tunnel is a reuse', async (t) => {
  const proxy = await startTinyproxy();
  t.after(() => proxy.stop());
  // Per request, whether its connection from the proxy had served one before (a reused tunnel).
  const received = [];
  const served = new WeakSet();
  const target = http.createServer((req, res) => {
    received.push({ url: req.url, reused: served.has(req.socket) });
    served.add(req.socket);
    if (req.url === '/reset') req.socket.resetAndDestroy();
    else res.end('ok');
  });
  const port = await listen(target);
  t.after(() => closeServer(target));
  const dispatcher = new ProxyAgent(`http://127.0.0.1:${proxy.port}`);
  t.after(() => dispatcher.close());
  const get = (path) =>
    request(`http://localhost:${port}${path}`, { dispatcher }).then(
      async (r) => r.statusCode + (await r.body.text()),
      (err) => err.code,
    );
  const viaProxy = (e) => e.direction === 'client' && e.serverPort === proxy.port;
  cap.clear(); // startTinyproxy's probes of the port until it listened

  assert.equal(await get('/reset'), 'UND_ERR_SOCKET', 'the proxy closes the tunnel as the target resets');
  const first = await cap.next(viaProxy);
  checkEvent(first, {
    time: any.recent,
    direction: 'client',
    errorType: 'peer_closed',
    code: 'UND_ERR_SOCKET',
    message: 'other side closed',
    syscall: undefined,
    phase: 'response',
    peerAddress: '127.0.0.1',
    peerPort: proxy.port,
    serverAddress: '127.0.0.1',
    serverPort: proxy.port,
    localAddress: any.loopback,
    localPort: any.port,
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: any.positive, // the proxy's "200 Connection established"
    bytesSent: any.positive,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'unsafe', // the target had the request
    fatal: false,
    request: (r) => r.method === 'GET' && r.host === 'localhost',
    reusedSocket: false,
  });

  // Exchanges, then a request the target resets: on a tunnel that had served one, a reuse (undici
  // may open another tunnel meanwhile: tried until one reset lands on a used one).
  let reuses = 0;
  for (let i = 0; i < 5 && reuses === 0; i++) {
    cap.clear();
    assert.equal(await get('/ok'), '200ok');
    assert.equal(await get('/ok'), '200ok');
    assert.equal(await get('/reset'), 'UND_ERR_SOCKET');
    const e = await cap.next(viaProxy);
    const reused = received.at(-1).reused;
    assert.equal(e.reusedSocket, reused, `reused as the target saw it: ${JSON.stringify(e)}`);
    if (reused) {
      reuses++;
      assert.ok(e.idleBeforeReuseMs >= 0 && e.idleBeforeReuseMs < 1000, JSON.stringify(e));
    }
  }
  assert.equal(reuses, 1, `a reset on a used tunnel in 5 tries: ${JSON.stringify(received)}`);
  assert.match(proxy.log(), /CONNECT/, 'the requests went through the proxy as CONNECT tunnels');
});

test('undici through a proxy without a tunnel (absolute-form, as Node’s env proxy sends to http:// targets): the request names the target', async (t) => {
  const proxy = await startTinyproxy();
  t.after(() => proxy.stop());
  const target = http.createServer((req) => req.socket.resetAndDestroy());
  const port = await listen(target);
  t.after(() => closeServer(target));
  const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${proxy.port}`, proxyTunnel: false });
  t.after(() => dispatcher.close());
  cap.clear();
  const err = await request(`http://localhost:${port}/orders`, { dispatcher }).then(
    () => null,
    (e) => e.code,
  );
  assert.equal(err, 'UND_ERR_SOCKET');
  const e = await cap.next((x) => x.direction === 'client' && x.serverPort === proxy.port);
  assert.deepEqual(
    [e.phase, e.errorType, e.serverAddress, e.request?.method, e.request?.host, e.reusedSocket],
    ['response', 'peer_closed', '127.0.0.1', 'GET', 'localhost', false],
    JSON.stringify(e),
  );
  assert.match(proxy.log(), new RegExp(`GET http://localhost:${port}/orders`), 'an absolute-form request through the proxy');
});
