// Shared helpers for tests that make real resets on loopback and capture the agent's events.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { before, beforeEach, after } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { ROOT } from './root.mjs';

export { ROOT };
export const TLS = {
  key: readFileSync(path.join(ROOT, 'test/fixtures/tls/key.pem')),
  cert: readFileSync(path.join(ROOT, 'test/fixtures/tls/cert.pem')),
};

const [UV_MAJOR, UV_MINOR] = process.versions.uv.split('.').map(Number);
/**
 * libuv before 1.52 (Node 20, 22) reports a peer's last bytes and its RST, read in one poll, as an
 * end of input; newer libuv reads on to the RST (docs/hidden-rst.md).
 */
export const UV_HIDES_RST = UV_MAJOR === 1 && UV_MINOR < 52;

/** Starts the agent in this test process (logs off) and returns its module. */
export async function loadAgent() {
  process.env.RESETWATCH_LOG ??= 'off';
  process.env.RESETWATCH_PORT ??= 'off';
  return import('resetwatch');
}

/** Collects reset events; `next(pred)` resolves with the first matching one (or rejects on timeout). */
export function capture(onReset) {
  const events = [];
  const waiters = [];
  const stop = onReset((e) => {
    events.push(e);
    for (const w of waiters.slice())
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
  });
  return {
    events,
    stop,
    next(pred = () => true, ms = 5000) {
      if (process.env.DEBUG_EVENTS) console.error(JSON.stringify(events.map(({ context, ...e }) => e)));
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i !== -1) {
            waiters.splice(i, 1);
            reject(new Error(`no matching reset event within ${ms} ms; saw ${JSON.stringify(events.map(brief))}`));
          }
        }, ms).unref();
      });
    },
    clear() {
      events.length = 0;
    },
  };
}

/**
 * For a test file: loads the agent once and collects its events, cleared before each test (ports
 * are reused between tests: a test sees only its own events) and stopped after the last.
 */
export function captureEach() {
  let inner;
  before(async () => {
    const { onReset } = await loadAgent();
    inner = capture(onReset);
  });
  beforeEach(() => inner.clear());
  after(() => inner.stop());
  return {
    get events() {
      return inner.events;
    },
    next: (pred, ms) => inner.next(pred, ms),
    clear: () => inner.clear(),
  };
}

export function brief(e) {
  return `${e.direction}/${e.phase}/${e.errorType}`;
}

export function listen(server, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server.address().port));
  });
}

export function closeServer(server) {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A non-Node client that aborts: python3 connects, sends `payload`, waits `waitMs`, then closes
 * with SO_LINGER 0, which sends an RST (as browsers and proxies do when they give up). The payload
 * is in its code, not on its stdin, so it runs to its RST while this loop is held; the promise
 * carries the process's `pid` (processGone).
 */
export function pythonAbort(port, payload, waitMs = 100) {
  return pythonClient(port, payload, waitMs, true);
}

/** pythonAbort's client closing with a FIN instead (a plain close()), at once after `payload`. */
export function pythonClose(port, payload) {
  return pythonClient(port, payload, 0, false);
}

function pythonClient(port, payload, waitMs, abort) {
  const code = `
import base64, socket, struct, time
s = socket.create_connection(('127.0.0.1', ${Number(port)}))
s.sendall(base64.b64decode('${Buffer.from(payload).toString('base64')}'))
time.sleep(${waitMs / 1000})
${abort ? "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))" : ''}
s.close()
`;
  let pid;
  const done = new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'ignore', 'inherit'] });
    pid = child.pid;
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.on('error', reject);
    child.on('exit', (status) => {
      clearTimeout(timer);
      status === 0 ? resolve() : reject(new Error(`python3 exited ${status}`));
    });
  });
  return Object.assign(done, { pid });
}

/**
 * Holds this event loop (a stall, as a busy app has) until `done()` says so, at most `ms`, then
 * 20 ms more for what the kernel does next (an RST sent, its error delivered).
 */
export function holdLoop(done, ms = 10000) {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until);
  const settle = Date.now() + 20;
  while (Date.now() < settle);
}

/** The process has exited (a zombie not yet reaped, or gone): what it did before exiting is done. */
export function processGone(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] === 'Z';
  } catch {
    return true;
  }
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A `lookup` for net.connect/http.get answering ::1 and 127.0.0.1, as `localhost` and most cloud
 * names do: Node tries both (happy eyeballs, autoSelectFamily), ::1 first.
 */
export const dualLookup = (_host, opts, cb) =>
  opts.all
    ? cb(null, [
        { address: '::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ])
    : cb(null, '::1', 6);

/** An HTTP server for keep-alive tests: `/slow` answers after 1 s, `/async` after 20 ms, the rest at once. */
export function keepAliveServer() {
  return http.createServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('late'), 1000);
    else if (req.url === '/async') setTimeout(() => res.end('ok'), 20);
    else res.end('ok');
  });
}

/**
 * A keepAliveServer(); on one connection a keep-alive exchange, a 400 ms pause, then `second` (if
 * any), then an RST `waitMs` later. Resolves with the server's event, caught by `cap` (captureEach()).
 */
export async function reusedThenResetEvent(cap, second, waitMs) {
  const srv = keepAliveServer();
  const port = await listen(srv);
  try {
    await reusedThenReset(port, second, waitMs);
    return await cap.next((e) => e.direction === 'server' && e.localPort === port);
  } finally {
    await closeServer(srv);
  }
}

/** A keep-alive exchange, a 400 ms pause, then `second` (if any), then an RST `waitMs` later. */
export async function reusedThenReset(port, second, waitMs) {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  await new Promise((resolve) => c.once('connect', resolve));
  c.write('GET /first HTTP/1.1\r\nHost: svc\r\n\r\n');
  await new Promise((resolve) => c.once('data', resolve));
  await delay(400);
  if (second) c.write(second);
  await delay(waitMs);
  c.resetAndDestroy();
}

/**
 * A raw server that answers a connection's first request with `answer(socket)` and resets it at the
 * next one (after holding it `holdMs`, if any), and a keep-alive http client that GETs twice on
 * one pooled socket, `waitMs` apart. Resolves with the client event of the second request, caught
 * by `cap` (captureEach()).
 */
export async function secondRequestReset(cap, answer, waitMs, holdMs = 0) {
  let n = 0;
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => {
      if (++n === 1) return answer(s);
      if (holdMs === 0) s.resetAndDestroy();
      else setTimeout(() => s.resetAndDestroy(), holdMs);
    });
  });
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  try {
    await new Promise((resolve) =>
      http.get({ port, host: '127.0.0.1', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }),
    );
    await delay(waitMs);
    const req = http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume());
    req.on('error', () => {});
    return await cap.next((x) => x.direction === 'client' && x.serverPort === port);
  } finally {
    agent.destroy();
    await closeServer(server);
  }
}
