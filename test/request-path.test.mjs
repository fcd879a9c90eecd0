// Which endpoint a reset cut off: the request's path (`url.path`, without the query string; kept
// with RESETWATCH_REQUEST_PATHS=true, set here) and, where Express matched a route, its template
// (`http.route`, always). Real servers (node:http, express) and clients (node:http, fetch) on
// loopback; the peer that resets is a separate process (python3, SO_LINGER 0) or a real socket's
// resetAndDestroy(). Without the setting (the default): test/process-tree-sticky.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import express from 'express';
import { captureEach, listen, closeServer, pythonAbort } from './helpers/resets.mjs';
import { pathOf } from '../dist/agent/request-target.js';
import { toAttributes as eventAttributes } from '../dist/exporters/shared/attributes.js';
import { logMessage } from '../dist/exporters/log/message.js';

process.env.RESETWATCH_REQUEST_PATHS = 'true';
const cap = captureEach();

/** A server whose handlers never answer: every request waits until its client resets. */
async function waiting(app) {
  const server = http.createServer(app);
  const port = await listen(server);
  return { server, port };
}

test('a server request cut off by its client: the path without its query string, on the event, the attributes and the line', async () => {
  const { server, port } = await waiting(() => {});
  try {
    await pythonAbort(port, 'GET /orders/17?token=s3cret&x=1#frag HTTP/1.1\r\nHost: shop.test\r\n\r\n', 150);
    const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
    assert.equal(e.request.method, 'GET');
    assert.equal(e.request.path, '/orders/17');
    assert.equal(e.request.route, undefined, 'no framework, no route');
    const a = eventAttributes(e);
    assert.equal(a['url.path'], '/orders/17');
    assert.equal(a['http.route'], undefined);
    const line = logMessage(e);
    assert.match(line, / GET shop\.test\/orders\/17 /);
    assert.doesNotMatch(JSON.stringify({ e: { ...e, context: undefined }, a, line }), /s3cret/, 'the query string is never kept');
  } finally {
    await closeServer(server);
  }
});

test("express: the matched route's template on the app's router; none in a mounted router, whose mount Express keeps as matched text", async () => {
  const app = express();
  app.get('/users/:id', () => {}); // never answers
  const orgs = express.Router();
  orgs.get('/repos/:repo', () => {});
  app.use('/orgs/:org', orgs);
  // Routes in mounted routers that pass the request on to a later app-level middleware that never
  // answers: req.route still names them, req.baseUrl is '' again.
  const api = express.Router();
  api.get('/items/:id', (_req, _res, next) => next());
  api.get('/health', (_req, _res, next) => next());
  app.use('/api', api);
  app.use(() => {});
  const { server, port } = await waiting(app);
  try {
    await pythonAbort(port, 'GET /users/42?expand=all HTTP/1.1\r\nHost: shop.test\r\n\r\n', 150);
    const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
    assert.equal(e.request.path, '/users/42');
    assert.equal(e.request.route, '/users/:id');
    assert.equal(eventAttributes(e)['http.route'], '/users/:id');
    cap.clear();

    // req.baseUrl is '/orgs/alice.smith' here: a route built from it would name the user.
    await pythonAbort(port, 'GET /orgs/alice.smith/repos/widget HTTP/1.1\r\nHost: shop.test\r\n\r\n', 150);
    const m = await cap.next((x) => x.direction === 'server' && x.localPort === port);
    assert.equal(m.request.path, '/orgs/alice.smith/repos/widget', 'the path as received (originalUrl), mount included');
    assert.equal(m.request.route, undefined);
    assert.doesNotMatch(logMessage({ ...m, request: { ...m.request, path: undefined } }), /alice/);
    cap.clear();

    for (const target of ['/api/items/7', '/api/health']) {
      await pythonAbort(port, `GET ${target} HTTP/1.1\r\nHost: shop.test\r\n\r\n`, 150);
      const x = await cap.next((ev) => ev.direction === 'server' && ev.localPort === port);
      assert.equal(x.request.path, target);
      assert.equal(x.request.route, undefined, `${target}: a route the request has left`);
      cap.clear();
    }
  } finally {
    await closeServer(server);
  }
});

test('a request pipelined behind one answered since: no age, rather than one counted from the reset', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/fast') res.end('ok');
  });
  const port = await listen(server);
  try {
    const two = 'GET /fast HTTP/1.1\r\nHost: shop.test\r\n\r\nGET /slow HTTP/1.1\r\nHost: shop.test\r\n\r\n';
    await pythonAbort(port, two, 300);
    const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
    assert.equal(e.phase, 'response');
    assert.equal(e.request.path, '/slow');
    assert.equal(e.request.ageMs, undefined, `ageMs ${e.request.ageMs}`);
  } finally {
    await closeServer(server);
  }
});

test('a client request whose server resets it: the path the app asked for (http.request and fetch)', async () => {
  // A server that resets every connection once a request's head has arrived.
  const server = net.createServer((s) => {
    let head = '';
    s.on('data', (d) => {
      head += d;
      if (head.includes('\r\n\r\n')) s.resetAndDestroy();
    });
    s.on('error', () => {});
  });
  const port = await listen(server);
  try {
    const req = http.get({ host: '127.0.0.1', port, path: '/download/report.csv?sig=abc' });
    req.on('error', () => {});
    const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
    assert.equal(e.request.path, '/download/report.csv');
    assert.equal(e.request.route, undefined);
    cap.clear();

    await fetch(`http://127.0.0.1:${port}/v2/items?page=3`).catch(() => {});
    const f = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
    assert.equal(f.request.path, '/v2/items');
  } finally {
    await closeServer(server);
  }
});

test('a path longer than 200 characters is cut, ending in an ellipsis', async () => {
  const { server, port } = await waiting(() => {});
  try {
    const long = `/blob/${'a'.repeat(400)}`;
    await pythonAbort(port, `POST ${long} HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 10\r\n\r\n`, 150);
    const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
    assert.equal(e.request.path.length, 200);
    assert.ok(e.request.path.endsWith('…'));
    assert.ok(long.startsWith(e.request.path.slice(0, -1)));
  } finally {
    await closeServer(server);
  }
});

test('request targets without a path, and absolute-form targets (a forward proxy is asked for the whole URL)', () => {
  assert.equal(pathOf('http://api.example.com:8080/a/b?c=d'), '/a/b');
  assert.equal(pathOf('https://api.example.com'), '/');
  assert.equal(pathOf('api.example.com:443'), undefined, 'CONNECT');
  assert.equal(pathOf('*'), undefined, 'OPTIONS *');
  assert.equal(pathOf('/#top'), '/');
  assert.equal(pathOf('http://shop.test?tok=/SECRET/abc'), '/', 'a slash in the query is not the path');
  assert.equal(pathOf('HTTP://shop.test#/frag'), '/');
  assert.equal(pathOf('http://user:pw@shop.test/a?b'), '/a');
  assert.equal(pathOf(undefined), undefined);
});
