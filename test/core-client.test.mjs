// Client-side resets, one test per phase: every attribute of the event is asserted.
import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { loadAgent, capture, listen, closeServer, delay, dualLookup, holdLoop, TLS, UV_HIDES_RST } from './helpers/resets.mjs';
import { withAndWithout, runNode, AGENT, fixture, resetLines, describeRun, ROOT, python } from './helpers/subprocess.mjs';
import { checkEvent, any, dialled, readAbort, readReset, otherSideClosed, http2Moved } from './helpers/check-event.mjs';

const require = createRequire(import.meta.url);
const { toAttributes } = require(`${ROOT}/dist/exporters/shared/attributes.js`);
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

let cap;
before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const { onReset } = await loadAgent();
  cap = capture(onReset);
});
// Ports are reused between tests: match only events of the current test.
beforeEach(() => cap.clear());
after(() => cap.stop());

const TRACE = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
const inSpan = (fn) => context.with(trace.setSpanContext(context.active(), TRACE), fn);
const client = (port) => (e) => e.direction === 'client' && e.serverPort === port;
/** A connect to 127.0.0.1:port refused: the event's fields, with `more` besides or instead. */
const refusedAt = (port, more) => ({
  time: any.recent,
  direction: 'client',
  errorType: 'ECONNREFUSED',
  code: 'ECONNREFUSED',
  syscall: 'connect',
  phase: 'connect',
  peerAddress: '127.0.0.1',
  peerPort: port,
  serverAddress: '127.0.0.1',
  serverPort: port,
  localAddress: (v) => v === undefined || any.loopback(v),
  localPort: (v) => v === undefined || any.port(v),
  tls: false,
  bytesReceived: 0,
  bytesSent: 0,
  connectionAgeMs: any.nonNegative,
  idleMs: any.nonNegative,
  retry: 'safe',
  fatal: false,
  hint: (h) => h.id === 'upstream_down',
  ...more,
});

test('connect: ECONNREFUSED from a closed port', async () => {
  const probe = net.createServer();
  const port = await listen(probe);
  await closeServer(probe);
  const sock = inSpan(() => net.connect(port, '127.0.0.1'));
  sock.on('error', () => {});
  const e = await cap.next(client(port));
  checkEvent(
    e,
    refusedAt(port, {
      message: `connect ECONNREFUSED 127.0.0.1:${port}`,
      protocol: 'unknown',
      traceId: TRACE.traceId,
      spanId: TRACE.spanId,
    }),
  );
});

test('connect: a server that closes its listener with the connection still in its accept queue resets it: accept_reset, safe', async (t) => {
  // The kernel completes the handshake while the server's loop is held (until the connect is made);
  // the server then closes its listener without accepting (a restart without drain), and the kernel
  // resets every connection left in the queue. This loop is held until then, so the RST comes with
  // the connect's result.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-queue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const connected = path.join(dir, 'connected');
  const closed = path.join(dir, 'closed');
  const server = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('fs');
      const srv = require('net').createServer().listen(0, '127.0.0.1', () => {
        process.stdout.write(srv.address().port + '\\n');
        const nap = new Int32Array(new SharedArrayBuffer(4));
        for (let i = 0; i < 2000 && !fs.existsSync(${JSON.stringify(connected)}); i++) Atomics.wait(nap, 0, 0, 5);
        srv.close(); // closes the listening socket now
        fs.writeFileSync(${JSON.stringify(closed)}, '');
      });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = once(server, 'exit');
  const [line] = await once(server.stdout, 'data');
  const port = Number(String(line).trim());
  const failed = new Promise((resolve) => {
    http.get(`http://127.0.0.1:${port}/`, () => resolve('answered')).on('error', (err) => resolve(`${err.code} ${err.syscall}`));
    setImmediate(() => {
      writeFileSync(connected, ''); // the connect is made: the server may close
      holdLoop(() => existsSync(closed)); // busy until the listener is closed
    });
  });
  assert.equal(await failed, 'ECONNRESET connect');
  await exited;
  const e = await cap.next(client(port));
  checkEvent(e, {
    ...refusedAt(port, { errorType: 'ECONNRESET', code: 'ECONNRESET', message: `connect ECONNRESET 127.0.0.1:${port}` }),
    protocol: 'http/1.1',
    reusedSocket: false,
    request: (r) => r.method === 'GET',
    hint: (h) =>
      h.id === 'accept_reset' &&
      /a listener closed, or a process that exited, with the connection still waiting in its accept queue/.test(h.text),
  });
});

test('connect: a refused connection reads http/1.1 alike for node:http, fetch and undici', async () => {
  // One upstream down: node:http's refusal said http/1.1 (its request is on the socket), fetch's
  // and undici's said unknown (no request bound yet), splitting resetwatch_protocol in two
  // (accounting and streams trials).
  const probe = net.createServer();
  const port = await listen(probe);
  await closeServer(probe);
  const { request } = require('undici');
  const url = `http://127.0.0.1:${port}/`;
  await new Promise((r) => http.get(url, r).on('error', r));
  await fetch(url).catch(() => {});
  await request(url).catch(() => {});
  // A raw socket to the same port right after undici's dial is no HTTP.
  net.connect(port, '127.0.0.1').on('error', () => {});
  for (let i = 0; i < 200 && cap.events.filter(client(port)).length < 4; i++) await delay(10);
  assert.deepEqual(
    cap.events.filter(client(port)).map((e) => [e.phase, e.errorType, e.protocol, e.retry, e.hint?.id]),
    [
      ...Array(3).fill(['connect', 'ECONNREFUSED', 'http/1.1', 'safe', 'upstream_down']),
      ['connect', 'ECONNREFUSED', 'unknown', 'safe', 'upstream_down'],
    ],
  );
});

test('connect: a host name with IPv6 and IPv4 addresses, both refused (happy eyeballs), is one refusal naming the last address tried', async () => {
  // Node tries each address of the name (autoSelectFamily, the default) and destroys the socket
  // with one AggregateError, no syscall: it was no event at all (clients trial), for most cloud
  // names and `localhost`. A name with one address names its peer from the error too (it had none).
  const probe = net.createServer();
  const port = await listen(probe);
  await closeServer(probe);
  const dual = dualLookup;
  const single = (_host, opts, cb) => (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
  const errors = [];
  for (const lookup of [dual, single])
    errors.push(await new Promise((r) => http.get({ host: 'upstream.test', port, lookup, agent: false }, r).on('error', r)));
  assert.deepEqual(
    errors.map((e) => [e.name, e.code, e.syscall]),
    [
      ['AggregateError', 'ECONNREFUSED', undefined],
      ['Error', 'ECONNREFUSED', 'connect'],
    ],
    'what Node reports',
  );
  for (let i = 0; i < 200 && cap.events.filter(client(port)).length < 2; i++) await delay(10);
  const [both, one] = cap.events.filter(client(port));
  const refused = refusedAt(port, {
    serverAddress: 'upstream.test',
    protocol: 'http/1.1',
    request: (r) => r.method === 'GET' && r.host === 'upstream.test',
    reusedSocket: false,
  });
  checkEvent(both, {
    ...refused,
    message: `connect ECONNREFUSED 127.0.0.1:${port} (2 addresses tried: ::1 ECONNREFUSED, 127.0.0.1 ECONNREFUSED)`,
  });
  checkEvent(one, { ...refused, message: `connect ECONNREFUSED 127.0.0.1:${port}` });

  // The same name, its IPv4 address listening: Node's fallback succeeds, the refused ::1 is no event.
  const server = http.createServer((req, res) => (req.url === '/reset' ? req.socket.resetAndDestroy() : res.end('ok')));
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const status = await new Promise((r) =>
    http.get({ host: 'upstream.test', port, lookup: dual, agent: false }, (res) => r(res.resume().statusCode)),
  );
  assert.equal(status, 200);
  await delay(100);
  assert.equal(cap.events.filter(client(port)).length, 2, 'no event for a fallback that connected');
  // A reset there names the address that connected, which Node lists last on the socket (the
  // kernel has forgotten the peer by then).
  await new Promise((r) => http.get({ host: 'upstream.test', port, lookup: dual, agent: false, path: '/reset' }, r).on('error', r));
  for (let i = 0; i < 200 && cap.events.filter(client(port)).length < 3; i++) await delay(10);
  const reset = cap.events.filter(client(port))[2];
  assert.deepEqual([reset?.phase, reset?.peerAddress, reset?.peerPort], ['response', '127.0.0.1', port], JSON.stringify(reset));
  await closeServer(server);
});

test('connect: happy eyeballs passes over an attempt that failed on this host (no IPv6 route): the refused one is the event', () => {
  // In a network namespace with only loopback up: 127.0.0.1 refuses, 2001:db8::1 has no route
  // (ENETUNREACH, no packet leaves). Its SYN never left, so the refusal is the answer (re-trial:
  // taking the last attempt read nothing, on hosts with IPv6 addresses but no IPv6 route).
  const code = `
const http = require('node:http');
require(${JSON.stringify(ROOT)}).onReset((e) => console.log(JSON.stringify(['event', e.errorType, e.phase, e.peerAddress, e.message])));
const lookup = (_h, o, cb) => o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }, { address: '2001:db8::1', family: 6 }]) : cb(null, '127.0.0.1', 4);
http.get({ host: 'v4v6.test', port: 8080, lookup, agent: false }).on('error', (e) => console.log(JSON.stringify(['app', e.code, e.errors.map((x) => x.code)])));
`;
  const out = execFileSync(
    'unshare',
    ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, '--require', ROOT, '-e', code],
    {
      env: { ...process.env, RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'off' },
      encoding: 'utf8',
    },
  );
  assert.deepEqual(
    out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [
      [
        'event',
        'ECONNREFUSED',
        'connect',
        '127.0.0.1',
        'connect ECONNREFUSED 127.0.0.1:8080 (2 addresses tried: 127.0.0.1 ECONNREFUSED, 2001:db8::1 ENETUNREACH)',
      ],
      ['app', 'ECONNREFUSED', ['ECONNREFUSED', 'ENETUNREACH']],
    ],
  );
});

