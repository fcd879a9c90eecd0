// resetwatch speaks HTTP/1.1 itself for its own traffic (docs/benchmarks.md "Keep-alive
// attribution": node:http objects of a scrape or an export slow the app's own HTTP server down):
// the metrics endpoint (exporters/prometheus/http1.ts) and the OTLP POST (exporters/otel/post.ts).
// Their edge cases against real peers on loopback: Node's own http client and server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { ROOT, run, startReceiver } from './helpers/otlp-receiver.mjs';
import { freePort } from './helpers/ports.mjs';

const require = createRequire(import.meta.url);
const { Poster } = require(path.join(ROOT, 'dist/exporters/otel/post.js'));
const { Connection, SERVER_OPTIONS } = require(path.join(ROOT, 'dist/exporters/prometheus/http1.js'));

const LIMITS = { maxHeaderSize: 8192, headersTimeoutMs: 5000, idleTimeoutMs: 15000, keepAliveTimeoutMs: 310000 };

/** A net.Server answering with http1.Connection: GET → `hello <url>`, counting connections. */
async function endpoint(t) {
  const seen = { connections: 0, requests: [] };
  const server = net.createServer(SERVER_OPTIONS, (socket) => {
    seen.connections++;
    new Connection(socket, LIMITS, (req, res) => {
      seen.requests.push(req);
      res.setHeader('Content-Type', 'text/plain');
      const body = `hello ${req.url}`;
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { port: server.address().port, seen };
}

/** Writes `text` on a new connection; resolves with all it read once closed, ending its side after `ms`. */
function exchange(port, text, ms = 500) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(text));
    let data = '';
    c.setEncoding('latin1');
    c.on('data', (d) => {
      data += d;
    });
    c.on('error', () => {});
    c.on('close', () => resolve(data));
    setTimeout(() => c.end(), ms).unref();
  });
}

test('endpoint in an idle app: pipelined requests are all answered, though nothing else wakes its event loop', async (t) => {
  // Answered one per turn of the loop: by an unref'd immediate they waited for the app's next I/O
  // or timer (an idle app: the 6th of 6 never came), by an unref'd timer they do not.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESETWATCH_') && !k.startsWith('OTEL_')));
  const app = spawn(process.execPath, ['--require', 'resetwatch', '-e', "require('node:net').createServer().listen(0, '127.0.0.1')"], {
    cwd: ROOT,
    env: { ...env, RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => app.kill('SIGKILL'));
  const port = await new Promise((resolve) => {
    let err = '';
    app.stderr.on('data', (d) => {
      err += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
  });
  const n = 50;
  const answers = await new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n)));
    let data = '';
    c.setEncoding('latin1');
    const done = () => {
      c.destroy();
      resolve(data.split('HTTP/1.1 200 OK').length - 1);
    };
    c.on('data', (d) => {
      data += d;
      if (data.split('HTTP/1.1 200 OK').length - 1 === n) done();
    });
    // Generous: answered, they all come within milliseconds.
    setTimeout(done, 5000).unref();
  });
  assert.equal(answers, n);
});

