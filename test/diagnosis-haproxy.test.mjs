// HAProxy from Debian, in front of a Node server and in front of a Node client's upstream: the
// resets it makes by itself with a stock config. Its `timeout server` expiring on a slow handler
// (a 504 for the client, termination state `sH--`) resets the connection to the upstream; a
// `tcp-request connection reject` rule (a deny list, a connection rate limit) resets a connection
// it has just accepted, before the client could send a byte; an HTTP health check (`option
// httpchk`) that times out resets its connection, whose request a stalled server reads later.
// And three that lose nothing: `option nolinger` ends an idle client connection with a FIN and an
// RST, HAProxy resets the server connection it drops when its client goes, and its TLS health
// checks (`check-ssl`) reset each connection once the handshake is done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { captureEach, listen, closeServer, delay, brief, holdLoop, UV_HIDES_RST } from './helpers/resets.mjs';
import { checkEvent, any, dialled, readReset } from './helpers/check-event.mjs';
import { startHaproxy } from './helpers/proxies.mjs';

const require = createRequire(import.meta.url);
const express = require('express');
const axios = require('axios');

const cap = captureEach();

/**
 * Holds this event loop until none of this host's connections to 127.0.0.1:port is open any more
 * (/proc/net/tcp: established or its SYN sent): HAProxy has accepted and reset them.
 */
function holdUntilReset(port) {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const open = (row) => {
    const [, , to, state] = row.trim().split(/\s+/);
    return to === remote && (state === '01' || state === '02'); // established, or its SYN sent
  };
  holdLoop(() => !readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).some(open));
}

/** A Node server that answers `ok`, behind HAProxy (`options` for startHaproxy); both stopped after test `t`. */
async function okBehindHaproxy(t, options = {}) {
  const srv = http.createServer((_req, res) => res.end('ok'));
  const port = await listen(srv);
  t.after(() => closeServer(srv));
  const haproxy = await startHaproxy({ upstreamPort: port, ...options });
  t.after(() => haproxy.stop());
  return { port, haproxy };
}

/** Resolves with HAProxy's log line for `GET path` once it has written it. */
async function logged(haproxy, path) {
  for (let i = 0; i < 50; i++) {
    const line = haproxy
      .log()
      .split('\n')
      .find((l) => l.includes(`"GET ${path} HTTP/1.1"`));
    if (line !== undefined) return line;
    await delay(100);
  }
  throw new Error(`no HAProxy log line for ${path}: ${haproxy.log()}`);
}

test("HAProxy's timeout server on a slow express route: it answers its client 504 and resets the upstream connection; the Node side records client_abort in the response phase, 0.3 s into the request", {
  timeout: 30000,
}, async (t) => {
  const app = express();
  app.get('/reports/:id', (_req, res) => setTimeout(() => res.send('late'), 2000).unref());
  const srv = http.createServer(app);
  const port = await listen(srv);
  t.after(() => closeServer(srv));
  const haproxy = await startHaproxy({ upstreamPort: port, timeouts: { server: '300ms' } });
  t.after(() => haproxy.stop());
  cap.clear(); // startHaproxy's own probe of its port

  const answer = await axios.get(`http://127.0.0.1:${haproxy.port}/reports/7`, { validateStatus: null });
  assert.equal(answer.status, 504);
  assert.match(await logged(haproxy, '/reports/7'), / 504 .* sH-- /, 'HAProxy: server timeout, while waiting for the response headers');

  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  checkEvent(e, {
    time: any.recent,
    direction: 'server',
    ...readReset,
    phase: 'response',
    // The peer's address: only with RESETWATCH_SERVER_PEERS (after an RST the kernel no longer knows it).
    peerAddress: undefined,
    peerPort: undefined,
    localAddress: '127.0.0.1',
    localPort: port,
    tls: false,
    idleMs: (v) => v >= 290 && v < 3000,
    retry: 'unknown',
    protocol: 'http/1.1',
    fatal: false,
    bytesReceived: any.positive,
    bytesSent: 0,
    connectionAgeMs: (v) => v >= 290 && v < 3000,
    request: (r) => r.method === 'GET' && r.route === '/reports/:id' && r.ageMs >= 290 && r.ageMs < 3000,
    // The age the hint states is the request's (0.3 s of HAProxy's timeout; later on a loaded machine).
    hint: (h) =>
      h.id === 'client_abort' &&
      h.text.startsWith(`the client gave up ${(e.request.ageMs / 1000).toFixed(1)} s into the request before the response was complete`),
  });
  await delay(100);
  assert.equal(cap.events.filter((x) => x.localPort === port).length, 1, 'one reset for the one request');
});

