// A client's phase when the reset comes with the request handed to the socket: `request` while any
// of it had not reached the kernel, `response` once all of it had. Node's own signals mislead at
// both ends (agent/classify.ts requestSent): an upload cut off mid-body, its last bytes dropped as
// the socket failed, reads as finished (a trial of got and node-fetch found `response`); a request
// sent whole over TLS, whose write completes a turn after its bytes left, reads as unfinished
// when the server resets it on receipt (`request` in ~3 runs of 8). The peer runs in its own
// process (test/fixtures/reset-on-receipt.cjs): only then does its RST meet a client busy writing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { once } from 'node:events';
import { captureEach, delay, listen, closeServer, TLS, ROOT } from './helpers/resets.mjs';

const cap = captureEach();

/** Starts the fixture peer; resolves with its port and a stop function. */
async function peer(mode, secure) {
  const child = spawn(process.execPath, [path.join(ROOT, 'test/fixtures/reset-on-receipt.cjs'), mode, secure ? 'tls' : 'plain'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const [line] = await once(child.stdout, 'data');
  return { port: Number(String(line).trim()), stop: () => child.kill() };
}

const BODY = Buffer.alloc(8 * 1024 * 1024, 97);

for (const secure of [false, true]) {
  const kind = secure ? 'https' : 'http';
  const lib = secure ? https : http;

  test(`${kind}: an 8 MiB body passed to end() and cut off after 64 KiB is in the request phase`, async () => {
    const { port, stop } = await peer('upload', secure);
    try {
      // The error is a write's or a read's as the RST meets the client (a write's mostly on an
      // idle host, a read's under load): either way `request`.
      for (let attempt = 0; attempt < 3; attempt++) {
        const req = lib.request({ port, host: 'localhost', ca: TLS.cert, method: 'POST', headers: { 'content-length': BODY.length } });
        req.on('error', () => {});
        req.end(BODY);
        const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
        cap.clear();
        assert.equal(e.phase, 'request', `attempt ${attempt + 1}: ${e.message}`);
        assert.equal(e.retry, 'unsafe');
        assert.equal(e.request?.method, 'POST');
      }
    } finally {
      stop();
    }
  });

  test(`${kind}: a body passed to end() whose write fails on an RST already there is in the request phase`, async () => {
    // The write error made every time, in this process: the server takes the headers, resets the
    // connection (the RST is on the client's socket at once, on loopback) and in the same tick the
    // client's end(body) writes into it.
    let client;
    const tcp = new WeakMap();
    const server = secure ? https.createServer({ ...TLS }) : http.createServer();
    server.on('connection', (s) => {
      s.on('error', () => {});
      server.last = s;
    });
    server.on('secureConnection', (t) => tcp.set(t, server.last));
    server.on('request', (req) => {
      (tcp.get(req.socket) ?? req.socket).resetAndDestroy();
      client.end(BODY);
    });
    const port = await listen(server);
    try {
      client = lib.request({
        port,
        host: '127.0.0.1',
        ca: TLS.cert,
        servername: 'localhost',
        method: 'POST',
        headers: { 'content-length': BODY.length },
      });
      client.on('error', () => {});
      client.flushHeaders();
      const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
      assert.equal(e.syscall, 'write', e.message);
      assert.equal(e.phase, 'request');
      assert.equal(e.retry, 'unsafe');
    } finally {
      await closeServer(server);
    }
  });

  for (const close of ['second', 'second-fin'])
    test(`${kind}: a GET the server ${close === 'second' ? 'resets' : 'closes (FIN)'} on receipt, on a reused connection, is in the response phase`, async () => {
      const { port, stop } = await peer(close, secure);
      const agent = new lib.Agent({ keepAlive: true, ca: TLS.cert });
      const get = () =>
        new Promise((resolve) => {
          const req = lib.get({ port, host: 'localhost', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve('ok'));
          });
          req.on('error', (err) => resolve(err.message));
        });
      try {
        for (let attempt = 0; attempt < 8; attempt++) {
          assert.equal(await get(), 'ok');
          await delay(50);
          const second = get();
          const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
          cap.clear();
          await second;
          assert.equal(e.phase, 'response', `attempt ${attempt + 1}: ${e.message}`);
          assert.equal(e.reusedSocket, true);
        }
      } finally {
        agent.destroy();
        stop();
      }
    });
}
