// Resets that neither app made (issue 12): a firewall's REJECT, a stateful firewall that lost its
// conntrack state, `ss -K` on this host. Real kernels make them, in two network namespaces joined
// by a veth pair (test/helpers/netns.mjs): the client app with the agent (fixtures/netns-client.cjs)
// in one, a Node HTTP server advertising a 60 s keep-alive timeout (fixtures/netns-server.cjs) in
// the other. The agent's events come back as JSON lines, before the app's own error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { loadAgent, capture, listen, closeServer, delay } from './helpers/resets.mjs';
import { checkEvent, any, readAbort, readReset } from './helpers/check-event.mjs';
import { netPair } from './helpers/netns.mjs';
import { fixture } from './helpers/subprocess.mjs';

/** The two namespaces with the server and the client app running; removed after the test. */
async function setup(t, ...serverArgs) {
  const pair = netPair();
  t.after(() => pair.close());
  const server = pair.node(pair.server, [fixture('netns-server.cjs'), pair.server.addr, ...serverArgs]);
  const { listening: port } = await server.next((m) => m.listening);
  const app = pair.node(pair.client, ['--require', 'resetwatch', fixture('netns-client.cjs')], { RESETWATCH_LOG: 'off' });
  await app.next((m) => m.ready);
  let id = 0;
  /** One GET from the app; resolves with its answer ({status} or {error}) and the events before it. */
  const get = async (path, fetch = false) => {
    const n = ++id;
    app.send({ id: n, url: `http://${pair.server.addr}:${port}${path}`, fetch });
    const answer = await app.next((m) => m.id === n);
    return { answer, events: app.lines.filter((m) => m.event).map((m) => m.event) };
  };
  return { pair, server, app, port, get };
}

/** The event of a reused keep-alive request reset by something between client and server. */
function reusedRequestReset(port) {
  return {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'response',
    peerAddress: '10.77.0.2',
    peerPort: port,
    serverAddress: '10.77.0.2',
    serverPort: port,
    localAddress: '10.77.0.1',
    localPort: any.port,
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: any.positive,
    bytesSent: any.positive,
    connectionAgeMs: (v) => v >= 1400,
    // The pooled idle time, or (when the RST came more than one 10 ms clock step after the request
    // went out, as on a loaded machine) the time since the request was written (README "idleMs").
    idleMs: any.nonNegative,
    // A GET that met an RST before one byte of its response: it never reached the server.
    retry: 'safe',
    fatal: false,
    request: (r) => r.method === 'GET' && r.host === '10.77.0.2' && r.ageMs < 1000,
    reusedSocket: true,
    idleBeforeReuseMs: (v) => v >= 1400 && v < 5000,
    hint: (h) =>
      h.id === 'middlebox_reset' &&
      new RegExp(`idled \\d+\\.\\d s, far less than the 60 s keep-alive timeout 10\\.77\\.0\\.2:${port} advertised`).test(h.text),
  };
}

const RESET = { code: 'ECONNRESET', message: 'read ECONNRESET', syscall: 'read' };

