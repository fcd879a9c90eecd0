// TLS roles the other way round from the TCP roles (reverse tunnels): a connection's direction is
// its TCP role (README: client = this process dialled), whichever end of TLS this process plays
// over it. Real connections on loopback, reset by python3's ssl (SO_LINGER 0 after the exchange).
// Found by a trial of passed and inherited sockets: a TLS client over an accepted socket was not
// watched at all (no event, not counted), a TLS server over a dialled one read as a server
// connection "on port <ephemeral>" without the dialled peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { captureEach, loadAgent, listen, closeServer, TLS, ROOT } from './helpers/resets.mjs';
import { checkEvent, any, readReset } from './helpers/check-event.mjs';
import { python } from './helpers/subprocess.mjs';

const cap = captureEach();

const CERT = JSON.stringify(path.join(ROOT, 'test/fixtures/tls/cert.pem'));
const KEY = JSON.stringify(path.join(ROOT, 'test/fixtures/tls/key.pem'));
const RST = "t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); t.close()";

for (const when of ['in its connection listener', 'a turn later']) {
  test(`a TLS client over a socket this process accepted (${when}): one server event, counted as a server TLS connection`, async () => {
    const { stats } = (await loadAgent()).agent;
    const before = structuredClone(stats.connections);
    const seen = [];
    let closed;
    const closedOnce = new Promise((r) => (closed = r));
    const server = net.createServer((s) => {
      const wrap = () => {
        const t = tls.connect({ socket: s, rejectUnauthorized: false, servername: 'localhost' }, () => t.write('hello'));
        t.on('error', (e) => seen.push(e.code));
        t.on('close', closed);
      };
      if (when === 'a turn later') setImmediate(wrap);
      else wrap();
    });
    const port = await listen(server);
    const py = python(`
import socket, ssl, struct, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(${CERT}, ${KEY})
c = socket.create_connection(('127.0.0.1', ${port})); t = ctx.wrap_socket(c, server_side=True)
print(t.recv(5).decode(), flush=True); time.sleep(0.1)
${RST}
`);
    assert.equal(await py.line, 'hello');
    await py.done;
    await closedOnce;
    const e = await cap.next((x) => x.localPort === port);
    checkEvent(e, {
      time: any.recent,
      direction: 'server',
      ...readReset,
      phase: 'established',
      peerAddress: undefined,
      peerPort: undefined,
      localAddress: '127.0.0.1',
      localPort: port,
      tls: true,
      protocol: 'unknown',
      bytesReceived: 0,
      bytesSent: 5,
      connectionAgeMs: any.nonNegative,
      idleMs: any.nonNegative,
      retry: 'unknown',
      fatal: false,
      serverAddress: 'localhost',
      tlsVersion: 'TLSv1.3',
    });
    assert.deepEqual(seen, ['ECONNRESET']);
    assert.equal(cap.events.filter((x) => x.localPort === port || x.peerPort === port).length, 1, 'one event');
    assert.equal(stats.connections.server.tls - before.server.tls, 1, 'one server TLS connection');
    assert.equal(stats.connections.client.tls - before.client.tls, 0);
    await closeServer(server);
  });
}

test('a TLS server over a socket this process dialled: one client event to the dialled peer, counted as a client TLS connection', async () => {
  const { stats } = (await loadAgent()).agent;
  const before = structuredClone(stats.connections);
  const py = python(`
import socket, ssl, struct, time
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1); print(l.getsockname()[1], flush=True)
c, _ = l.accept(); ctx = ssl._create_unverified_context(); t = ctx.wrap_socket(c, server_hostname='localhost')
t.sendall(b'GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n'); time.sleep(0.2)
${RST}
`);
  const port = Number(await py.line);
  const seen = [];
  const closed = new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      const t = new tls.TLSSocket(s, { isServer: true, secureContext: tls.createSecureContext({ key: TLS.key, cert: TLS.cert }) });
      t.on('data', () => {});
      t.on('error', (e) => seen.push(e.code));
      t.on('close', resolve);
    });
  });
  await py.done;
  await closed;
  const e = await cap.next((x) => x.peerPort === port);
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'established',
    peerAddress: '127.0.0.1',
    peerPort: port,
    serverAddress: '127.0.0.1',
    serverPort: port,
    localAddress: '127.0.0.1',
    localPort: any.port,
    tls: true,
    protocol: 'unknown',
    bytesReceived: 27,
    bytesSent: 0,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'unknown',
    fatal: false,
    tlsVersion: 'TLSv1.3',
  });
  assert.deepEqual(seen, ['ECONNRESET']);
  assert.equal(cap.events.filter((x) => x.peerPort === port || x.localPort === port).length, 1, 'one event');
  assert.equal(stats.connections.client.tls - before.client.tls, 1, 'one client TLS connection');
  assert.equal(stats.connections.server.tls - before.server.tls, 0);
});