test('endpoint HTTP/1.1: keep-alive with node:http as client, pipelined heads, HEAD, HTTP/1.0, bad and oversized heads', async (t) => {
  const { port, seen } = await endpoint(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const get = (p, method = 'GET') =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: p, agent, method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
  const a = await get('/metrics');
  const b = await get('/resets?limit=1');
  assert.deepEqual([a.status, a.body, a.reused], [200, 'hello /metrics', false]);
  assert.deepEqual([b.status, b.body, b.reused], [200, 'hello /resets?limit=1', true]);
  assert.match(a.headers['keep-alive'], /timeout=310/);
  const head = await get('/metrics', 'HEAD');
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String('hello /metrics'.length));
  assert.equal(seen.connections, 1, 'one kept-alive connection');

  // Two requests in one write, the second asking to close: both answered in order, then closed.
  const two = await exchange(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(two, /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello \/aHTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n[\s\S]*hello \/b$/);
  // Thousands pipelined in one write: answered one per turn of the event loop, never all in one
  // (the app's loop went on only after 2,000 answers: 141 ms). Counted in turns, not in time.
  let turns = 0;
  let counting = true;
  const count = () => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  // The last asks to close: the endpoint closes once it has answered all (10 s on a host that slow).
  const many = await exchange(
    port,
    `${'GET /p HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2000)}GET /p HTTP/1.1\r\nConnection: close\r\n\r\n`,
    10000,
  );
  counting = false;
  assert.equal(many.split('hello /p').length - 1, 2001);
  assert.ok(turns >= 1000, `2,001 pipelined answers in ${turns} turns of the event loop`);
  // A request line without a version (HTTP/0.9) or of another version: 400 at once, not 408 after
  // the head timeout (the client waits for an answer; exchange() gives up after 500 ms).
  for (const line of ['GET /metrics\r\n', 'GET /metrics HTTP/2.0\r\n']) {
    assert.match(await exchange(port, line), /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(line));
  }
  // HTTP/1.0 without keep-alive: answered and closed.
  assert.match(await exchange(port, 'GET /c HTTP/1.0\r\n\r\n'), /Connection: close\r\n\r\nhello \/c$/);
  // A request with a body is answered and the connection closed (no body is read).
  assert.match(await exchange(port, 'POST /d HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'), /Connection: close\r\n\r\nhello \/d$/);
  assert.match(await exchange(port, 'NOT HTTP\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(await exchange(port, 'GET / HTTP/1.1\r\nno colon here\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await exchange(port, `GET / HTTP/1.1\r\nX: ${'a'.repeat(9000)}`), /^HTTP\/1\.1 431 /);
  const headers = Object.fromEntries(seen.requests.map((r) => [r.url, r.headers]));
  assert.equal(headers['/b'].connection, 'close');
});

test('endpoint HTTP/1.1: heads that are not HTTP/1 get 400 at once, smuggling shapes get 400 (as node:http answered)', async (t) => {
  const { port, seen } = await endpoint(t);
  const BAD = /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n$/;
  // No CRLF CRLF will ever come: without an answer now, the client waited 5 s for a 408. (The
  // exchange half-closes after 0.5 s; a 400 before that is the endpoint's.)
  const clientHello = Buffer.from(`16030100a5010000a10303${'00'.repeat(150)}`, 'hex');
  assert.match(await exchange(port, clientHello), BAD, 'a TLS ClientHello on the plain port');
  assert.match(await exchange(port, 'GET /metrics HTTP/1.1\nHost: x\n\n'), BAD, 'bare LF line ends');
  assert.match(await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\n'), BAD, 'a bare LF before the head is complete');
  // A length said twice, both ways, or not in digits: a proxy in front may read another length.
  assert.match(await exchange(port, 'GET /s1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n'), BAD);
  assert.match(
    await exchange(port, 'POST /s2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    BAD,
  );
  assert.match(
    await exchange(port, 'GET /s3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n'),
    BAD,
  );
  assert.match(await exchange(port, 'GET /s4 HTTP/1.1\r\nHost: x\r\nContent-Length: 1e1\r\n\r\n'), BAD);
  assert.deepEqual(seen.requests, [], 'none of them reached the routes');
  // Still fine: empty lines before a request line, a CR split from its LF across writes.
  assert.match(
    await exchange(port, '\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'),
    /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello \/ok$/,
  );
  const split = await new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => {
      c.write('GET /split HTTP/1.1\r');
      setTimeout(() => c.end('\nHost: x\r\nConnection: close\r\n\r\n'), 50);
    });
    let data = '';
    c.setEncoding('latin1');
    c.on('data', (d) => {
      data += d;
    });
    c.on('close', () => resolve(data));
  });
  assert.match(split, /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello \/split$/);
});

/** A node:http server answering each POST as `answer(req, res)` says, after reading the body. */
async function collector(t, answer) {
  const seen = { connections: 0, bodies: [] };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      seen.bodies.push(Buffer.concat(chunks).toString());
      answer(req, res);
    });
  });
  server.on('connection', () => {
    seen.connections++;
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: new URL(`http://127.0.0.1:${server.address().port}/v1/metrics`), seen, server };
}