/** A client event on a connection to 127.0.0.1:port, in `phase`. */
const clientIn = (port, phase) => ({ time: any.recent, direction: 'client', phase, ...dialled(port) });

/** A raw TLS client's connection cut in its handshake: nothing moved, a retry is safe. */
const handshakeCut = (port) => ({
  ...clientIn(port, 'tls_handshake'),
  tls: true,
  bytesReceived: 0,
  bytesSent: 0,
  connectionAgeMs: any.nonNegative,
  idleMs: any.nonNegative,
  retry: 'safe',
  protocol: 'unknown',
  fatal: false,
});

test('tls_handshake: the server resets the ClientHello', async () => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  const sock = tls.connect({ port, host: '127.0.0.1', servername: 'api.example.test' });
  sock.on('error', () => {});
  const e = await cap.next(client(port));
  checkEvent(e, {
    ...handshakeCut(port),
    ...readReset,
    hint: (h) => h.id === 'tls_mismatch' && /failed or was overloaded mid-handshake/.test(h.text),
  });
  await closeServer(server);
});

test('tls_handshake: this host aborts the handshake (ss -K): local_abort, not the handshake hint that blames the peer', async () => {
  // A trial of TLS failures: ss -K (or a CNI destroying sockets) mid-handshake read tls_mismatch,
  // "the peer dropped the connection", on both Node 20 and 24.
  const server = net.createServer((s) => s.on('data', () => {}).on('error', () => {})); // takes the ClientHello, never answers
  const port = await listen(server);
  const sock = tls.connect({ port, host: '127.0.0.1', servername: 'api.example.test' });
  const seen = [];
  sock.on('error', (err) => seen.push(err.code));
  sock.on('connect', async () => {
    await delay(50);
    execFileSync('ss', ['-K', 'src', '127.0.0.1', 'sport', '=', `:${sock.localPort}`, 'dport', '=', `:${port}`]);
  });
  const e = await cap.next(client(port));
  assert.deepEqual(seen, ['ECONNABORTED'], 'what Node reports');
  checkEvent(e, { ...handshakeCut(port), ...readAbort, hint: (h) => h.id === 'local_abort' });
  await closeServer(server);
});

test('tls_handshake: an https request queued behind the handshake counts no bytes sent', async () => {
  // Node's bytesWritten counts the request the app wrote before the handshake finished; none of it
  // can have left (a trial read "67 B written" for fetch and got).
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  const req = https.request({ port, host: '127.0.0.1', method: 'POST', servername: 'api.example.test' });
  req.on('error', () => {});
  req.end('a body written at once');
  const e = await cap.next(client(port));
  assert.equal(e.phase, 'tls_handshake');
  assert.equal(e.bytesSent, 0);
  assert.equal(e.bytesReceived, 0);
  await closeServer(server);
});

test('established: raw TCP, the server resets after a few bytes each way', async () => {
  // The reset comes 30 ms after the client read the server's bytes (both ends in this process:
  // timed from the server's write, a stalled loop could read the bytes and the RST in one poll).
  let accepted;
  const server = net.createServer((s) =>
    s.once('data', () => {
      accepted = s;
      s.write('abc');
    }),
  );
  const port = await listen(server);
  const sock = inSpan(() => net.connect(port, '127.0.0.1', () => sock.write('hello')));
  sock.on('error', () => {});
  sock.once('data', () => setTimeout(() => accepted.resetAndDestroy(), 30));
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'established',
    ...dialled(port),
    tls: false,
    bytesReceived: 3,
    bytesSent: 5,
    connectionAgeMs: (v) => v >= 25,
    idleMs: (v) => v >= 15 && v <= e.connectionAgeMs,
    retry: 'unknown',
    protocol: 'unknown',
    fatal: false,
    traceId: TRACE.traceId,
    spanId: TRACE.spanId,
  });
  await closeServer(server);
});

test('established over TLS: reset after the handshake carries the TLS version', async () => {
  // resetAndDestroy() needs the TCP socket under the TLSSocket.
  const raw = [];
  const server = tls.createServer({ ...TLS }, (s) => {
    s.write('hi');
    setTimeout(() => raw.shift().resetAndDestroy(), 30);
  });
  server.on('connection', (s) => raw.push(s));
  const port = await listen(server);
  const sock = tls.connect({ port, host: 'localhost', ca: TLS.cert });
  sock.on('error', () => {});
  sock.on('data', () => {});
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'established',
    peerAddress: (v) => v === undefined || any.loopback(v),
    peerPort: (v) => v === undefined || v === port,
    serverAddress: 'localhost',
    serverPort: port,
    localAddress: any.loopback,
    localPort: any.port,
    tls: true,
    tlsVersion: 'TLSv1.3',
    bytesReceived: 2,
    bytesSent: 0,
    connectionAgeMs: any.positive,
    idleMs: any.nonNegative,
    retry: 'unknown',
    protocol: 'unknown',
    fatal: false,
  });
  await closeServer(server);
});

test('request: the server resets while the client is still sending the body', async () => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  const req = inSpan(() => http.request({ port, host: '127.0.0.1', method: 'POST' }));
  req.on('error', () => {});
  req.write('first part of a body that never ends');
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'request',
    ...dialled(port),
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: 0,
    bytesSent: any.positive,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'unsafe',
    fatal: false,
    request: { method: 'POST', host: '127.0.0.1' },
    reusedSocket: false,
    // The request never ended, so Node never published its start: the connect's context is used.
    traceId: TRACE.traceId,
    spanId: TRACE.spanId,
  });
  await closeServer(server);
});

test('request: an upload the server resets after its first chunk reads `request` for node:http, fetch and undici alike', async () => {
  // undici says `bodySent` once it has handed the body to the socket; a body 4 MiB larger than
  // the kernel's largest send buffer cannot have left (the server reads one chunk, so its receive
  // window stays small), and the reset meets its write or its queue (SDKs trial: fetch read
  // `response`, node:http `request`). A 4 MiB body could, where tcp_wmem's maximum is 4 MiB: all
  // of it in the send buffer by the time a busy server read its first chunk.
  const server = http.createServer((req) => req.once('data', () => req.socket.resetAndDestroy()));
  const port = await listen(server);
  const sendBufferMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
  const body = Buffer.alloc(sendBufferMax + (4 << 20), 'x');
  const viaHttp = new Promise((r) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/bulk' }, r);
    req.on('error', r);
    req.end(body);
  });
  await viaHttp;
  await fetch(`http://127.0.0.1:${port}/bulk`, { method: 'POST', body }).catch(() => {});
  // undici's own request() writes a Buffer body at once (as the Elasticsearch client does).
  await require('undici')
    .request(`http://127.0.0.1:${port}/bulk`, { method: 'POST', body })
    .catch(() => {});
  for (let i = 0; i < 200 && cap.events.filter(client(port)).length < 3; i++) await delay(10);
  const events = cap.events.filter(client(port));
  assert.deepEqual(
    events.map((e) => [e.phase, e.errorType, e.request?.method, e.bytesReceived]),
    [
      ['request', 'ECONNRESET', 'POST', 0],
      ['request', 'ECONNRESET', 'POST', 0],
      ['request', 'ECONNRESET', 'POST', 0],
    ],
    JSON.stringify(events),
  );
  await closeServer(server);
});

test('response: the server resets in the middle of the response body', async () => {
  const server = http.createServer((req, res) => {
    res.write('partial');
    setTimeout(() => req.socket.resetAndDestroy(), 30);
  });
  const port = await listen(server);
  const req = inSpan(() =>
    http.get({ port, host: '127.0.0.1', path: '/secret?token=x' }, (res) => {
      res.resume();
      res.on('error', () => {});
    }),
  );
  req.on('error', () => {});
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'response',
    ...dialled(port),
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: any.positive,
    bytesSent: any.positive,
    connectionAgeMs: any.positive,
    idleMs: any.nonNegative,
    retry: 'unsafe',
    fatal: false,
    request: (r) => r.method === 'GET' && r.host === '127.0.0.1' && r.ageMs >= 25 && Object.keys(r).length === 3,
    reusedSocket: false,
    traceId: TRACE.traceId,
    spanId: TRACE.spanId,
  });
  assert.ok(!JSON.stringify(e.request).includes('secret'), 'no path in the event');
  await closeServer(server);
});

