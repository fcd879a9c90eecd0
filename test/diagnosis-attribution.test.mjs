// Who caused a reset (issue 12): an error the app or a library passes on to a socket — a proxy
// forwarding its upstream's reset, a handler piping a cut upstream response into its own response,
// a client library's own timeout — is not a reset of that socket. Only the connection whose handle
// raised the error has an event. The other ends run in their own process without the agent
// (test/fixtures/attribution-peers.cjs): what they see is not this app's business.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { pipeline } from 'node:stream';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { captureEach, listen, closeServer } from './helpers/resets.mjs';
import { checkEvent, any, dialled, readReset } from './helpers/check-event.mjs';
import { nodeJson } from './helpers/json-lines.mjs';
import { fixture } from './helpers/subprocess.mjs';

const require = createRequire(import.meta.url);
const axios = require('axios');
const express = require('express');

const PEERS = fixture('attribution-peers.cjs');

const cap = captureEach();

/** The upstream connection's event, with every field: the app dialled `port` and it reset. */
function upstreamEvent(port, fields) {
  return {
    time: any.recent,
    direction: 'client',
    ...readReset,
    ...dialled(port),
    tls: false,
    connectionAgeMs: any.positive,
    idleMs: any.nonNegative,
    retry: 'unknown',
    protocol: 'unknown',
    fatal: false,
    ...fields,
  };
}

test('TCP proxy: the upstream resets, the proxy destroys the downstream with that error: one event, the upstream one', async () => {
  const upstream = net.createServer((s) =>
    s.once('data', () => {
      s.write('partial');
      setTimeout(() => s.resetAndDestroy(), 20);
    }),
  );
  const upPort = await listen(upstream);
  let proxyDone;
  const proxied = new Promise((resolve) => {
    proxyDone = resolve;
  });
  const proxy = net.createServer((downstream) => {
    const up = net.connect(upPort, '127.0.0.1');
    pipeline(downstream, up, downstream, proxyDone);
  });
  const proxyPort = await listen(proxy);
  const client = nodeJson([PEERS, 'tcp-client', String(proxyPort)]);
  // The app saw its error, and the downstream client saw its connection closed by the proxy.
  const err = await proxied;
  assert.equal(err?.code, 'ECONNRESET');
  const seen = await client.next((m) => m.closed);
  assert.deepEqual(seen, { got: 'partial', closed: true }, 'the proxy closed the downstream with a FIN');
  await client.exited;
  assert.equal(cap.events.length, 1, `one event, not ${JSON.stringify(cap.events.map(({ context, ...e }) => e))}`);
  checkEvent(
    cap.events[0],
    upstreamEvent(upPort, { phase: 'established', bytesReceived: 7, bytesSent: 5, connectionAgeMs: (v) => v >= 15 }),
  );
  await closeServer(proxy);
  await closeServer(upstream);
});

test("a pipe's error passed on to a TCP connection (a server piping each upload into a child process that closed its stdin): the pipe's EPIPE is no reset of the connection", async () => {
  // The child closes its end of the pipe and stays alive: a write to its stdin then fails with EPIPE.
  const child = spawn(process.execPath, ['-e', "require('fs').closeSync(0); process.stdout.write('closed'); setTimeout(() => {}, 20000)"], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  try {
    await once(child.stdout, 'data');
    let piped;
    const done = new Promise((resolve) => {
      piped = resolve;
    });
    // The pipe is met by the activity hook at its first write and passed over (sockets.ts PASSED),
    // yet it still claims its error, as a socket never seen would: the pipeline then destroys the
    // connection with that same error.
    const server = net.createServer((s) => pipeline(s, child.stdin, piped));
    const port = await listen(server);
    const client = nodeJson([PEERS, 'tcp-client', String(port)]);
    const err = await done;
    assert.equal(err?.code, 'EPIPE');
    await client.next((m) => m.closed);
    await client.exited;
    assert.deepEqual(
      cap.events.map(({ context, ...e }) => e),
      [],
    );
    await closeServer(server);
  } finally {
    child.kill();
  }
});

// An upstream that sends the head and part of a 100 kB body, then resets.
async function cutUpstream() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': 100000 });
    res.write('x'.repeat(1000));
    setTimeout(() => req.socket.resetAndDestroy(), 30);
  });
  return { server, port: await listen(server) };
}