test("HAProxy's tcp-request connection reject: the client's connect meets an RST; the Node side records accept_reset, safe to retry, with nothing sent; fetch reads the same", {
  timeout: 30000,
}, async (t) => {
  const { haproxy } = await okBehindHaproxy(t, { frontend: 'tcp-request connection reject if { src 127.0.0.1 }' });
  cap.clear();

  // The connect completes in the kernel at once on loopback; the loop is held until HAProxy has
  // accepted and reset the connection, so that Node reads the RST with the connect's result, as a
  // client across a network does when the RST comes before its connect completes in its loop.
  const failed = new Promise((resolve) => {
    const req = http.get(`http://127.0.0.1:${haproxy.port}/orders`, () => resolve('answered'));
    req.on('error', (err) => resolve(`${err.code} ${err.syscall}`));
    setImmediate(() => holdUntilReset(haproxy.port));
  });
  assert.equal(await failed, 'ECONNRESET connect');

  const e = await cap.next((x) => x.direction === 'client' && x.serverPort === haproxy.port);
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    errorType: 'ECONNRESET',
    code: 'ECONNRESET',
    message: `connect ECONNRESET 127.0.0.1:${haproxy.port}`,
    syscall: 'connect',
    phase: 'connect',
    ...dialled(haproxy.port),
    tls: false,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    protocol: 'http/1.1',
    fatal: false,
    reusedSocket: false,
    bytesReceived: 0,
    bytesSent: 0,
    retry: 'safe',
    request: (r) => r.method === 'GET',
    hint: (h) => h.id === 'accept_reset' && h.text.startsWith(`127.0.0.1:${haproxy.port} accepted the connection and reset it at once`),
  });

  // fetch (undici): the same reading, without the request (undici binds it after the connect).
  cap.clear();
  const fetched = fetch(`http://127.0.0.1:${haproxy.port}/orders`).then(
    (r) => r.status,
    (err) => `${err.cause?.code} ${err.cause?.syscall}`,
  );
  setImmediate(() => holdUntilReset(haproxy.port));
  assert.equal(await fetched, 'ECONNRESET connect');
  const f = await cap.next((x) => x.direction === 'client' && x.serverPort === haproxy.port);
  assert.deepEqual(
    [f.phase, f.errorType, f.syscall, f.protocol, f.retry, f.bytesSent, f.request, f.hint?.id],
    ['connect', 'ECONNRESET', 'connect', 'http/1.1', 'safe', 0, undefined, 'accept_reset'],
  );
});

test("HAProxy's HTTP health checks during a stall of this server: each check it gave up on reads client_abort in the response phase, its answer's write meeting the check's RST; none reads idle", {
  timeout: 30000,
}, async (t) => {
  const checked = [];
  const srv = http.createServer((req, res) => {
    checked.push(req.url);
    res.end('ok');
  });
  const port = await listen(srv);
  t.after(() => closeServer(srv));
  const haproxy = await startHaproxy({
    upstreamPort: port,
    timeouts: { check: '300ms' },
    backend: 'option httpchk GET /health',
    serverOptions: 'check inter 100ms fall 1 rise 1',
  });
  t.after(() => haproxy.stop());
  for (let i = 0; i < 50 && checked.length < 2; i++) await delay(50);
  assert.ok(checked.length >= 2, 'HAProxy checks this server');
  const mine = (x) => x.direction === 'server' && x.localPort === port;
  assert.deepEqual(cap.events.filter(mine), [], 'a check answered in time is no reset');

  const until = Date.now() + 1500;
  while (Date.now() < until); // a stall: the checks meanwhile wait, time out and reset
  await cap.next(mine);
  await delay(500);
  // A check sent as the stall ends may be answered just as it times out (this process's first
  // reset holds its loop up to ~100 ms): its RST then comes after the answer, idle.
  const late = cap.events.filter((x) => mine(x) && x.phase === 'idle' && x.hint?.id === 'idle_reset');
  assert.ok(late.length <= 1, `${late.length} checks answered as they timed out`);
  const events = cap.events.filter((x) => mine(x) && !late.includes(x));
  assert.ok(events.length >= 1, `${events.length} checks given up on`);
  for (const e of events) {
    assert.deepEqual(
      [e.phase, e.errorType, e.syscall, e.hint?.id],
      ['response', 'ECONNRESET', 'write', 'client_abort'],
      JSON.stringify({ ...e, context: undefined }),
    );
    // Node 20 and 22 count the failed answer as sent: not known there to be the first write.
    if (!UV_HIDES_RST) assert.match(e.hint.text, /its RST was already there when this server wrote its answer .*its event loop blocked/);
  }
  // HAProxy marked the server down at its first check timed out, and up again at the next answer.
  for (let i = 0; i < 50 && !/Server app\/app is UP/.test(haproxy.log()); i++) await delay(100);
  assert.match(haproxy.log(), /Server app\/app is DOWN, reason: Layer[47] timeout/);
  assert.match(haproxy.log(), /Server app\/app is UP/);
});