test('response: peer FIN while waiting is peer_closed ("socket hang up"), not ECONNRESET', async () => {
  const server = net.createServer((s) => s.once('data', () => s.end()));
  const port = await listen(server);
  const req = http.get({ port, host: 'localhost' });
  const appError = new Promise((r) => req.on('error', r));
  const e = await cap.next(client(port));
  assert.equal((await appError).message, 'socket hang up');
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    errorType: 'peer_closed',
    code: 'ECONNRESET',
    message: 'socket hang up',
    syscall: undefined,
    phase: 'response',
    peerAddress: any.loopback,
    peerPort: port,
    serverAddress: 'localhost',
    serverPort: port,
    localAddress: any.loopback,
    localPort: any.port,
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: 0,
    bytesSent: any.positive,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'unsafe',
    fatal: false,
    request: (r) => r.method === 'GET' && r.host === 'localhost' && r.ageMs >= 0,
    reusedSocket: false,
  });
  await closeServer(server);
});

test('response over TLS: peer FIN while waiting ("socket hang up") carries the TLS version', async () => {
  // The hang-up is published before the socket's _destroy, without its snapshot: the version is
  // read from the handle, still open (the TLS trial's mTLS rejection read no version).
  const server = tls.createServer({ ...TLS }, (s) => s.once('data', () => s.end()));
  const port = await listen(server);
  const req = https.get({ port, host: 'localhost', ca: TLS.cert });
  const appError = new Promise((r) => req.on('error', r));
  const e = await cap.next(client(port));
  assert.equal((await appError).message, 'socket hang up');
  assert.equal(e.errorType, 'peer_closed');
  assert.equal(e.phase, 'response');
  assert.equal(e.tls, true);
  assert.equal(e.tlsVersion, 'TLSv1.3');
  await closeServer(server);
});

// The server's last bytes and its RST (or FIN) both wait when the client's event loop next polls
// (here: sent in one tick of this process; in production: a client loop busy or descheduled for
// a moment). libuv before 1.52 (Node 20, 22) then reads the bytes and reports EOF without reading
// the RST's ECONNRESET, so Node reports a FIN ("aborted"); the kernel knows it was a reset. Newer
// libuv (Node 24, 26) reads on to the error: there the same event comes the usual way.
test('response: bytes and an RST read in one poll are ECONNRESET; bytes and a FIN are peer_closed', async () => {
  for (const close of ['resetAndDestroy', 'end']) {
    cap.clear();
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
        s[close]();
      });
    });
    const port = await listen(server);
    const appError = new Promise((resolve) => {
      const req = http.get({ port, host: '127.0.0.1' }, (res) => {
        res.resume();
        res.on('error', resolve);
      });
      req.on('error', resolve);
    });
    const e = await cap.next(client(port));
    const seen = close === 'end' || UV_HIDES_RST ? 'aborted' : 'read ECONNRESET';
    assert.equal((await appError).message, seen, `${close}: what Node reports`);
    const how = close === 'end' ? { errorType: 'peer_closed', code: 'ECONNRESET', message: 'aborted', syscall: undefined } : readReset;
    checkEvent(e, {
      time: any.recent,
      direction: 'client',
      ...how,
      phase: 'response',
      ...dialled(port),
      tls: false,
      protocol: 'http/1.1',
      bytesReceived: 47,
      bytesSent: any.positive,
      connectionAgeMs: any.nonNegative,
      idleMs: any.nonNegative,
      retry: 'unsafe',
      fatal: false,
      request: (r) => r.method === 'GET' && r.host === '127.0.0.1' && r.ageMs >= 0,
      reusedSocket: false,
    });
    await closeServer(server);
  }
});

// Over TLS too: the TLSSocket's handle passes getpeername on to the TCP handle under it.
test('response over TLS: bytes and an RST read in one poll are ECONNRESET', async () => {
  const raw = [];
  const server = tls.createServer({ ...TLS }, (s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      raw.shift().resetAndDestroy();
    });
  });
  server.on('connection', (s) => raw.push(s));
  const port = await listen(server);
  const appError = new Promise((resolve) => {
    const req = https.get({ port, host: 'localhost', ca: TLS.cert }, (res) => {
      res.resume();
      res.on('error', resolve);
    });
    req.on('error', resolve);
  });
  const e = await cap.next(client(port));
  assert.equal((await appError).message, UV_HIDES_RST ? 'aborted' : 'read ECONNRESET');
  assert.deepEqual(
    [e.errorType, e.code, e.message, e.syscall, e.phase, e.tls],
    ['ECONNRESET', 'ECONNRESET', 'read ECONNRESET', 'read', 'response', true],
  );
  await closeServer(server);
});

// The same for a raw TCP client (and the database clients on it: diagnosis-pools): Node reports no
// error, the socket just ends; newer libuv reads on to the RST. A FIN there is no event, and so is
// the race the kernel cannot tell from it: a write of this side draws the RST of a peer that had
// sent its last bytes and closed, and the first poll after that write reads them and the end —
// also when the loop stalls between that write and that poll (then the bytes look like an answer
// that took a while).
// 'answered reset': the client writes, and the server's last bytes and RST come before its next
// poll, which reads them as the first read since that write, as in each race (the write reaches a
// closed socket, whose kernel answers with an RST after its FIN); one more read tells them apart
// (agent/next-read.ts: the end after a FIN, ECONNRESET after a bare RST).
test('established: raw TCP, bytes and an RST read in one poll are ECONNRESET; bytes and a FIN are no event', async () => {
  for (const close of ['resetAndDestroy', 'answered reset', 'end', 'race', 'stalled race']) {
    cap.clear();
    let sock;
    const server = net.createServer((s) => {
      s.on('error', () => {});
      const last = () => {
        if (close === 'answered reset') sock.write('next');
        s.write('bye');
        if (close.endsWith('race')) {
          s.destroy();
          sock.write('next'); // reaches a closed socket: its kernel answers with an RST
        } else s[close === 'answered reset' ? 'resetAndDestroy' : close]();
      };
      s.once('data', () => {
        s.write('abc');
        // Later, unprompted: its last bytes, then its close, in one tick.
        if (close !== 'stalled race') setTimeout(last, 100);
        // In the poll phase (the client's 'go'), and the loop stalls before the next one.
        else
          s.once('data', () => {
            last();
            setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100));
          });
      });
    });
    const port = await listen(server);
    sock = net.connect(port, '127.0.0.1', () => sock.write('hello'));
    if (close === 'stalled race') setTimeout(() => sock.write('go'), 100);
    const seen = [];
    sock.on('error', (err) => seen.push(err.message));
    sock.on('data', () => {});
    sock.on('end', () => seen.push('end'));
    await new Promise((r) => sock.on('close', r));
    const reset = close.endsWith('reset') || close === 'resetAndDestroy';
    assert.deepEqual(seen, reset && !UV_HIDES_RST ? ['read ECONNRESET'] : ['end'], `${close}: what Node reports`);
    if (reset) {
      const e = await cap.next(client(port));
      const answered = close === 'answered reset';
      checkEvent(e, {
        time: any.recent,
        direction: 'client',
        ...readReset,
        phase: 'established',
        ...dialled(port),
        tls: false,
        bytesReceived: 6,
        bytesSent: answered ? 9 : 5,
        connectionAgeMs: (v) => v >= 95,
        // Since the exchange before: what moved in the reset's clock step (the client's own write,
        // when answered) counts with the reset (event.ts idleMs).
        idleMs: (v) => v >= 50 && v <= e.connectionAgeMs,
        retry: 'unknown',
        protocol: 'unknown',
        fatal: false,
      });
    } else {
      await delay(200);
      assert.deepEqual(cap.events.filter(client(port)), [], `${close}: a FIN is no event`);
    }
    await closeServer(server);
  }
});

// The kernel is asked with one more read (agent/next-read.ts), never a write: a write failing with
// EPIPE (the race) would raise SIGPIPE, which Node ignores only until an app listens for it; one
// that listened and stopped is left with the default action, death. Nor on TLS, whose socket
// writes its close_notify as it ends: that write fails with EPIPE once the read took the pending
// error. There, on Node 20 and 22, the answered reset stays the end of input Node reports. The
// read goes to fs.readSync as it was when the hooks loaded, not through the app's later wrapper.
test('an app that listens or listened for SIGPIPE is never sent one by the question that tells an answered reset from a race, on TCP or TLS', async () => {
  const lines = (run) =>
    run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  for (const mode of [[], ['listen'], ['listened']]) {
    const run = await runNode([...AGENT, fixture('sigpipe-peers.cjs'), ...mode], { env: { RESETWATCH_LOG: 'off' } });
    assert.equal(run.code, 0, `${mode}: ${describeRun(run)}`);
    assert.equal(run.signal, null, `${mode}`);
    assert.deepEqual(lines(run), [
      { shape: 'answered reset', events: ['client ECONNRESET'] },
      { shape: 'race', events: [] },
      { shape: 'tls client', events: UV_HIDES_RST ? [] : ['client ECONNRESET'] },
      { shape: 'tls server', events: ['server ECONNRESET'] },
      { signals: 0, appReads: 0 },
    ]);
  }
});