for (const [how, forward] of [
  ['stream.pipeline', (upRes, res, done) => pipeline(upRes, res, done)],
  [
    '.pipe() with res.destroy(err)',
    (upRes, res, done) => {
      upRes.pipe(res);
      upRes.on('error', (err) => {
        res.destroy(err);
        done(err);
      });
    },
  ],
]) {
  test(`express piping a cut upstream response into res (${how}): only the upstream event`, async () => {
    const up = await cutUpstream();
    const appErrors = [];
    let handled;
    const done = new Promise((resolve) => {
      handled = resolve;
    });
    const app = express();
    app.set('env', 'test');
    app.get('/', (_req, res) => {
      const upReq = http.get({ port: up.port, host: '127.0.0.1' }, (upRes) => forward(upRes, res, handled));
      upReq.on('error', (err) => appErrors.push(err.message));
    });
    const server = http.createServer(app);
    const port = await listen(server);
    const client = nodeJson([PEERS, 'http-client', String(port)]);
    const seen = await client.next((m) => m.closed);
    assert.deepEqual(
      { status: seen.status, complete: seen.complete, error: seen.error },
      { status: 200, complete: false, error: 'aborted' },
    );
    assert.equal((await done)?.message, 'aborted', 'the handler saw the upstream response aborted');
    await client.exited;
    assert.deepEqual(appErrors, ['read ECONNRESET']);
    assert.equal(cap.events.length, 1, `one event, not ${JSON.stringify(cap.events.map(({ context, ...e }) => e))}`);
    checkEvent(
      cap.events[0],
      upstreamEvent(up.port, {
        phase: 'response',
        retry: 'unsafe', // a fresh (not reused) socket: the request may have been processed
        protocol: 'http/1.1',
        bytesReceived: (v) => v > 1000,
        bytesSent: any.positive,
        request: (r) => r.method === 'GET' && r.host === '127.0.0.1' && r.ageMs >= 25,
        reusedSocket: false,
      }),
    );
    await closeServer(server);
    await closeServer(up.server);
  });
}

test('axios `timeout: 200` expiring is the app giving up, not a reset: no event (its code is ECONNABORTED)', async () => {
  const slow = nodeJson([PEERS, 'slow-server']);
  const { port } = await slow.next((m) => m.port);
  const err = await axios.get(`http://127.0.0.1:${port}/`, { timeout: 200 }).catch((e) => e);
  assert.equal(err.code, 'ECONNABORTED');
  assert.equal(err.message, 'timeout of 200ms exceeded');
  // The server saw the connection go: the client's socket is closed, its errors long emitted.
  await slow.next((m) => m.closed);
  assert.deepEqual(cap.events, []);
  await slow.stop();
});

test('axios still reports a real upstream reset', async () => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  const err = await axios.get(`http://127.0.0.1:${port}/`, { timeout: 5000 }).catch((e) => e);
  assert.equal(err.code, 'ECONNRESET');
  const e = await cap.next((x) => x.serverPort === port);
  checkEvent(
    e,
    upstreamEvent(port, {
      phase: 'response',
      retry: 'unsafe', // a response had begun
      protocol: 'http/1.1',
      bytesReceived: 0,
      bytesSent: any.positive,
      request: (r) => r.method === 'GET' && r.host === '127.0.0.1' && any.nonNegative(r.ageMs),
      reusedSocket: false,
    }),
  );
  assert.equal(cap.events.length, 1);
  await closeServer(server);
});