test("HAProxy's option nolinger closes an idle keep-alive client connection with a FIN and an RST behind it: an orderly end for the pool, no event, on every Node", {
  timeout: 30000,
}, async (t) => {
  const { haproxy } = await okBehindHaproxy(t, { timeouts: { 'http-keep-alive': '300ms' }, frontend: 'option nolinger' });
  cap.clear();
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const pooled = await new Promise((resolve, reject) =>
    http
      .get(`http://127.0.0.1:${haproxy.port}/orders`, { agent }, (res) => {
        const socket = res.socket;
        res.resume();
        res.on('end', () => resolve(socket));
      })
      .on('error', reject),
  );
  // Node 24 and 26's pool guard destroys the socket at that end without an error, and the kernel,
  // asked then, has forgotten the connection (the RST behind the FIN): that was read as a reset.
  await once(pooled, 'close');
  await delay(200);
  // (HAProxy's drop of its server connection is the server side's, the next test's.)
  assert.deepEqual(cap.events.filter((x) => x.direction === 'client').map(brief), []);
});

test('HAProxy drops its server connection when its client goes, with an RST: the Node side reads idle, hint idle_reset, nothing lost', {
  timeout: 30000,
}, async (t) => {
  const { port, haproxy } = await okBehindHaproxy(t);
  for (let i = 0; i < 3; i++) {
    const status = await new Promise((resolve, reject) =>
      http
        .get(`http://127.0.0.1:${haproxy.port}/orders`, { agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        })
        .on('error', reject),
    );
    assert.equal(status, 200);
  }
  const mine = (x) => x.direction === 'server' && x.localPort === port;
  await cap.next(mine);
  await delay(300);
  const events = cap.events.filter(mine);
  assert.ok(events.length >= 1 && events.length <= 3, `${events.length} events`);
  for (const e of events) {
    assert.deepEqual([e.phase, e.errorType, e.request, e.hint?.id], ['idle', 'ECONNRESET', undefined, 'idle_reset']);
    assert.match(e.hint.text, /^the client reset this idle keep-alive connection with no request in flight: nothing was lost/);
  }
});

test("HAProxy's TLS health checks (check-ssl) complete the handshake and reset: an HTTPS and a raw TLS server read idle_reset naming a TLS check (or a client rejecting the certificate); none reads tls_handshake, which the TLS alert counts", {
  timeout: 100000,
}, async (t) => {
  const pem = (f) => readFileSync(new URL(`./fixtures/tls/${f}`, import.meta.url));
  const options = { key: pem('key.pem'), cert: pem('cert.pem') };
  const servers = {
    https: https.createServer(options, (_req, res) => res.end('ok')),
    tls: tls.createServer(options, (socket) => socket.on('error', () => {})),
  };
  const ports = {};
  const proxies = [];
  for (const [kind, srv] of Object.entries(servers)) {
    ports[kind] = await listen(srv);
    t.after(() => closeServer(srv));
    const haproxy = await startHaproxy({
      upstreamPort: ports[kind],
      backend: 'option log-health-checks',
      serverOptions: 'check check-ssl verify none inter 100ms',
    });
    t.after(() => haproxy.stop());
    proxies.push(haproxy);
  }
  // The client's last handshake message and its RST read in one go are an end of input, no event
  // (docs/hidden-rst.md); a share of the checks is read as the RST: ten a second until each server has one.
  const of = (kind) => (x) => x.direction === 'server' && x.localPort === ports[kind];
  await Promise.all(Object.keys(servers).map((kind) => cap.next(of(kind), 80000)));
  for (const haproxy of proxies) assert.match(haproxy.log(), /Health check for server app\/app succeeded, reason: Layer6 check passed/);
  for (const [kind, phase] of [
    ['https', 'idle'],
    ['tls', 'established'],
  ]) {
    for (const e of cap.events.filter(of(kind))) {
      assert.deepEqual(
        [e.phase, e.errorType, e.tls, e.bytesReceived, e.bytesSent, e.request, e.hint?.id],
        [phase, 'ECONNRESET', true, 0, 0, undefined, 'idle_reset'],
        `${kind}: ${JSON.stringify({ ...e, context: undefined })}`,
      );
      assert.match(
        e.hint.text,
        /^the client completed the TLS handshake and reset the connection without sending (a request|any data)\. A TLS health check does this .*a client that rejected this server's certificate/,
      );
    }
  }
});