/**
 * A python3 peer on a free loopback port that accepts one connection as `c` and runs `lines`
 * (python) on it. Resolves with its port once it listens, and `exited`; killed after 10 s.
 */
function pythonPeer(lines) {
  const code = `
import socket, struct, sys, time
l = socket.socket()
l.bind(('127.0.0.1', 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
${lines.join('\n')}
`;
  const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  const exited = new Promise((r) => child.on('exit', () => r(clearTimeout(timer))));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.stdout.once('data', (d) => resolve({ port: Number(String(d).trim()), exited }));
  });
}

/**
 * A python3 peer that leaves part of what the client sent unread, so that its close() sends an RST
 * after its FIN: it reads 5 bytes, sends `first` ('abc' unless given), 100 ms later `finish`
 * (python lines), then closes.
 */
function unreadPeer(finish, first = 'abc') {
  return pythonPeer([
    'c.recv(5)',
    `c.sendall(${JSON.stringify(first)}.encode())`,
    'time.sleep(0.1)',
    ...finish,
    'c.close()',
    'time.sleep(0.5)',
  ]);
}

// A FIN, then an RST (the peer closes with the client's bytes unread): Node reads the end of input
// as a plain end on every libuv (the kernel's recv reports the FIN before the error), though the
// kernel has forgotten the peer by the time the client ends. The last bytes were read in an earlier
// poll than the end: no RST hid behind them, no event.
test('established: raw TCP, a FIN then an RST read after the last bytes is no event', async () => {
  cap.clear();
  const peer = await unreadPeer(["c.sendall(b'bye')", 'time.sleep(0.3)', 'c.shutdown(socket.SHUT_WR)']);
  const sock = net.connect(peer.port, '127.0.0.1', () => sock.write('helloworld'));
  const seen = [];
  sock.on('error', (err) => seen.push(err.message));
  sock.on('data', () => {});
  sock.on('end', () => seen.push('end'));
  await new Promise((r) => sock.on('close', r));
  assert.deepEqual(seen, ['end'], 'what Node reports');
  await delay(200);
  assert.deepEqual(cap.events.filter(client(peer.port)), [], 'a FIN then an RST is no event');
  await peer.exited;
});

// The same peer's last bytes, FIN and RST all waiting for one poll (the client's loop blocked in a
// timer meanwhile): libuv before 1.52 reads the bytes and reports an end of input, as it does for
// bytes and a bare RST, and getpeername fails after both. Node 24 reads the FIN before the error:
// a plain end. One more read (agent/next-read.ts) returns that end here too.
test('established: raw TCP, bytes, a FIN and an RST read in one poll are no event, as Node 24 reads them', async () => {
  cap.clear();
  const peer = await unreadPeer(["c.sendall(b'bye')", 'c.shutdown(socket.SHUT_WR)']);
  const sock = net.connect(peer.port, '127.0.0.1', () => sock.write('helloworld'));
  const seen = [];
  sock.on('error', (err) => seen.push(err.message));
  sock.once('data', () => setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300), 20));
  sock.on('data', (d) => seen.push(String(d)));
  sock.on('end', () => seen.push('end'));
  await new Promise((r) => sock.on('close', r));
  assert.deepEqual(seen, ['abc', 'bye', 'end'], 'what Node reports');
  await delay(200);
  assert.deepEqual(cap.events.filter(client(peer.port)), [], 'a FIN then an RST is no event');
  await peer.exited;
});

// allowHalfOpen: the app ends its side when it chooses, here 300 ms after the peer's last bytes
// and FIN (one segment); the peer's RST came in between (a half-open peer gone). That end of input
// was a FIN: no event.
test('established: raw TCP with allowHalfOpen, an RST after the end of input, before the app ends, is no event', async () => {
  cap.clear();
  const peer = await unreadPeer([
    'c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)',
    "c.sendall(b'bye')",
    'c.shutdown(socket.SHUT_WR)',
    'time.sleep(0.1)',
  ]);
  const sock = net.connect({ port: peer.port, host: '127.0.0.1', allowHalfOpen: true }, () => sock.write('helloworld'));
  const seen = [];
  sock.on('error', (err) => seen.push(err.message));
  sock.on('data', () => {});
  sock.on('end', () => {
    seen.push('end');
    setTimeout(() => sock.end(), 300);
  });
  await new Promise((r) => sock.on('close', r));
  assert.deepEqual(seen, ['end'], 'what Node reports');
  await delay(200);
  assert.deepEqual(cap.events.filter(client(peer.port)), [], 'an RST after a FIN is no event');
  await peer.exited;
});

// The same over HTTP: the server sends the response's headers and part of its body, and 300 ms later
// shuts down its writing and closes with the request unread (a FIN, then its kernel's RST). Node
// reads a plain end ('aborted', "other side closed") on every libuv, and the kernel has forgotten
// the peer by then; but the end came in a later poll than the last bytes: peer_closed, as for a FIN.
const PARTIAL = 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial';
const FIN_THEN_RST = ['time.sleep(0.3)', 'c.shutdown(socket.SHUT_WR)'];

test('response: a FIN then an RST read after part of the body is peer_closed', async () => {
  const peer = await unreadPeer(FIN_THEN_RST, PARTIAL);
  const appError = new Promise((resolve) => {
    const req = http.request({ port: peer.port, host: '127.0.0.1', method: 'POST' }, (res) => {
      res.resume();
      res.on('error', resolve);
    });
    req.on('error', resolve);
    req.end('helloworld');
  });
  assert.equal((await appError).message, 'aborted', 'what Node reports');
  const e = await cap.next(client(peer.port));
  assert.deepEqual(
    [e.errorType, e.code, e.message, e.syscall, e.phase, e.bytesReceived],
    ['peer_closed', 'ECONNRESET', 'aborted', undefined, 'response', 47],
  );
  await peer.exited;
});

test('fetch: a FIN then an RST read after part of the body is peer_closed', async () => {
  const peer = await unreadPeer(FIN_THEN_RST, PARTIAL);
  const err = await fetch(`http://127.0.0.1:${peer.port}/`, { method: 'POST', body: 'helloworld' })
    .then((r) => r.text())
    .catch((x) => x);
  assert.equal(err.cause?.code, 'UND_ERR_SOCKET', 'what undici reports');
  const e = await cap.next(client(peer.port));
  assert.deepEqual(
    [e.errorType, e.code, e.message, e.syscall, e.phase, e.bytesReceived],
    ['peer_closed', 'UND_ERR_SOCKET', 'other side closed', undefined, 'response', 47],
  );
  await peer.exited;
});

// The keep-alive race with a FIN first: the server answers and closes; the next request goes out
// before the client reads that FIN, and the server's kernel answers it with an RST. Node reads
// the FIN (any libuv): "socket hang up". The kernel has forgotten the peer as after a bare RST,
// but no byte of the response was read: a FIN, not a reset hidden behind data.
test("response: a request sent after the server's FIN, reset by its kernel, is peer_closed", async () => {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      s.destroy();
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve) => {
      const req = http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(null));
        res.on('error', resolve);
      });
      req.on('error', resolve);
    });
  // Queued behind the first: written on its socket as that response ends, before the FIN is read.
  const [first, second] = await Promise.all([get(), get()]);
  assert.equal(first, null);
  // Newer Node (22.23, 24, 26 here) sends the queued request on a new connection: no race to look at.
  if (second === null) {
    agent.destroy();
    await closeServer(server);
    return;
  }
  assert.equal(second?.message, 'socket hang up');
  const e = await cap.next(client(port));
  assert.deepEqual(
    [e.errorType, e.code, e.message, e.syscall, e.bytesReceived],
    ['peer_closed', 'ECONNRESET', 'socket hang up', undefined, 40],
  );
  agent.destroy();
  await closeServer(server);
});

/** An idle pooled keep-alive connection of node:http's to 127.0.0.1:port that had served a request. */
const idlePooled = (port) => ({
  ...clientIn(port, 'idle'),
  tls: false,
  protocol: 'http/1.1',
  bytesReceived: any.positive,
  bytesSent: any.positive,
  connectionAgeMs: (v) => v >= 45,
  idleMs: any.nonNegative,
  retry: 'unknown',
  fatal: false,
});

test('idle: a pooled connection reset 200 ms after its third exchange was idle 200 ms, on every Node', async () => {
  // Node 22+'s pool guard reads the RST without touching the activity mark: idle read from the
  // exchange before the last, ~300 ms (SDKs trial: AWS SDK, Stripe, node-fetch on Node 22).
  // Bounded by when the server really answered and reset and when the event came (a timer late
  // under load moves both), not by the 200 ms asked for: idle read from the exchange before would
  // add the 100 ms between exchanges.
  let last;
  let answeredAt = 0;
  let resetAt = 0;
  const server = http.createServer((req, res) => {
    res.end('ok');
    answeredAt = performance.now();
    clearTimeout(last);
    const s = req.socket;
    last = setTimeout(() => {
      resetAt = performance.now();
      s.resetAndDestroy();
    }, 200);
  });
  const { e, port, seenAt, readAt } = await pooledThenReset(server, 3);
  // From when the client read the answer (a loop stalled after the server's write reads it later).
  const least = resetAt - Math.max(answeredAt, readAt) - 30;
  const most = seenAt - answeredAt + 10;
  checkEvent(e, { ...idleReset(port, ''), idleMs: (v) => v >= least && v <= most });
});

