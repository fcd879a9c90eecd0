// HTTP/2 and gRPC (issue 12): the Http2Session multiplexes streams over one socket, so when the
// peer's process dies (SIGKILL: its kernel closes the connection with a FIN) every stream in
// flight dies with it, while Node tells the app nothing an HTTP/1 client would call an error
// (streams close with NGHTTP2_CANCEL; grpc-js says "14 UNAVAILABLE: Connection dropped"). That is
// a `peer_closed` event, `established`, with `protocol` `grpc` or `h2` and `streamsInFlight`.
// Real peers in child processes, killed for real; every attribute of the event is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { captureEach, listen, closeServer, delay, brief, ROOT } from './helpers/resets.mjs';
import { checkEvent, any, dialled, http2Moved, otherSideClosed } from './helpers/check-event.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const PEER = `${ROOT}/test/fixtures/h2-peer.cjs`;
const { WATCH } = require(PEER);
const { toAttributes } = require(`${ROOT}/dist/exporters/shared/attributes.js`);
/** The attributes log lines and spans carry for the protocol (and no idle time: the session reads natively). */
const protocolAttributes = (e) =>
  Object.fromEntries(
    Object.entries(toAttributes(e)).filter(([k]) => /^(network\.protocol|rpc\.|resetwatch\.http2|resetwatch\.connection\.idle)/.test(k)),
  );

const cap = captureEach();

const server = (port) => (e) => e.direction === 'server' && e.localPort === port;
const client = (port) => (e) => e.direction === 'client' && e.serverPort === port;
const hangup = {
  errorType: 'peer_closed',
  code: 'peer_closed',
  message: 'peer closed the HTTP/2 connection with streams in flight',
  syscall: undefined,
  phase: 'established',
};

/** Starts h2-peer.cjs in `role`; resolves with the child and the first line it prints. */
async function peer(...args) {
  const child = spawn(process.execPath, [PEER, ...args.map(String)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  child.on('exit', () => clearTimeout(timer));
  const [line] = await once(child.stdout, 'data');
  return { child, line: String(line).trim() };
}

/**
 * SIGKILL: the kernel closes the dead process's sockets, with a FIN when it had read everything
 * (it answers with an RST when unread bytes were left: so first let the frames in flight land).
 */
async function kill(child) {
  await delay(50);
  // Then until the child's TCP sockets hold nothing unread (Recv-Q 0 in `ss`): a child a loaded
  // host had not yet scheduled would still have bytes in flight read by nobody. 5 s at most.
  for (let until = Date.now() + 5000; Date.now() < until; await delay(20)) {
    const mine = execFileSync('ss', ['-tnpH'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(`pid=${child.pid},`));
    if (mine.every((l) => l.trim().split(/\s+/)[1] === '0')) break;
  }
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** The whole event of a server connection on `port` whose client process died with streams open. */
function serverHangup(port, protocol, streamsInFlight) {
  return {
    time: any.recent,
    direction: 'server',
    ...hangup,
    // Read at the FIN while the kernel still knows it, unless the session's own last write drew
    // an RST from the dead peer's kernel first.
    peerAddress: (v) => v === undefined || v === '127.0.0.1',
    peerPort: (v) => v === undefined || any.port(v),
    localAddress: '127.0.0.1',
    localPort: port,
    tls: false,
    protocol,
    streamsInFlight,
    ...http2Moved,
  };
}

test('grpc-js client: the server process dies mid-stream (FIN): peer_closed, grpc, 1 stream', { timeout: 20000 }, async () => {
  const { child, line } = await peer('grpc-server');
  const port = Number(line);
  const Client = grpc.makeGenericClientConstructor(WATCH, 'Test');
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = c.watch(Buffer.alloc(0));
  const failed = new Promise((resolve) => call.on('error', resolve));
  await once(call, 'data');
  await kill(child);
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...hangup,
    ...dialled(port),
    tls: false,
    protocol: 'grpc',
    streamsInFlight: 1,
    ...http2Moved,
  });
  assert.deepEqual(protocolAttributes(e), {
    'network.protocol.name': 'http',
    'network.protocol.version': '2',
    'resetwatch.http2.streams_in_flight': 1,
  });
  const err = await failed;
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  assert.equal(err.details, 'Connection dropped');
  c.close();
});

test('http2.connect client: the server process dies with two streams open: peer_closed, h2, 2 streams', { timeout: 20000 }, async () => {
  const { child, line } = await peer('h2-server');
  const port = Number(line);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const streams = [0, 1].map((i) => {
    const req = session.request({ ':path': `/watch/${i}` });
    const seen = { error: undefined, aborted: false };
    req.on('error', (err) => (seen.error = err));
    req.on('aborted', () => (seen.aborted = true));
    req.on('data', () => {});
    return { req, seen, closed: once(req, 'close'), response: once(req, 'response') };
  });
  await Promise.all(streams.map((s) => s.response));
  await kill(child);
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...hangup,
    ...dialled(port),
    tls: false,
    protocol: 'h2',
    streamsInFlight: 2,
    ...http2Moved,
  });
  assert.deepEqual(protocolAttributes(e), {
    'network.protocol.name': 'http',
    'network.protocol.version': '2',
    'resetwatch.http2.streams_in_flight': 2,
  });
  // What the app itself got: streams closed with NGHTTP2_CANCEL, no error, no 'aborted'.
  await Promise.all(streams.map((s) => s.closed));
  for (const { req, seen } of streams) {
    assert.equal(req.rstCode, http2.constants.NGHTTP2_CANCEL);
    assert.deepEqual(seen, { error: undefined, aborted: false });
  }
});