test('OTLP POST: Content-Length, chunked and close-delimited answers; kept-alive reuse; error status; timeout', async (t) => {
  const post = (p, body = 'payload') =>
    p.post({ 'Content-Type': 'application/x-protobuf', 'Content-Length': String(body.length) }, Buffer.from(body), 2000);

  const fixed = await collector(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('{}');
  });
  const p1 = new Poster(fixed.url, undefined, 2);
  t.after(() => p1.destroy());
  assert.equal(await post(p1, 'one'), undefined);
  assert.equal(await post(p1, 'two'), undefined);
  assert.deepEqual(fixed.seen.bodies, ['one', 'two']);
  assert.equal(fixed.seen.connections, 1, 'the second POST reused the kept-alive connection');

  const chunked = await collector(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"partial');
    setTimeout(() => res.end('Success":{}}'), 20);
  });
  const p2 = new Poster(chunked.url, undefined, 2);
  t.after(() => p2.destroy());
  assert.equal(await post(p2), undefined);
  assert.equal(await post(p2), undefined);
  assert.equal(chunked.seen.connections, 1, 'reused after a chunked answer');

  // No length, no chunking: the body runs to the close (HTTP/1.0 style), and a new connection follows.
  const closing = await collector(t, (req, res) => {
    req.socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody to the close');
    res.detachSocket?.(req.socket);
  });
  const p3 = new Poster(closing.url, undefined, 2);
  t.after(() => p3.destroy());
  assert.equal(await post(p3), undefined);
  assert.equal(await post(p3), undefined);
  assert.equal(closing.seen.connections, 2);

  const failing = await collector(t, (_req, res) => {
    res.writeHead(503, { 'content-length': 0 });
    res.end();
  });
  const p4 = new Poster(failing.url, undefined, 2);
  t.after(() => p4.destroy());
  assert.equal(await post(p4), 'HTTP 503');

  const silent = await collector(t, () => {});
  const p5 = new Poster(silent.url, undefined, 2);
  t.after(() => p5.destroy());
  const started = Date.now();
  assert.equal(await post(p5), 'no answer within 2000 ms');
  assert.ok(Date.now() - started < 4000);

  // Nobody listening: the connection error is the failure.
  const dead = new URL(silent.url);
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  dead.port = String(s.address().port);
  await new Promise((r) => s.close(r));
  const p6 = new Poster(dead, undefined, 2);
  assert.match(await post(p6), /ECONNREFUSED/);
});

test('endpoint HTTP/1.1: a refused client that keeps its side open and keeps sending is closed once the answer is out', async (t) => {
  const { port } = await endpoint(t);
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  c.on('error', () => {});
  let answer = '';
  c.setEncoding('latin1');
  c.on('data', (d) => {
    answer += d;
  });
  const closed = new Promise((r) => c.on('close', r));
  await new Promise((r) => c.on('connect', r));
  c.write('NOT HTTP\r\n\r\n');
  // Keeps sending (more than the header limit) and never ends its side.
  const flood = setInterval(() => c.write(Buffer.alloc(4096, 'x')), 20);
  t.after(() => clearInterval(flood));
  const verdict = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(r, 3000, 'still open'))]);
  clearInterval(flood);
  c.destroy();
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(verdict, 'closed');
});

test("endpoint HTTP/1.1: header names are the request's own, never inherited ones", async (t) => {
  const seen = [];
  const server = net.createServer(
    (socket) =>
      new Connection(socket, LIMITS, (req, res) => {
        seen.push(req.headers);
        res.end('');
      }),
  );
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  await exchange(server.address().port, 'GET / HTTP/1.1\r\nHost: x\r\n__proto__: y\r\n\r\n');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].constructor, undefined);
  assert.equal(seen[0].toString, undefined);
  assert.equal(Object.getOwnPropertyDescriptor(seen[0], '__proto__')?.value, 'y');
});

test('OTLP POST: a huge answer body is counted down, not kept (64 MB within the timeout); a header with CR or LF is refused, not sent', async (t) => {
  // 64 MB of body in 1 MB writes: the POST completes and the connection is reused.
  const big = await collector(t, (_req, res) => {
    const mb = Buffer.alloc(1 << 20, 'a');
    res.writeHead(200, { 'content-length': 64 * mb.length });
    let n = 0;
    const more = () => {
      while (n < 64) {
        n++;
        if (!res.write(mb)) {
          res.once('drain', more);
          return;
        }
      }
      res.end();
    };
    more();
  });
  const p = new Poster(big.url, undefined, 2);
  t.after(() => p.destroy());
  // Kept and concatenated chunk by chunk, 64 MB would take far longer than the 10 s the POST is given.
  assert.equal(await p.post({ 'Content-Length': '1' }, Buffer.from('x'), 10000), undefined);
  assert.equal(await p.post({ 'Content-Length': '1' }, Buffer.from('y'), 10000), undefined);
  assert.equal(big.seen.connections, 1);

  const failure = await p.post({ 'Content-Length': '1', 'x-a': 'b\r\nx-evil: 1' }, Buffer.from('z'), 2000);
  assert.match(failure, /invalid character in header "x-a"/);
  assert.deepEqual(big.seen.bodies, ['x', 'y'], 'nothing was sent');
});