test('a pooled connection whose answer took 600 ms, reused at once and reset 2 ms after that answer: idle since the answer, not the wait for it', async () => {
  // Answer, next request and RST in one 10 ms clock step left the step before at the first
  // request's write: "idle 2.0 s … pooled 2 ms before reuse" (an SSR trial).
  let first = true;
  const server = http.createServer((req, res) => {
    const wait = first ? 600 : 0;
    first = false;
    setTimeout(() => res.end('ok', () => setTimeout(() => req.socket.resetAndDestroy(), 2)), wait);
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve) => {
      const req = http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now()));
      });
      req.on('error', () => resolve(0));
    });
  const event = cap.next(client(port));
  const readAt = await get();
  await get();
  const e = await event;
  const seenAt = performance.now();
  agent.destroy();
  await closeServer(server);
  assert.ok(e.connectionAgeMs >= 590, JSON.stringify(e));
  assert.ok(e.idleMs <= seenAt - readAt + 10, `idle ${e.idleMs} ms, the answer read ${Math.round(seenAt - readAt)} ms before the event`);
});

/** An idle pooled connection's read RST, its idle_reset text beginning with `text`. */
const idleReset = (port, text) => ({ ...idlePooled(port), ...readReset, hint: (h) => h.id === 'idle_reset' && h.text.startsWith(text) });

/**
 * `exchanges` 100 ms apart through a keep-alive agent to `server`, then the event of its pooled
 * connection's reset, when it came and when the last answer had been read.
 */
async function pooledThenReset(server, exchanges = 1) {
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  let readAt = 0;
  for (let i = 0; i < exchanges; i++) {
    if (i > 0) await delay(100);
    await new Promise((r) =>
      http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          readAt = performance.now();
          r();
        });
      }),
    );
  }
  const e = await cap.next(client(port));
  const seenAt = performance.now();
  agent.destroy();
  await closeServer(server);
  return { e, port, seenAt, readAt };
}

test('idle: the server resets a pooled keep-alive connection', async () => {
  const { e, port } = await pooledThenReset(
    http.createServer((req, res) => {
      res.end('ok');
      const s = req.socket;
      setTimeout(() => s.resetAndDestroy(), 50);
    }),
  );
  // Node's server advertises its 5 s keep-alive timeout: a reset after 50 ms is not that timeout.
  checkEvent(
    e,
    idleReset(
      port,
      `not the server's idle timeout: 127.0.0.1:${port} advertised a 5 s keep-alive timeout, but this pooled connection was reset after idling only 0.`,
    ),
  );
});

test('idle: a pooled connection to a server that advertised no keep-alive timeout, reset: the peer or a middlebox, shorter than the client', async () => {
  const { e, port } = await pooledThenReset(
    net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        setTimeout(() => s.resetAndDestroy(), 50);
      });
    }),
  );
  checkEvent(e, idleReset(port, `127.0.0.1:${port} or a middlebox (load balancer, NAT, firewall) reset an idle pooled connection`));
});

test('idle: a pooled HTTPS connection its server resets (python3 ssl, SO_LINGER 0): the event has the TLS version, and tls.established reads true, on every Node', async () => {
  // Node 22+ swallows the read's error in its pool guard; the event made then had no version (and
  // tls.established, which reads it, would have been false): its snapshot lacked it.
  const py = python(`
import socket, ssl, struct, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(${JSON.stringify(path.join(ROOT, 'test/fixtures/tls/cert.pem'))}, ${JSON.stringify(path.join(ROOT, 'test/fixtures/tls/key.pem'))})
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1); print(l.getsockname()[1], flush=True)
c, _ = l.accept(); t = ctx.wrap_socket(c, server_side=True)
t.recv(65536); t.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok')
time.sleep(0.1)
t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); t.close()
time.sleep(0.5)
`);
  const port = Number(await py.line);
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  await new Promise((r) =>
    https.get({ port, host: '127.0.0.1', agent }, (res) => {
      res.resume();
      res.on('end', r);
    }),
  );
  const e = await cap.next(client(port));
  agent.destroy();
  await py.done;
  checkEvent(e, { ...idlePooled(port), ...readReset, tls: true, tlsVersion: 'TLSv1.3', hint: (h) => h.id === 'idle_reset' });
  assert.equal(toAttributes(e)['tls.established'], true);
});

test('idle: this host aborts a pooled keep-alive connection (ss -K): ECONNABORTED, local_abort, on every Node', async () => {
  // Node 22+ keeps an idle pooled socket behind a read guard that destroys it without an error
  // for any read result: the errno (ECONNABORTED here) is read from the guard's read (accounting
  // trial: it read ECONNRESET, idle_reset, blaming the peer, on Node 22, 24 and 26).
  const server = http.createServer((_req, res) => res.end('ok'));
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  const local = await new Promise((r) =>
    http.get({ port, host: '127.0.0.1', agent }, (res) => {
      const localPort = res.socket.localPort;
      res.resume();
      res.on('end', () => r(localPort));
    }),
  );
  await delay(50);
  execFileSync('ss', ['-K', 'src', '127.0.0.1', 'sport', '=', `:${local}`, 'dport', '=', `:${port}`]);
  const e = await cap.next(client(port));
  checkEvent(e, { ...idlePooled(port), ...readAbort, hint: (h) => h.id === 'local_abort' });
  agent.destroy();
  await closeServer(server);
});

// Bytes waiting and this host's abort behind them, read in one poll: libuv before 1.52 reports an
// end of input and Node never reads the pending ECONNABORTED (a trial of ssh2 and raw downloads cut
// by `ss -K`: half of them were no event). The agent's read after it finds the abort; 1.52 reads
// it itself and Node reports the error.
test('raw TCP: this host aborts a download (ss -K) behind bytes waiting, one poll: ECONNABORTED, local_abort, never lost', async () => {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.write(Buffer.alloc(256 * 1024));
  });
  const port = await listen(server);
  const seen = [];
  const c = net.connect(port, '127.0.0.1');
  c.pause(); // Node reads up to its buffer's mark and stops: the rest waits in the kernel
  c.on('error', (err) => seen.push(err.message));
  c.on('end', () => seen.push('end'));
  c.on('connect', async () => {
    await delay(50);
    execFileSync('ss', ['-K', 'src', '127.0.0.1', 'sport', '=', `:${c.localPort}`, 'dport', '=', `:${port}`]);
    c.on('data', () => {});
    c.resume();
  });
  const e = await cap.next(client(port));
  assert.deepEqual(seen, UV_HIDES_RST ? ['end'] : ['read ECONNABORTED'], 'what Node reports');
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    phase: 'established',
    ...dialled(port),
    tls: false,
    protocol: 'unknown',
    ...readAbort,
    bytesReceived: any.positive,
    bytesSent: 0,
    connectionAgeMs: any.positive,
    idleMs: any.nonNegative,
    retry: 'unknown',
    fatal: false,
    hint: (h) => h.id === 'local_abort',
  });
  await closeServer(server);
});

for (const flag of ['--pending-deprecation', '--pending_deprecation']) {
  test(`the same abort under ${flag} --throw-deprecation: no DEP0111 from the agent, no crash (it does not ask process.binding there)`, async () => {
    // The re-trial: the underscore spelling (and a config file) slipped past a check of the flag's
    // text, and --throw-deprecation made the warning a crash.
    const args = [flag, '--throw-deprecation'];
    const { plain, agent } = await withAndWithout([...args, fixture('app-idle-abort.cjs')], {
      agentArgs: [...args, '--require', 'resetwatch'],
    });
    assert.equal(plain.code, 0, describeRun(plain));
    assert.equal(agent.code, 0, describeRun(agent));
    assert.equal(agent.stdout, plain.stdout);
    assert.doesNotMatch(agent.stderr, /DEP0111/, describeRun(agent));
    // Where the errno cannot be read, the client's event is still there (read as before, an RST);
    // the server's end of the connection, in the same process, hears the RST the abort sent.
    const lines = resetLines(agent.stderr);
    assert.deepEqual(lines.map((l) => l['resetwatch.direction']).sort(), ['client', 'server'], describeRun(agent));
  });
}

// A soak trial: the answer's bytes and the RST behind them read in one poll end the pooled
// connection as a FIN would on libuv before 1.52 (Node 20 and 22), and the pool drops it with no
// error; 3–5 % of such resets were lost with node:http (14 of 20 recorded with the RST 0 ms after
// the answer), and in a re-trial 2–20 % with undici and fetch. One client per pool, in turn.
const POOLED_CLIENTS = {
  'node:http': () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return {
      get: (port) =>
        new Promise((resolve, reject) =>
          http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
        ),
      close: () => agent.destroy(),
    };
  },
  fetch: () => ({ get: (port) => fetch(`http://127.0.0.1:${port}/`).then((res) => res.text()), close: () => {} }),
  'undici Pool': () => {
    const { Pool } = require('undici');
    const pools = new Map();
    const pool = (port) => pools.get(port) ?? pools.set(port, new Pool(`http://127.0.0.1:${port}`, { connections: 1 })).get(port);
    return {
      get: (port) =>
        pool(port)
          .request({ path: '/', method: 'GET' })
          .then((r) => r.body.text()),
      close: () => Promise.all([...pools.values()].map((p) => p.close())),
    };
  },
};

