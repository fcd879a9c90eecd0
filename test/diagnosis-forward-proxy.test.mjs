// A client behind a forward proxy (tinyproxy from Debian): undici's ProxyAgent tunnels a request
// with CONNECT (undici 7's default for every target; 8 tunnels only https:// ones unless asked),
// as its EnvHttpProxyAgent and Node's own env proxy (NODE_USE_ENV_PROXY) do. The tunnel's CONNECT
// is no exchange: the first request through it is not a reuse (clients trial: every tunnelled
// request the target reset read as a keep-alive race, "retry safe"). The peer is the proxy (README
// Limits); the request's host names the target.
// undici ≥ 8.10 dials a plain-HTTP origin given as an IP under the request's Host name (with a
// lookup that answers the IP): the proxy, or the IP, is still what the app dialled (undici trial).
// Every case runs with undici 7 and, where it loads (Node ≥ 22.19: the matrix), undici 8.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { loadAgent, capture, listen, closeServer } from './helpers/resets.mjs';
import { checkEvent, any } from './helpers/check-event.mjs';
import { startTinyproxy } from './helpers/proxies.mjs';
import { runNode, describeRun, resetLines, withAndWithout, AGENT } from './helpers/subprocess.mjs';

const require = createRequire(import.meta.url);
const [major, minor] = process.versions.node.split('.').map(Number);
const UNDICIS = [['undici 7', require('undici')]];
if (major > 22 || (major === 22 && minor >= 19)) UNDICIS.push(['undici 8', require('undici-8')]);

const { onReset } = await loadAgent();
const cap = capture(onReset);
after(() => cap.stop());

for (const [undici, { request, Agent, ProxyAgent }] of UNDICIS) {
  test(`${undici} through a CONNECT tunnel: a request the target resets is its first on the connection; a later one on the same tunnel is a reuse`, async (t) => {
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
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${proxy.port}`, proxyTunnel: true });
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

  test(`${undici}: HTTPS through a CONNECT tunnel whose target resets the TLS handshake: the event counts the tunnel's CONNECT and the proxy's answer (bytes both ways: the proxy had opened it)`, async (t) => {
    const proxy = await startTinyproxy();
    t.after(() => proxy.stop());
    const target = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const port = await listen(target);
    t.after(() => new Promise((r) => target.close(r)));
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${proxy.port}`, requestTls: { rejectUnauthorized: false } });
    t.after(() => dispatcher.close());
    cap.clear();
    const failed = await request(`https://localhost:${port}/`, { dispatcher }).then(
      () => 'answered',
      (err) => err.code,
    );
    assert.notEqual(failed, 'answered');
    const e = await cap.next((x) => x.direction === 'client' && x.serverPort === proxy.port);
    assert.equal(e.phase, 'tls_handshake', JSON.stringify(e));
    assert.equal(e.tls, true);
    // The tunnel's own exchange, before its TLS began: at least the request line and the status line.
    assert.ok(e.bytesSent >= `CONNECT localhost:${port} HTTP/1.1\r\n\r\n`.length, JSON.stringify(e));
    assert.ok(e.bytesReceived >= 'HTTP/1.0 200 Connection established\r\n\r\n'.length, JSON.stringify(e));
  });

  test(`${undici}: a proxy that resets the tunnel's CONNECT: the request names the target, not the proxy, and a retry is safe (nothing went through)`, async (t) => {
    // A trial of Node's env proxy: the event read "CONNECT localhost" (the proxy's name), retry unsafe.
    const proxy = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const port = await listen(proxy);
    t.after(() => new Promise((r) => proxy.close(r)));
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${port}`, proxyTunnel: true });
    t.after(() => dispatcher.close());
    cap.clear();
    const err = await request('http://api.example.test:8443/orders', { dispatcher }).then(
      () => null,
      (e) => e.code,
    );
    assert.ok(err !== null, 'the request failed');
    const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
    assert.deepEqual(
      [e.errorType, e.serverAddress, e.request?.method, e.request?.host, e.request?.path, e.retry],
      ['ECONNRESET', '127.0.0.1', 'CONNECT', 'api.example.test', undefined, 'safe'],
      JSON.stringify(e),
    );
  });

  test(`${undici} through a proxy without a tunnel (absolute-form, as Node’s env proxy sends to http:// targets): the peer is the proxy, the request names the target`, async (t) => {
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
      [e.phase, e.errorType, e.serverAddress, e.peerAddress, e.peerPort, e.request?.method, e.request?.host, e.reusedSocket],
      ['response', 'peer_closed', '127.0.0.1', '127.0.0.1', proxy.port, 'GET', 'localhost', false],
      JSON.stringify(e),
    );
    assert.match(proxy.log(), new RegExp(`GET http://localhost:${port}/orders`), 'an absolute-form request through the proxy');
  });

  test(`${undici} to an IP with a Host header naming another host (an ingress's address): the server is the IP the app dialled, the peer kept after the RST`, async (t) => {
    const received = [];
    const target = http.createServer((req) => {
      received.push(req.headers.host);
      req.socket.resetAndDestroy();
    });
    const port = await listen(target);
    t.after(() => closeServer(target));
    cap.clear();
    // Its own Agent: the global dispatcher is shared by every copy of undici (Node's own too).
    const dispatcher = new Agent();
    t.after(() => dispatcher.close());
    const err = await request(`http://127.0.0.1:${port}/orders`, { dispatcher, headers: { host: 'api.internal' } }).then(
      () => null,
      (e) => e.code,
    );
    assert.equal(err, 'ECONNRESET');
    assert.deepEqual(received, ['api.internal'], 'the server saw the Host header');
    const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
    assert.deepEqual(
      [e.phase, e.errorType, e.serverAddress, e.peerAddress, e.peerPort, e.request?.method, e.request?.host],
      ['response', 'ECONNRESET', '127.0.0.1', '127.0.0.1', port, 'GET', '127.0.0.1'],
      JSON.stringify(e),
    );
  });
}