test('an app scraped and exporting OTLP over http has no node:http loaded by resetwatch (its objects would slow the app down)', async (t) => {
  const rx = await startReceiver();
  t.after(() => rx.close?.());
  const port = await freePort();
  const app = path.join(mkdtempSync(path.join(os.tmpdir(), 'rw-own-http-')), 'app.js');
  writeFileSync(
    app,
    `const net = require('node:net');
let scraped = '';
let done = false;
// Scraped from 400 ms on, again every 100 ms while the endpoint is not bound yet (a loaded host).
const scrape = () => {
  const c = net.connect(${port}, '127.0.0.1', () => c.write('GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));
  c.on('data', (d) => { scraped += d; });
  c.on('error', () => done || setTimeout(scrape, 100));
};
setTimeout(scrape, 400);
setTimeout(() => {
  done = true;
  console.log('scraped ' + JSON.stringify(scraped.split('\\r\\n')[0]));
  console.log('loaded ' + JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (https?|_http_\\w+)$/.test(m))));
}, 2500);
`,
  );
  const r = await run(app, {
    RESETWATCH_PORT: String(port),
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_METRIC_EXPORT_INTERVAL: '300',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.marker('scraped'), 'HTTP/1.1 200 OK');
  assert.ok(rx.metrics.length > 0, 'metrics were exported');
  assert.deepEqual(r.marker('loaded'), []);
});

test('OTLP POST over TLS: key material that does not parse fails the export, opens no socket, crashes nothing', async (t) => {
  // An accepting port counts connections; a closed one would have crashed the process with an
  // unhandled ECONNREFUSED on the socket left connecting.
  let accepted = 0;
  const open = net.createServer((c) => {
    accepted++;
    c.destroy();
  });
  await new Promise((r) => open.listen(0, '127.0.0.1', r));
  t.after(() => open.close());
  const closed = net.createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = closed.address().port;
  await new Promise((r) => closed.close(r));
  const cert = readFileSync(path.join(ROOT, 'test/fixtures/otel-tls/cert.pem'));
  for (const port of [open.address().port, closedPort]) {
    const url = new URL(`https://127.0.0.1:${port}/v1/metrics`);
    const p = new Poster(url, { cert, key: 'not a key' }, 2);
    t.after(() => p.destroy());
    for (let i = 0; i < 3; i++) {
      const failure = await p.post({ 'Content-Length': '1' }, Buffer.from('x'), 2000); // resolves, never rejects
      assert.match(failure, /^TLS settings \(OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY\) not usable: .*DECODER/);
    }
  }
  await new Promise((r) => setTimeout(r, 200)); // a refused connect's error would surface here
  assert.equal(accepted, 0, 'no connection made for an export that cannot be sent');
});

test('OTLP POST: a header named twice (OTEL_EXPORTER_OTLP_HEADERS naming Host, User-Agent, Content-Type) is sent once, the last value', async (t) => {
  const heads = [];
  const server = net.createServer((c) => {
    let data = '';
    c.on('data', (d) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end !== -1 && heads.length === 0) {
        heads.push(data.slice(0, end).split('\r\n').slice(1));
        c.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = new URL(`http://127.0.0.1:${server.address().port}/v1/traces`);
  const p = new Poster(url, undefined, 2);
  t.after(() => p.destroy());
  // In the order otlp.ts builds them: the environment's headers first, then its own.
  const headers = {
    host: 'collector.example',
    'user-agent': 'mine/1',
    'content-type': 'application/x-protobuf',
    'Content-Type': 'application/x-protobuf',
    'Content-Length': '1',
    'User-Agent': 'resetwatch',
  };
  assert.equal(await p.post(headers, Buffer.from('x'), 2000), undefined);
  const names = heads[0].map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
  assert.deepEqual([...names].sort(), ['connection', 'content-length', 'content-type', 'host', 'user-agent']);
  assert.ok(heads[0].includes('host: collector.example'), heads[0].join(' | '));
  assert.ok(heads[0].includes('User-Agent: resetwatch'), heads[0].join(' | '));
  // A name that is no token, a value with a control character: refused as http.request refused
  // them, before anything is sent (a collector would answer 400, or read two fields).
  assert.match(await p.post({ 'bad name': '1' }, Buffer.from('x'), 2000), /invalid header name "bad name" \(not an HTTP token\)/);
  assert.match(await p.post({ 'x-v': 'a\u0001b' }, Buffer.from('x'), 2000), /invalid character in header "x-v"/);
  assert.match(await p.post({ 'x-v': 'a\r\nx-smuggled: 1' }, Buffer.from('x'), 2000), /invalid character/);
  assert.equal(heads.length, 1, 'nothing sent for them');
});

test('OTLP POST on a kept-alive connection: the head and the body leave together (Nagle held the body back for the delayed ACK)', async (t) => {
  // What the collector reads per POST: one read holding head and body. Written apart with Nagle
  // on, the body followed in a second read once the head's ACK came back (~40 ms later on Linux).
  const reads = [];
  const server = net.createServer((c) => {
    let pending = 0;
    c.on('data', (d) => {
      if (pending === 0) reads.push(0);
      reads[reads.length - 1]++;
      pending += d.length;
      if (pending >= 1000) {
        pending = 0;
        c.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = new URL(`http://127.0.0.1:${server.address().port}/v1/traces`);
  const p = new Poster(url, undefined, 2);
  t.after(() => p.destroy());
  // Head + body = 1000 bytes exactly, so the receiver knows where each POST ends.
  const headLength = `POST /v1/traces HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 0000\r\nConnection: keep-alive\r\n\r\n`.length;
  const body = Buffer.alloc(1000 - headLength, 120);
  for (let i = 0; i < 6; i++) assert.equal(await p.post({ 'Content-Length': String(body.length).padStart(4, '0') }, body, 2000), undefined);
  assert.deepEqual(reads.slice(1), [1, 1, 1, 1, 1], 'each POST on the reused connection in one read');
});

test('OTLP POST over TLS: the certificate must be for the address or name in the endpoint', async () => {
  // The fixture's certificate is for localhost and 127.0.0.1; 127.0.0.2 is loopback too.
  const dir = path.join(ROOT, 'test/fixtures/otel-tls');
  const cert = readFileSync(path.join(dir, 'cert.pem'));
  const key = readFileSync(path.join(dir, 'key.pem'));
  const https = await import('node:https');
  let answered = 0;
  const result = async (host, name = host) => {
    const server = https.createServer({ cert, key }, (req, res) => {
      answered++;
      req.resume();
      req.on('end', () => res.end());
    });
    await new Promise((r) => server.listen(0, host, r));
    const url = new URL(`https://${name}:${server.address().port}/v1/traces`);
    const p = new Poster(url, { ca: cert }, 2);
    const failure = await p.post({ 'Content-Length': '1' }, Buffer.from('x'), 2000);
    p.destroy();
    server.close();
    return failure;
  };
  assert.equal(await result('127.0.0.1'), undefined);
  assert.equal(await result('127.0.0.1', 'localhost'), undefined);
  assert.match(String(await result('127.0.0.2')), /IP: 127\.0\.0\.2 is not in the cert's list/);
  assert.equal(answered, 2, 'nothing sent to the address the certificate is not for');
});

test('endpoint HTTP/1.1: a client that closes its sending side after its request still gets a late answer', async (t) => {
  // Answered 50 ms later, as /metrics of a process family or /resets are: by then the client's FIN is in.
  const server = net.createServer(
    SERVER_OPTIONS,
    (socket) =>
      new Connection(socket, LIMITS, (_req, res) =>
        setTimeout(() => {
          res.setHeader('Content-Length', 5);
          res.end('later');
        }, 50),
      ),
  );
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const answer = await new Promise((resolve) => {
    const c = net.connect(server.address().port, '127.0.0.1', () => c.end('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    c.setEncoding('latin1');
    c.on('data', (d) => {
      data += d;
    });
    c.on('error', () => {});
    c.on('close', () => resolve(data)); // the endpoint closes once it answered
  });
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n\r\nlater$/);
});

test("OTLP POST: a kept-alive connection is let go a second before the collector's Keep-Alive timeout", async (t) => {
  const short = await collector(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('{}');
  });
  short.server.keepAliveTimeout = 3000; // Keep-Alive: timeout=3
  const p = new Poster(short.url, undefined, 2);
  t.after(() => p.destroy());
  const post = (body) => p.post({ 'Content-Length': String(body.length) }, Buffer.from(body), 2000);
  assert.equal(await post('a'), undefined);
  await new Promise((r) => setTimeout(r, 2300)); // past 3 − 1 s, before the collector's own close
  assert.equal(await post('b'), undefined);
  assert.equal(short.seen.connections, 2, 'the second POST went on a new connection');
  // timeout=1 leaves no safe time: never reused.
  const one = await collector(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('{}');
  });
  one.server.keepAliveTimeout = 1000;
  const q = new Poster(one.url, undefined, 2);
  t.after(() => q.destroy());
  for (const body of ['x', 'y']) assert.equal(await q.post({ 'Content-Length': '1' }, Buffer.from(body), 2000), undefined);
  assert.equal(one.seen.connections, 2);
});