for (const [name, make] of Object.entries(POOLED_CLIENTS)) {
  test(`${name}: a server that resets each keep-alive connection right after its answer: every reset is recorded, the pooled ones idle`, async () => {
    let resets = 0;
    const server = http.createServer((req, res) => {
      res.end('ok');
      setTimeout(() => {
        if (req.socket.destroyed) return;
        resets++;
        req.socket.resetAndDestroy();
      }, 0);
    });
    server.keepAliveTimeout = 60000;
    const port = await listen(server);
    const client = make();
    let appErrors = 0;
    try {
      for (let i = 0; i < 40; i++) {
        await client.get(port).catch(() => appErrors++);
        await delay(20);
      }
      await delay(200);
    } finally {
      await client.close();
      await closeServer(server);
    }
    const events = cap.events.filter((e) => e.direction === 'client' && e.serverPort === port);
    assert.equal(events.length, resets, `${events.length} events for ${resets} resets (${appErrors} met by a request)`);
    assert.equal(events.filter((e) => e.phase === 'idle' && e.errorType === 'ECONNRESET').length, resets - appErrors);
  });
}

test('keep-alive race: a reused socket closed by the server after ~200 ms idle', async () => {
  // A raw server that answers the first request on a connection and closes it as the next one
  // arrives, ~200 ms later: the race's outcome, every time. (The timed variant of
  // shared/RESETS.md, closing ~200 ms after each response, rarely races on newer Node 22+ clients,
  // which drop a pooled socket whose FIN they already read.)
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      s.once('data', () => s.destroy());
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let failures = 0;
  for (let i = 0; i < 40 && failures < 2; i++) {
    await new Promise((r) => {
      const req = http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', r);
      });
      req.on('error', () => {
        failures++;
        r();
      });
    });
    await delay(200);
  }
  assert.ok(failures >= 1, 'the race did not happen in 40 tries');
  const events = cap.events.filter(client(port));
  assert.equal(events.length, failures, 'one event per failed request');
  const e = events[0];
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
    connectionAgeMs: (v) => v >= 150,
    idleMs: any.nonNegative,
    retry: 'safe',
    fatal: false,
    request: (r) => r.method === 'GET' && r.ageMs < 1000,
    reusedSocket: true,
    idleBeforeReuseMs: (v) => v >= 150 && v < 1000,
    // The hint says the idle time the event holds (0.2 s asked for; a loaded machine's timer
    // reads later, so the figure is matched against the field, not against 0.2).
    hint: (h) => h.id === 'keepalive_race' && h.text.includes(`idled ${(e.idleBeforeReuseMs / 1000).toFixed(1)} s`),
  });
  agent.destroy();
  await closeServer(server);
});

test('keep-alive race: the next request written on a pooled socket the server reset meanwhile (write ECONNRESET) reads as an RST with no FIN', async () => {
  // The server (another process) answers, then resets the connection 50 ms later, while this
  // process is busy; the next request, written in the same turn, meets the RST in write(): Linux
  // reports ECONNRESET there for an RST with no FIN before it (EPIPE after one). The hint then says
  // what a bare RST can be, as for `read ECONNRESET` (it said "closed … after it idled", a timeout).
  const { port } = await pythonPeer([
    'c.recv(4096)',
    "c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok')",
    'time.sleep(0.05)',
    "c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))",
    'c.close()',
    'time.sleep(1)',
  ]);
  const agent = new http.Agent({ keepAlive: true });
  await new Promise((r) =>
    http.get({ port, host: '127.0.0.1', agent }, (res) => {
      res.resume();
      res.on('end', r);
    }),
  );
  const busyUntil = Date.now() + 300;
  while (Date.now() < busyUntil);
  const req = http.get({ port, host: '127.0.0.1', agent });
  const err = await new Promise((r) => req.on('error', r).on('response', () => r(null)));
  const e = await cap.next(client(port));
  agent.destroy();
  if (NODE_MAJOR >= 22) {
    // Newer Node reads the RST on the pooled socket before it reuses it: an idle reset, and the
    // request goes out on a new connection (refused: the peer accepted once).
    checkEvent(e, { ...idlePooled(port), ...readReset, hint: (h) => h.id === 'idle_reset' });
    return;
  }
  assert.equal(err?.message, 'write ECONNRESET', 'what Node reports');
  assert.equal(req.reusedSocket, true);
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    errorType: 'ECONNRESET',
    code: 'ECONNRESET',
    message: 'write ECONNRESET',
    syscall: 'write',
    phase: 'request',
    ...dialled(port),
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: any.positive,
    bytesSent: any.positive,
    connectionAgeMs: (v) => v >= 300,
    idleMs: any.nonNegative,
    retry: 'safe',
    fatal: false,
    request: (r) => r.method === 'GET',
    reusedSocket: true,
    idleBeforeReuseMs: (v) => v >= 250 && v < 1000,
    hint: (h) =>
      h.id === 'keepalive_race' &&
      h.text.startsWith(
        `keep-alive race or lost state: 127.0.0.1:${port} closed this pooled connection with an RST and no FIN before it, after it idled 0.3 s`,
      ),
  });
});

/**
 * A server that answers a connection's first request and closes it (FIN) at the next one's first
 * bytes, and the pooled connection's second request made by `send(agent, port)` 300 ms later.
 * Resolves with the client event.
 */