test("node:http's CONNECT (as hpagent and tunnel send it) reset by the proxy: the request names the target, a retry is safe", async (t) => {
  const proxy = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(proxy);
  t.after(() => new Promise((r) => proxy.close(r)));
  cap.clear();
  const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: 'api.example.test:443' });
  const failed = new Promise((r) => req.on('error', (err) => r(err.code)));
  req.end();
  assert.equal(await failed, 'ECONNRESET');
  const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
  assert.deepEqual(
    [e.phase, e.errorType, e.request?.method, e.request?.host, e.request?.path, e.retry],
    ['response', 'ECONNRESET', 'CONNECT', 'api.example.test', undefined, 'safe'],
    JSON.stringify(e),
  );
});

// Node's own fetch through its env proxy (NODE_USE_ENV_PROXY, Node ≥ 22.21: the matrix): on
// Node 22 and 24 its bundled undici (6, 7) tunnels with CONNECT; Node 26's (8) sends http://
// targets in absolute form, dialling the proxy's IP under the target's name.
if (major > 22 || (major === 22 && minor >= 21)) {
  /**
   * Node's env proxy to an https: target through a proxy that does `onConnection`: the app with no
   * 'error' listener crashes as without the agent, one event; with a listener, handled, not fatal.
   */
  async function envProxyReset(t, onConnection) {
    const proxy = net.createServer(onConnection);
    const port = await listen(proxy);
    t.after(() => new Promise((r) => proxy.close(r)));
    const app = "require('node:https').get('https://api.example.test/orders', () => console.log('answered'));";
    const env = { NODE_USE_ENV_PROXY: '1', HTTPS_PROXY: `http://127.0.0.1:${port}`, NODE_NO_WARNINGS: '1', RESETWATCH_PORT: 'off' };
    const { plain, agent } = await withAndWithout(['-e', app], { env });
    assert.equal(plain.code, 1, describeRun(plain));
    assert.equal(agent.code, plain.code, describeRun(agent));
    assert.match(plain.stderr, /ECONNRESET/, describeRun(plain));
    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, describeRun(agent));
    const handled = await runNode([...AGENT, '-e', `${app.slice(0, -1)}.on('error', (e) => console.log(e.code));`], { env });
    assert.equal(handled.code, 0, describeRun(handled));
    assert.equal(handled.stdout.trim(), 'ECONNRESET', describeRun(handled));
    assert.deepEqual(
      resetLines(handled.stderr).map((l) => l['resetwatch.fatal']),
      [false],
      describeRun(handled),
    );
    const l = lines[0];
    return {
      line: l,
      fields: [
        l['resetwatch.phase'],
        l['resetwatch.fatal'],
        l['server.port'] === port,
        l['http.request.method'],
        l['resetwatch.request.host'],
        l['resetwatch.retry'],
      ],
    };
  }

  test(`Node ${process.version}'s env proxy to an https: target, the proxy resetting the tunnel, no 'error' listener on the request: the app crashes as without the agent, and the event says fatal`, async (t) => {
    // Node dials the tunnel with a listener of its own and hands the request its error a tick
    // later (a trial of Node 22–26: fatal false, no "about to crash" in the line). The event names
    // the tunnel's CONNECT for the request's host, as undici's reads (a trial of proxied clients:
    // "established", protocol unknown, no request, retry unknown).
    const { line, fields } = await envProxyReset(t, (s) => s.once('data', () => s.resetAndDestroy()));
    assert.deepEqual(fields, ['response', true, true, 'CONNECT', 'api.example.test', 'safe'], JSON.stringify(line));
    assert.match(line.msg, /about to crash/, JSON.stringify(line));
  });

  test(`Node ${process.version}'s env proxy to an https: target, the proxy answering 200 and resetting the TLS handshake over the tunnel, no 'error' listener: the event says fatal`, async (t) => {
    // After the 200 Node starts TLS over the tunnel and hands the request that TLS socket only once
    // its handshake is done (a trial beside APM agents: the crash read fatal false). The event
    // names the request itself, as over a direct https connection's handshake.
    const { line, fields } = await envProxyReset(t, (s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 Connection established\r\n\r\n');
        s.once('data', () => s.resetAndDestroy()); // the ClientHello
      });
    });
    assert.deepEqual(fields, ['tls_handshake', true, true, 'GET', 'api.example.test', 'safe'], JSON.stringify(line));
  });

  test(`Node ${process.version}'s fetch (undici ${process.versions.undici}) through NODE_USE_ENV_PROXY: the peer is the proxy, the request names the target`, async (t) => {
    const proxy = await startTinyproxy();
    t.after(() => proxy.stop());
    const target = http.createServer((req) => req.socket.resetAndDestroy());
    const port = await listen(target);
    t.after(() => closeServer(target));
    const app = `fetch('http://localhost:${port}/orders').then(() => console.log('ok'), (e) => console.log(e.cause?.code));`;
    const r = await runNode([...AGENT, '-e', app], {
      env: { NODE_USE_ENV_PROXY: '1', HTTP_PROXY: `http://127.0.0.1:${proxy.port}`, NODE_NO_WARNINGS: '1' },
    });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /UND_ERR_SOCKET|ECONNRESET/, describeRun(r));
    const lines = resetLines(r.stderr).filter((l) => l['resetwatch.direction'] === 'client');
    assert.equal(lines.length, 1, describeRun(r));
    const l = lines[0];
    assert.deepEqual(
      [
        l['resetwatch.phase'],
        l['server.address'],
        l['server.port'],
        l['network.peer.address'],
        l['network.peer.port'],
        l['http.request.method'],
        l['resetwatch.request.host'],
      ],
      ['response', '127.0.0.1', proxy.port, '127.0.0.1', proxy.port, 'GET', 'localhost'],
      JSON.stringify(l),
    );
    assert.match(proxy.log(), new RegExp(`(CONNECT localhost:${port}|GET http://localhost:${port}/orders)`), 'through the proxy');
  });
}