test('undici with allowH2: the server process dies with three requests open: peer_closed, h2, 3 streams (not one HTTP/1 request)', {
  timeout: 20000,
}, async () => {
  // undici's requests over HTTP/2 are streams of one session; its hook marks the last one in
  // flight as for HTTP/1, and the event read as that one request: `response`, `retry: unsafe`.
  const { Client } = require('undici');
  const { child, line } = await peer('h2s-server');
  const port = Number(line);
  const undici = new Client(`https://127.0.0.1:${port}`, { allowH2: true, pipelining: 10, connect: { rejectUnauthorized: false } });
  const requests = [0, 1, 2].map((i) => undici.request({ path: `/watch/${i}`, method: 'GET' }));
  const responses = await Promise.all(requests);
  const bodies = responses.map((r) => r.body.text().catch((err) => err));
  await kill(child);
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    // undici's own error for the FIN, as its HTTP/1 hang-ups read.
    ...otherSideClosed,
    phase: 'established',
    ...dialled(port),
    tls: true,
    tlsVersion: 'TLSv1.3',
    protocol: 'h2',
    streamsInFlight: 3,
    ...http2Moved,
  });
  await Promise.all(bodies);
  await undici.destroy();
});

test('http2 over TLS (ALPN h2), gRPC content-type: the server process dies: peer_closed, grpc, 1 stream', { timeout: 20000 }, async () => {
  const { child, line } = await peer('h2s-server');
  const port = Number(line);
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  const req = session.request({
    ':path': '/resetwatch.Test/Watch',
    ':method': 'POST',
    'content-type': 'application/grpc+proto',
    te: 'trailers',
  });
  req.on('error', () => {});
  req.on('data', () => {});
  await once(req, 'response');
  const closed = once(session, 'close');
  await kill(child);
  const e = await cap.next(client(port));
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...hangup,
    ...dialled(port),
    tls: true,
    tlsVersion: 'TLSv1.3',
    protocol: 'grpc', // ALPN said h2; the stream's content-type says gRPC
    streamsInFlight: 1,
    ...http2Moved,
  });
  await closed;
});

test('http2 server: the client process dies with three streams open: peer_closed, h2, 3 streams', { timeout: 20000 }, async () => {
  const srv = http2.createServer();
  srv.on('session', (s) => s.on('error', () => {}));
  srv.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.write('x');
  });
  const port = await listen(srv);
  const { child, line } = await peer('h2-client', port, 3);
  assert.equal(line, 'open');
  await kill(child);
  const e = await cap.next(server(port));
  checkEvent(e, serverHangup(port, 'h2', 3));
  await closeServer(srv);
});

test('grpc-js server: the client process dies mid-call: peer_closed, grpc, 1 stream', { timeout: 20000 }, async () => {
  const srv = new grpc.Server();
  srv.addService(WATCH, { watch: (call) => call.write(Buffer.from('x')) });
  const port = await new Promise((resolve, reject) =>
    srv.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const { child, line } = await peer('grpc-client', port);
  assert.equal(line, 'open');
  await kill(child);
  const e = await cap.next(server(port));
  // grpc: the server stream's response headers say application/grpc.
  checkEvent(e, serverHangup(port, 'grpc', 1));
  srv.forceShutdown();
});

test('no stream in flight: a FIN after the exchanges finished, or a graceful GOAWAY, is no event', { timeout: 20000 }, async () => {
  const srv = http2.createServer((_req, res) => res.end('ok'));
  const sessions = [];
  srv.on('session', (s) => sessions.push(s));
  const port = await listen(srv);
  const exchange = async (session) => {
    const req = session.request({ ':path': '/' });
    req.resume();
    await once(req, 'end');
  };
  // The server destroys the session after a finished exchange: its socket closes with a FIN.
  const s1 = http2.connect(`http://127.0.0.1:${port}`);
  await exchange(s1);
  const closed1 = once(s1, 'close');
  sessions[0].destroy();
  await closed1;
  // The server closes the session gracefully: GOAWAY, then both sides close.
  const s2 = http2.connect(`http://127.0.0.1:${port}`);
  await exchange(s2);
  const closed2 = once(s2, 'close');
  sessions[1].close();
  await closed2;
  await delay(200);
  assert.deepEqual(cap.events.filter((e) => e.serverPort === port || e.localPort === port).map(brief), []);
  await closeServer(srv);
});