async function closedAtSecondRequest(send) {
  const server = net.createServer((s) => {
    let n = 0;
    s.on('error', () => {});
    s.on('data', () => {
      if (++n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok');
      else s.end();
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  try {
    await new Promise((r) => http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', r)));
    await delay(300);
    const req = send(agent, port);
    req.on('error', () => {});
    return await cap.next(client(port));
  } finally {
    agent.destroy();
    await closeServer(server);
  }
}

test('a reused connection whose server dies mid-response (status and part of the body, then its FIN): no race hint, not retry-safe', async () => {
  // An upstream crashing while it answers: the request went out on a pooled connection moments
  // before, as in a keep-alive race, but the server had taken it and begun its answer.
  const server = net.createServer((s) => {
    let n = 0;
    s.on('error', () => {});
    s.on('data', () => {
      if (++n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok');
      else s.end(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(5000)}`);
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  await new Promise((r) => http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', r)));
  await delay(100);
  const req = http.get({ port, host: '127.0.0.1', agent }, (res) => {
    res.on('error', () => {});
    res.resume();
  });
  req.on('error', () => {});
  const e = await cap.next(client(port));
  assert.equal(e.phase, 'response');
  assert.equal(e.reusedSocket, true);
  assert.ok(e.request.ageMs < 500, `request ${e.request.ageMs} ms old`);
  // Pooled ~100 ms before this request: not since its own response's headers (the TLS trial read -101 ms).
  assert.ok(e.idleBeforeReuseMs >= 90 && e.idleBeforeReuseMs < 500, `pooled ${e.idleBeforeReuseMs} ms`);
  assert.equal(e.hint, undefined, `hint ${e.hint?.id}: ${e.hint?.text}`);
  assert.equal(e.retry, 'unsafe');
  agent.destroy();
  await closeServer(server);
});

test('a reused connection whose streamed upload is answered before its end, then reset: its pooled time is unknown, never the time since its own answer', async () => {
  // The re-trial's case: Node publishes such a request's start at the end of its body, after its
  // own response's headers had moved the connection's idle mark.
  const server = net.createServer((s) => {
    let n = 0;
    let seen = '';
    s.on('error', () => {});
    s.on('data', (d) => {
      if (++n === 1) return s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok');
      seen += d;
      if (n === 2) s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
      if (seen.endsWith('0\r\n\r\n')) setTimeout(() => s.resetAndDestroy(), 50);
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  await new Promise((r) => http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', r)));
  await delay(150);
  const req = http.request({ port, host: '127.0.0.1', agent, method: 'POST' }, (res) => {
    res.on('error', () => {});
    res.resume();
  });
  req.on('error', () => {});
  req.write('first part');
  setTimeout(() => req.end('last part'), 300);
  const e = await cap.next(client(port));
  assert.equal(e.reusedSocket, true);
  assert.equal(e.phase, 'response');
  assert.equal(e.idleBeforeReuseMs, undefined, `pooled ${e.idleBeforeReuseMs} ms`);
  agent.destroy();
  await closeServer(server);
});

test('undici on a pooled connection, an express upstream dying mid-response (head and part of the body, then its FIN): no race hint, not retry-safe', async (t) => {
  // The on-call trial's shape: undici's pool reuses the connection, the upstream takes the request,
  // answers its head and 5 kB of 100 kB, and its connection closes as a crashing process's does.
  const { Agent, request } = require('undici');
  const express = require('express');
  let n = 0;
  const app = express();
  app.get('/', (req, res) => {
    if (++n === 1) return res.send('ok');
    res.writeHead(200, { 'content-length': 100000 });
    res.write('x'.repeat(5000), () => setTimeout(() => req.socket.destroy(), 20));
  });
  const server = http.createServer(app);
  const port = await listen(server);
  const dispatcher = new Agent({ keepAliveTimeout: 10000 });
  t.after(() => Promise.all([dispatcher.close(), closeServer(server)]));
  const url = `http://127.0.0.1:${port}/`;
  await (await request(url, { dispatcher })).body.text();
  await delay(100);
  const failed = request(url, { dispatcher }).then(({ body }) => body.text());
  await assert.rejects(failed, (err) => err.code === 'UND_ERR_SOCKET');
  const e = await cap.next(client(port));
  assert.equal(e.phase, 'response');
  assert.equal(e.reusedSocket, true);
  assert.ok(e.bytesReceived > 5000, `${e.bytesReceived} B read`);
  assert.equal(e.request.method, 'GET');
  assert.equal(e.hint, undefined, `hint ${e.hint?.id}: ${e.hint?.text}`);
  assert.equal(e.retry, 'unsafe');
});

// A peer that answers this side's close with an RST, as RabbitMQ does after an AMQP
// Connection.Close (found by the pools trial: every amqplib connection closed read as a reset).
async function closeAnsweredWithReset(send) {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      if (String(d).includes('CLOSE')) s.write('CLOSE-OK');
    });
    s.on('end', () => s.resetAndDestroy());
  });
  const port = await listen(server);
  const sock = net.connect(port, '127.0.0.1');
  const errors = [];
  sock.on('error', (err) => errors.push(err.code));
  await new Promise((r) => sock.on('connect', r));
  send(sock);
  await new Promise((r) => sock.on('close', r));
  await delay(100);
  await closeServer(server);
  return { port, errors };
}

test("a raw client that closes after the peer's answer (CLOSE, CLOSE-OK, its FIN), answered with an RST: nothing lost, no event", async () => {
  const { port, errors } = await closeAnsweredWithReset((sock) => {
    sock.write('CLOSE');
    sock.once('data', () => sock.end());
  });
  assert.deepEqual(errors, ['ECONNRESET'], 'the app saw the RST');
  assert.deepEqual(cap.events.filter(client(port)), []);
});

test('a raw client that sends its request with its FIN and is answered with an RST: the request was cut off, an event', async () => {
  const { port, errors } = await closeAnsweredWithReset((sock) => sock.end('REQUEST'));
  assert.deepEqual(errors, ['ECONNRESET']);
  const e = cap.events.find(client(port));
  assert.equal(e?.errorType, 'ECONNRESET', JSON.stringify(cap.events));
  assert.equal(e.phase, 'established');
});

test("the same close answered with an RST in an app without an 'error' listener by then: it crashes on it as without the agent, and the line says so", async () => {
  const { plain, agent } = await withAndWithout([fixture('close-answered-reset.cjs'), 'unhandled']);
  assert.equal(plain.code, 1, describeRun(plain));
  assert.equal(agent.code, 1, describeRun(agent));
  const lines = resetLines(agent.stderr);
  assert.equal(lines.length, 1, agent.stderr);
  assert.equal(lines[0]['resetwatch.fatal'], true);
  // Handled, the same exchange is no reset: no line.
  const handled = await withAndWithout([fixture('close-answered-reset.cjs')]);
  assert.equal(handled.agent.stdout, handled.plain.stdout);
  assert.deepEqual(resetLines(handled.agent.stderr), [], handled.agent.stderr);
});

test('keep-alive race on a GET not yet ended (a proxy streams it): the hint says how long it was pooled', async () => {
  // Node publishes a request's start only at its end: no start to measure the pooled idle time
  // from (the hint read "idled ? s" in a gateway trial, whose proxy had not ended its GET).
  const e = await closedAtSecondRequest((agent, port) => {
    const req = http.request({ port, host: '127.0.0.1', agent, method: 'GET' });
    req.flushHeaders();
    return req;
  });
  assert.equal(e.reusedSocket, true);
  assert.equal(e.request.ageMs, undefined);
  assert.ok(e.idleBeforeReuseMs >= 250 && e.idleBeforeReuseMs < 5000, `pooled ${e.idleBeforeReuseMs} ms`);
  assert.equal(e.hint?.id, 'keepalive_race');
  assert.match(e.hint.text, /^not the advertised idle timeout: .* idled only (0\.[3-9]|[1-4]\.\d) s/);
  assert.equal(e.retry, 'safe');
});

test('a reused connection the server closes (FIN) long before the keep-alive timeout it advertised: a proxy sooner, or its shutdown', async () => {
  // An upstream shutting down or killed under load: its idle pooled connections close at once, and
  // a request just sent on one hangs up. The hint said "make the client's idle timeout shorter"
  // (accounting trial: 36 of 36 such hints, each within 1.5 s of the upstream's SIGKILL). A proxy
  // that passes the backend's Keep-Alive header on and closes sooner reads the same (re-trial:
  // HAProxy's timeout http-keep-alive 1s before a Node backend's 5 s): the text names both.
  const e = await closedAtSecondRequest((agent, port) => http.get({ port, host: '127.0.0.1', agent }));
  assert.equal(e.errorType, 'peer_closed');
  assert.equal(e.reusedSocket, true);
  assert.equal(e.hint?.id, 'keepalive_race');
  assert.match(
    e.hint.text,
    /^not the advertised idle timeout: 127\.0\.0\.1:\d+ advertised a 5 s keep-alive timeout but closed this pooled connection after it idled only 0\.[3-9] s, just as a new request went out on it\. Either a proxy or load balancer in front of it closes idle connections sooner .*; or the server was shutting down, restarting or crashing/,
  );
});

test('a pooled connection reused well after the keep-alive timeout its server advertised (the loop blocked meanwhile): the hint says it was held past that timeout', async (t) => {
  // A trial behind Apache (Keep-Alive: timeout=5): a client whose loop was blocked sent its next
  // request 6.6 s after the last answer, on a connection Apache had closed 1.6 s before; the hint
  // said Apache closed it "just as a new request went out on it". The server is another process,
  // so that it closes at its timeout while this loop is held.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-held-'));
  const closed = path.join(dir, 'closed');
  const server = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('node:fs');
       const s = require('node:net').createServer((c) => {
         c.on('error', () => {});
         c.once('data', () => {
           c.write('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nKeep-Alive: timeout=2\\r\\n\\r\\nok');
           setTimeout(() => c.end(() => fs.writeFileSync(${JSON.stringify(closed)}, '')), 2000);
         });
       }).listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = Number(String((await once(server.stdout, 'data'))[0]).trim());
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  await new Promise((r) => http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', r)));
  const answered = Date.now();
  // Held past the server's close and past its timeout plus the hints' slack (1 s).
  holdLoop(() => existsSync(closed) && Date.now() - answered > 3300);
  const outcome = new Promise((resolve) => {
    const req = http.get({ port, host: '127.0.0.1', agent }, (res) => resolve(res.statusCode));
    req.on('error', (err) => resolve(err.message));
  });
  if (Number(process.versions.node.split('.')[0]) >= 22 && (await outcome) === 200) {
    // Node 22 and later take such a connection out of the pool before reusing it: no race, no event.
    await delay(200);
    assert.deepEqual(cap.events.filter(client(port)), []);
    return;
  }
  assert.equal(await outcome, 'socket hang up');
  const e = await cap.next(client(port));
  assert.equal(e.reusedSocket, true, JSON.stringify(e));
  assert.equal(e.hint?.id, 'keepalive_race', JSON.stringify(e));
  assert.match(
    e.hint.text,
    /^reused past the advertised idle timeout: 127\.0\.0\.1:\d+ advertised a 2 s keep-alive timeout, and this pooled connection was reused after it idled 3\.\d s: the server had closed it before the request went out\. The client held the connection past the server's timeout: its event loop was blocked/,
  );
  assert.equal(e.retry, 'safe');
});

test('a reused connection closed while an upload is still being written: its age unknown, no race hint, not retry-safe', async () => {
  // A streaming upload cut off by the server (a body timeout) may be seconds old: not a race.
  const e = await closedAtSecondRequest((agent, port) => {
    const req = http.request({ port, host: '127.0.0.1', agent, method: 'PUT' });
    req.write('the first part of an upload');
    return req;
  });
  assert.equal(e.reusedSocket, true);
  assert.equal(e.phase, 'request');
  assert.equal(e.hint, undefined);
  assert.equal(e.retry, 'unsafe');
});

test('EPIPE: writing after the peer closed', async () => {
  const server = net.createServer((s) => s.destroy());
  const port = await listen(server);
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  sock.on('error', () => {});
  await new Promise((r) => sock.on('connect', r));
  await delay(50);
  for (let i = 0; i < 50 && !sock.destroyed; i++) {
    sock.write('z'.repeat(1000));
    await delay(5);
  }
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    errorType: 'EPIPE',
    code: 'EPIPE',
    message: 'write EPIPE',
    syscall: 'write',
    phase: 'established',
    ...dialled(port),
    tls: false,
    bytesReceived: 0,
    bytesSent: any.positive,
    connectionAgeMs: any.positive,
    idleMs: any.nonNegative,
    retry: 'unknown',
    protocol: 'unknown',
    fatal: false,
    hint: (h) => h.id === 'write_after_close',
  });
  await closeServer(server);
});

test('fetch: a reset while waiting for the response', async () => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  const err = await inSpan(() => fetch(`http://127.0.0.1:${port}/path?q=1`, { method: 'PUT', body: 'x' })).catch((x) => x);
  assert.equal(err.cause?.code, 'ECONNRESET');
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'response',
    ...dialled(port),
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: 0,
    bytesSent: any.positive,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'unsafe',
    fatal: false,
    request: (r) => r.method === 'PUT' && r.host === '127.0.0.1' && r.ageMs >= 0,
    reusedSocket: false,
    traceId: TRACE.traceId,
    spanId: TRACE.spanId,
  });
  await closeServer(server);
});

// As for http.request above: undici's "other side closed" for an end of input that was an RST.
test('fetch: bytes and an RST read in one poll are ECONNRESET; bytes and a FIN are peer_closed', async () => {
  for (const close of ['resetAndDestroy', 'end']) {
    cap.clear();
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
        s[close]();
      });
    });
    const port = await listen(server);
    const err = await fetch(`http://127.0.0.1:${port}/`)
      .then((r) => r.text())
      .catch((x) => x);
    const seen = close === 'end' || UV_HIDES_RST ? 'UND_ERR_SOCKET' : 'ECONNRESET';
    assert.equal(err.cause?.code, seen, `${close}: what undici reports`);
    const e = await cap.next(client(port));
    const how =
      close === 'end' ? { errorType: 'peer_closed', code: 'UND_ERR_SOCKET', message: 'other side closed', syscall: undefined } : readReset;
    checkEvent(e, {
      time: any.recent,
      direction: 'client',
      ...how,
      phase: 'response',
      ...dialled(port),
      tls: false,
      protocol: 'http/1.1',
      bytesReceived: 47,
      bytesSent: any.positive,
      connectionAgeMs: any.nonNegative,
      idleMs: any.nonNegative,
      retry: 'unsafe',
      fatal: false,
      request: (r) => r.method === 'GET' && r.ageMs >= 0,
      reusedSocket: false,
    });
    await closeServer(server);
  }
});