test('a firewall REJECT (tcp-reset) of a reused keep-alive connection idle 1.5 s of 60: middlebox_reset, not keepalive_race', async (t) => {
  const { pair, port, get } = await setup(t);
  assert.deepEqual((await get('/')).answer, { id: 1, status: 200, reused: false });
  await delay(1500);
  pair.exec(pair.server, 'iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'tcp-reset');
  const { answer, events } = await get('/');
  assert.deepEqual(answer, { id: 2, error: RESET });
  assert.equal(events.length, 1, JSON.stringify(events));
  checkEvent(events[0], reusedRequestReset(port));
});

test('fetch: the same REJECT of its pooled connection is middlebox_reset too', async (t) => {
  const { pair, port, get } = await setup(t);
  assert.deepEqual((await get('/', true)).answer, { id: 1, status: 200, body: 'ok' });
  await delay(1500);
  pair.exec(pair.server, 'iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'tcp-reset');
  const { answer, events } = await get('/', true);
  assert.deepEqual(answer, { id: 2, error: RESET });
  assert.equal(events.length, 1, JSON.stringify(events));
  checkEvent(events[0], {
    ...reusedRequestReset(port),
    request: (r) => r.method === 'GET' && r.host === '10.77.0.2' && r.ageMs < 1000,
  });
});

/** nftables on the server's host: established flows pass, new ones only with a SYN, the rest is rejected. */
function statefulFirewall(pair, port) {
  // Mid-stream packets of a flow it forgot are not picked up again (nf_conntrack_tcp_loose=0).
  const nft = (...args) => pair.exec(pair.server, 'nft', ...args);
  pair.exec(pair.server, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0');
  nft('add', 'table', 'inet', 'fw');
  nft('add', 'chain', 'inet', 'fw', 'input', '{ type filter hook input priority 0; }');
  nft('add', 'rule', 'inet', 'fw', 'input', 'tcp', 'dport', String(port), 'ct', 'state', 'established', 'accept');
  nft('add', 'rule', 'inet', 'fw', 'input', 'tcp', 'dport', String(port), 'tcp', 'flags', 'syn', 'ct', 'state', 'new', 'accept');
  nft('add', 'rule', 'inet', 'fw', 'input', 'tcp', 'dport', String(port), 'reject', 'with', 'tcp', 'reset');
}

test('a stateful firewall that lost its conntrack state resets the next packet of a pooled connection: middlebox_reset', async (t) => {
  const { pair, port, get } = await setup(t);
  statefulFirewall(pair, port);
  assert.deepEqual((await get('/')).answer, { id: 1, status: 200, reused: false });
  assert.match(pair.exec(pair.server, 'conntrack', '-L'), new RegExp(`ESTABLISHED .*dport=${port} `), 'the firewall tracks the connection');
  await delay(1500);
  pair.exec(pair.server, 'conntrack', '-F');
  const { answer, events } = await get('/');
  assert.deepEqual(answer, { id: 2, error: RESET });
  assert.equal(events.length, 1, JSON.stringify(events));
  checkEvent(events[0], reusedRequestReset(port));
});

test('the same lost state, the server advertising no keep-alive timeout (as nginx): keepalive_race, its text naming the path too', async (t) => {
  // The middlebox trial: "closed this pooled connection … (Node's http.Server default is 5 s)"
  // sent on-call to the server and the client's idle timeout, where the box had sent the RST.
  const { pair, port, get } = await setup(t, 'quiet');
  statefulFirewall(pair, port);
  assert.deepEqual((await get('/')).answer, { id: 1, status: 200, reused: false });
  await delay(1500);
  pair.exec(pair.server, 'conntrack', '-F');
  const { answer, events } = await get('/');
  assert.deepEqual(answer, { id: 2, error: RESET });
  assert.equal(events.length, 1, JSON.stringify(events));
  checkEvent(events[0], {
    ...reusedRequestReset(port),
    hint: (h) =>
      h.id === 'keepalive_race' &&
      h.text.startsWith(
        `keep-alive race or lost state: 10.77.0.2:${port} closed this pooled connection with an RST and no FIN before it`,
      ) &&
      /load balancer, NAT, firewall or conntrack on the path that lost or expired the flow/.test(h.text) &&
      /which does not help against lost state/.test(h.text),
  });
});

test('a connect refused by a REJECT rule sent and received nothing, whatever http buffered', async (t) => {
  const { pair, port, get } = await setup(t);
  pair.exec(
    pair.server,
    'iptables',
    '-I',
    'INPUT',
    '-p',
    'tcp',
    '--dport',
    String(port),
    '--syn',
    '-j',
    'REJECT',
    '--reject-with',
    'tcp-reset',
  );
  const { answer, events } = await get('/');
  assert.deepEqual(answer, {
    id: 1,
    error: { code: 'ECONNREFUSED', message: `connect ECONNREFUSED 10.77.0.2:${port}`, syscall: 'connect' },
  });
  assert.equal(events.length, 1, JSON.stringify(events));
  checkEvent(events[0], {
    time: any.recent,
    direction: 'client',
    errorType: 'ECONNREFUSED',
    code: 'ECONNREFUSED',
    message: `connect ECONNREFUSED 10.77.0.2:${port}`,
    syscall: 'connect',
    phase: 'connect',
    peerAddress: '10.77.0.2',
    peerPort: port,
    serverAddress: '10.77.0.2',
    serverPort: port,
    localAddress: '10.77.0.1',
    localPort: any.port,
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: 0,
    bytesSent: 0,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'safe', // never connected
    fatal: false,
    request: (r) => r.method === 'GET' && r.host === '10.77.0.2' && any.nonNegative(r.ageMs),
    reusedSocket: false,
    hint: (h) => h.id === 'upstream_down' && /or a firewall on the path rejects the connection$/.test(h.text),
  });
});

test('ss -K on this host aborts a connection waiting for its response: ECONNABORTED, local_abort', async (t) => {
  const { pair, server, app, port } = await setup(t);
  app.send({ id: 1, url: `http://${pair.server.addr}:${port}/slow` });
  await server.next((m) => m.request === '/slow');
  const killed = pair.exec(pair.client, 'ss', '-K', 'state', 'established', 'dst', pair.server.addr, 'dport', '=', `:${port}`);
  assert.match(killed, new RegExp(`10\\.77\\.0\\.2:${port}`), 'ss -K found the connection');
  const answer = await app.next((m) => m.id === 1);
  assert.deepEqual(answer, { id: 1, error: { code: 'ECONNABORTED', message: 'read ECONNABORTED', syscall: 'read' } });
  const events = app.lines.filter((m) => m.event).map((m) => m.event);
  assert.equal(events.length, 1, JSON.stringify(events));
  checkEvent(events[0], {
    time: any.recent,
    direction: 'client',
    ...readAbort,
    phase: 'response',
    peerAddress: '10.77.0.2',
    peerPort: port,
    serverAddress: '10.77.0.2',
    serverPort: port,
    localAddress: '10.77.0.1',
    localPort: any.port,
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: 0,
    bytesSent: any.positive,
    connectionAgeMs: any.positive,
    idleMs: any.nonNegative,
    retry: 'unsafe', // the request had gone out
    fatal: false,
    request: (r) => r.method === 'GET' && r.host === '10.77.0.2' && any.positive(r.ageMs),
    reusedSocket: false,
    hint: (h) => h.id === 'local_abort' && /this host aborted the connection itself/.test(h.text),
  });
});

test('the same bare RST after the same 1.5 s idle, from a server that advertised 2 s, is still keepalive_race', async () => {
  // Loopback: a raw server that advertises `Keep-Alive: timeout=2` and closes the connection as
  // the next request arrives (unread data: an RST, no FIN) — a server whose idle timeout is close
  // enough to have closed the connection just as the client reused it.
  const { onReset } = await loadAgent();
  const cap = capture(onReset);
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=2\r\n\r\nok');
      s.once('data', () => s.destroy());
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve) => {
      const req = http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', resolve);
    });
  assert.equal(await get(), 200);
  await delay(1500);
  const err = await get();
  assert.ok(err?.code === 'ECONNRESET', `the reused request failed: ${err}`);
  const e = await cap.next((x) => x.serverPort === port);
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    errorType: (v) => v === 'peer_closed' || v === 'ECONNRESET',
    code: 'ECONNRESET',
    message: (v) => v === 'socket hang up' || v === 'read ECONNRESET',
    syscall: (v) => v === undefined || v === 'read',
    phase: 'response',
    peerAddress: any.loopback,
    peerPort: port,
    serverAddress: '127.0.0.1',
    serverPort: port,
    localAddress: any.loopback,
    localPort: any.port,
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: any.positive,
    bytesSent: any.positive,
    connectionAgeMs: (v) => v >= 1400,
    // The pooled idle time, or (when the RST came more than one 10 ms clock step after the request
    // went out, as on a loaded machine) the time since the request was written (README "idleMs").
    idleMs: any.nonNegative,
    retry: 'safe', // a GET that met the RST before one byte of its response
    fatal: false,
    request: (r) => r.method === 'GET' && r.ageMs < 1000,
    reusedSocket: true,
    idleBeforeReuseMs: (v) => v >= 1400 && v < 5000,
    // A bare RST may be the path's as well; a FIN first ("socket hang up") is the server's own close.
    hint: (h) =>
      h.id === 'keepalive_race' &&
      /idled \d+\.\d s/.test(h.text) &&
      /^keep-alive race or lost state: .* with an RST and no FIN/.test(h.text) === (e.message === 'read ECONNRESET'),
  });
  cap.stop();
  agent.destroy();
  await closeServer(server);
});