test('undici: a TLS 1.3 server that rejects the client certificate (an alert, then its close): tls_handshake, the alert named, retry safe; node:https reports the alert itself, no event', async () => {
  // TLS 1.3 checks the client's certificate after the client's handshake has finished: the socket
  // reports the alert, and undici fails the request with "other side closed" at the close behind
  // it (a trial of TLS failures: it read the server closing mid-response, retry unsafe).
  const server = https.createServer({ ...TLS, requestCert: true, rejectUnauthorized: true, ca: [TLS.cert] }, (_req, res) => res.end('ok'));
  server.on('tlsClientError', () => {});
  const port = await listen(server);
  const { request, Agent } = require('undici');
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const err = await request(`https://127.0.0.1:${port}/orders`, { dispatcher }).catch((x) => x);
  assert.equal(err.code, 'UND_ERR_SOCKET', String(err));
  const e = await cap.next(client(port));
  checkEvent(e, {
    ...handshakeCut(port),
    errorType: 'peer_closed',
    code: 'UND_ERR_SOCKET',
    message: (m) => m.startsWith('other side closed') && m.includes('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'),
    syscall: undefined,
    tlsVersion: 'TLSv1.3',
    protocol: 'http/1.1',
    request: (r) => r.method === 'GET',
    reusedSocket: false,
    hint: (h) => h.id === 'tls_mismatch',
  });
  await dispatcher.close();
  // node:https fails the request with the alert: no reset.
  cap.clear();
  const code = await new Promise((r) =>
    https.get({ port, host: '127.0.0.1', rejectUnauthorized: false, agent: false }, () => r('answered')).on('error', (x) => r(x.code)),
  );
  assert.equal(code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  await delay(100);
  assert.deepEqual(cap.events.filter(client(port)), []);
  await closeServer(server);
});

test("a socket dialled just before an HTTP request that waits in its agent's queue is not that request's: its reset, handled, is not fatal", async () => {
  // A re-trial of the env proxy's link (agent/tunnel.ts): a pg socket dialled just before an
  // http.get queued behind maxSockets was taken for that request's, and its reset read fatal.
  const slow = http.createServer((_req, res) => setTimeout(() => res.end('ok'), 300));
  const slowPort = await listen(slow);
  const raw = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const rawPort = await listen(raw);
  const agent = new http.Agent({ maxSockets: 1 });
  const answered = [];
  http.get({ port: slowPort, host: '127.0.0.1', agent }, (r) => r.resume().on('end', () => answered.push(1)));
  const c = net.connect(rawPort, '127.0.0.1', () => c.write('x'));
  c.on('error', () => {});
  http.get({ port: slowPort, host: '127.0.0.1', agent }, (r) => r.resume().on('end', () => answered.push(2))); // queued
  const e = await cap.next(client(rawPort));
  assert.equal(e.fatal, false, JSON.stringify(e));
  while (answered.length < 2) await delay(20);
  agent.destroy();
  await closeServer(slow);
  await closeServer(raw);
});

test('fetch: "other side closed" is peer_closed only with a request in flight', async () => {
  const server = net.createServer((s) => s.once('data', () => s.end()));
  const port = await listen(server);
  const err = await fetch(`http://127.0.0.1:${port}/`).catch((x) => x);
  assert.equal(err.cause?.code, 'UND_ERR_SOCKET');
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...otherSideClosed,
    phase: 'response',
    ...dialled(port),
    tls: false,
    protocol: 'http/1.1',
    bytesReceived: 0,
    bytesSent: any.positive,
    connectionAgeMs: any.nonNegative,
    idleMs: any.nonNegative,
    retry: 'unsafe',
    fatal: false,
    request: (r) => r.method === 'GET' && r.ageMs >= 0,
    reusedSocket: false,
  });
  await closeServer(server);
  // An idle keep-alive socket closed by the server (FIN) is not a reset.
  const quiet = http.createServer({ keepAliveTimeout: 100 }, (_req, res) => res.end('ok'));
  const qport = await listen(quiet);
  assert.equal(await (await fetch(`http://127.0.0.1:${qport}/`)).text(), 'ok');
  await delay(300);
  assert.equal(cap.events.filter(client(qport)).length, 0);
  await closeServer(quiet);
});

test('http2: the server resets the session socket', async () => {
  const server = http2.createServer();
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.write('x');
    setTimeout(() => rawOf(stream).resetAndDestroy(), 30);
  });
  const rawSockets = [];
  server.on('connection', (s) => rawSockets.push(s));
  const rawOf = () => rawSockets[0];
  const port = await listen(server);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const req = session.request({ ':path': '/' });
  req.on('error', () => {});
  req.on('data', () => {});
  req.end();
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'established',
    ...dialled(port),
    tls: false,
    protocol: 'h2', // h2c: from the Http2Session that owns the socket
    streamsInFlight: 1,
    ...http2Moved,
  });
  session.destroy();
  await closeServer(server);
});

test('the app aborting its own request is not an event', async () => {
  const server = http.createServer((_req, res) => setTimeout(() => res.end('late'), 200));
  const port = await listen(server);
  const req = http.get({ port, host: '127.0.0.1' });
  req.on('error', () => {});
  setTimeout(() => req.destroy(), 30);
  await new Promise((r) => req.on('close', r));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  await fetch(`http://127.0.0.1:${port}/`, { signal: ac.signal }).catch(() => {});
  await delay(300);
  assert.deepEqual(cap.events.filter(client(port)), []);
  await closeServer(server);
});

test('an orderly close is never an event', async () => {
  const server = http.createServer((_req, res) => res.end('fine'));
  const port = await listen(server);
  for (let i = 0; i < 5; i++) await (await fetch(`http://127.0.0.1:${port}/`)).text();
  await new Promise((r) =>
    http.get({ port, host: '127.0.0.1', agent: false }, (res) => {
      res.resume();
      res.on('end', r);
    }),
  );
  const sock = net.connect(port, '127.0.0.1', () => sock.end());
  await new Promise((r) => sock.on('close', r));
  // A pooled keep-alive socket the server closes for idleness (FIN) is orderly too.
  const idleServer = http.createServer({ keepAliveTimeout: 100 }, (_req, res) => res.end('ok'));
  const idlePort = await listen(idleServer);
  const pool = new http.Agent({ keepAlive: true });
  await new Promise((r) =>
    http.get({ port: idlePort, host: '127.0.0.1', agent: pool }, (res) => {
      res.resume();
      res.on('end', r);
    }),
  );
  await delay(300);
  assert.deepEqual(cap.events.filter(client(idlePort)), []);
  pool.destroy();
  await closeServer(idleServer);
  await closeServer(server);
  await delay(100);
  assert.deepEqual(
    cap.events.filter((e) => e.serverPort === port || e.localPort === port),
    [],
  );
});
