// The sticky-session shape: a primary accepts and hands each connection over IPC to a forked child
// (child_process send(), as @socket.io/sticky and sticky-session do), which serves it with no listen
// and no dial of its own (test/fixtures/sticky.cjs). Node builds the child's socket around the
// handed handle with no diagnostics-channel message; the agent adopts it at its first read or write
// (hooks/server.ts adopt). A real client here connects to the primary and resets with a real RST
// (resetAndDestroy: SO_LINGER 0): one server event, in the child, and the connection counted once
// across the two processes (by the primary, which accepted it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { fixture, runNode, resetLines, withoutAgentLines, AGENT } from './helpers/subprocess.mjs';
import { listen, closeServer, TLS } from './helpers/resets.mjs';

const APP = fixture('sticky.cjs');

/**
 * Runs the sticky app in `mode` (with the agent unless `plain`; `handoff` as the fixture says);
 * once it prints its port, connects,
 * writes `payload`, waits `holdMs` and resets. Resolves with the run, the primary's pid, the
 * child's report and the reset events it logged.
 */
async function stickyReset(mode, payload, { plain = false, holdMs = 300, handoff = 'paused', overTls = false } = {}) {
  let dialled = false;
  const r = await runNode([...(plain ? [] : AGENT), APP, 'primary', mode, handoff], {
    env: { RESETWATCH_LOG: 'stdout' },
    onStdout(text) {
      const m = /^\{"port":(\d+)\}$/m.exec(text);
      if (!m || dialled) return;
      dialled = true;
      // TLS over a TCP socket the client holds, so that it can send the RST itself.
      const c = net.connect(Number(m[1]), '127.0.0.1', () => {
        const send = () => {
          s.write(payload);
          setTimeout(() => c.resetAndDestroy(), holdMs);
        };
        const s = overTls ? tls.connect({ socket: c, servername: 'localhost', ca: TLS.cert }, send) : c;
        s.on('error', () => {});
        if (!overTls) send();
      });
      c.on('error', () => {});
    },
  });
  assert.equal(r.code, 0, r.stderr);
  const report = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"closed"'))
    .map((l) => JSON.parse(l));
  assert.equal(report.length, 1, r.stdout);
  return { r, report: report[0], events: resetLines(r.stdout) };
}

test('an express app in a child handed its connections over IPC: a client that resets while its request waits is one server event in the child, response phase, counted once', async () => {
  const request = 'GET /slow HTTP/1.1\r\nHost: sticky.test\r\n\r\n';
  const { r, report, events } = await stickyReset('express', request);
  assert.equal(events.length, 1, r.stdout);
  const e = events[0];
  assert.equal(e.pid, report.childPid, 'logged by the child that served it');
  assert.equal(e['resetwatch.direction'], 'server');
  assert.equal(e['error.type'], 'ECONNRESET');
  assert.equal(e['resetwatch.phase'], 'response');
  assert.equal(e['http.request.method'], 'GET');
  assert.equal(e['resetwatch.request.host'], 'sticky.test');
  // The route express matched, not the path: that only with RESETWATCH_REQUEST_PATHS (test/request-path.test.mjs).
  assert.deepEqual([e['url.path'], e['http.route']], [undefined, '/slow']);
  assert.match(e.msg, / GET sticky\.test\/slow /);
  assert.equal(e['resetwatch.bytes_received'], Buffer.byteLength(request));
  assert.ok(e['resetwatch.request.age'] >= 0.2, `request age ${e['resetwatch.request.age']}`);
  assert.equal(report.error, 'ECONNRESET');
  // Counted by the primary, which accepted it; not again by the child (the family's endpoint serves the sum).
  assert.deepEqual([report.primaryOpened, report.childOpened], [1, 0]);

  // The app's own output is the same without the agent.
  const plain = await stickyReset('express', request, { plain: true });
  assert.equal(plain.events.length, 0);
  assert.deepEqual({ ...plain.report, childPid: 0 }, { ...report, childPid: 0, primaryOpened: null, childOpened: null });
  assert.equal(
    withoutAgentLines(r.stdout).replace(/\d+/g, 'N'),
    withoutAgentLines(plain.r.stdout).replace(/\d+/g, 'N').replace(/null/g, 'N'),
  );
});

test("@socket.io/sticky's hand-off (the primary read the request, the child is given it as data): a client that resets while its request waits has no request age, rather than one counted from the reset", async () => {
  const request = 'GET /slow HTTP/1.1\r\nHost: sticky.test\r\n\r\n';
  const { r, report, events } = await stickyReset('express', request, { handoff: 'first-chunk', holdMs: 500 });
  assert.equal(events.length, 1, r.stdout);
  const e = events[0];
  assert.equal(e.pid, report.childPid);
  assert.deepEqual([e['resetwatch.direction'], e['resetwatch.phase'], e['error.type']], ['server', 'response', 'ECONNRESET']);
  assert.equal(e['http.route'], '/slow');
  // The child first touched the socket at the reset: an age from there would read ~0 s.
  assert.equal(e['resetwatch.request.age'], undefined, r.stdout);
  assert.equal(e['resetwatch.hint.id'], 'client_abort');
  assert.doesNotMatch(e['resetwatch.hint'], /s into the request/);
  assert.deepEqual([report.error, report.primaryOpened, report.childOpened], ['ECONNRESET', 1, 0]);
});

test('an HTTPS app in a child handed its connections (TLS terminated in the child): a client that resets while its request waits is one TLS server event, counted once', async () => {
  const request = 'GET /slow HTTP/1.1\r\nHost: sticky.test\r\n\r\n';
  const { r, report, events } = await stickyReset('https', request, { overTls: true });
  assert.equal(events.length, 1, r.stdout);
  const e = events[0];
  assert.equal(e.pid, report.childPid);
  assert.deepEqual([e['resetwatch.direction'], e['resetwatch.phase'], e['error.type']], ['server', 'response', 'ECONNRESET']);
  assert.deepEqual([e['resetwatch.tls'], e['tls.established'], e['tls.protocol.version']], [true, true, '1.3']);
  assert.deepEqual([e['http.request.method'], e['http.route']], ['GET', '/slow']);
  // The primary counted it (plain: it never saw the TLS); the child's TLSSocket is not counted again.
  assert.deepEqual([report.primaryOpened, report.childOpened], [1, 0]);

  const plain = await stickyReset('https', request, { plain: true, overTls: true });
  assert.equal(plain.events.length, 0);
  assert.deepEqual({ ...plain.report, childPid: 0 }, { ...report, childPid: 0, primaryOpened: null, childOpened: null });
});

test('a raw TCP echo server in a child handed its connections: a client that resets after its echo is one established-phase event with both directions counted', async () => {
  const { r, report, events } = await stickyReset('echo', 'ping');
  assert.equal(events.length, 1, r.stdout);
  const e = events[0];
  assert.equal(e.pid, report.childPid);
  assert.equal(e['resetwatch.direction'], 'server');
  assert.equal(e['resetwatch.phase'], 'established');
  assert.equal(e['error.type'], 'ECONNRESET');
  assert.deepEqual([e['resetwatch.bytes_received'], e['resetwatch.bytes_sent']], [4, 4]);
  assert.deepEqual([report.error, report.primaryOpened, report.childOpened], ['ECONNRESET', 1, 0]);
});

test('a raw TCP server in a child handed each connection with its first chunk read by the primary: a client that resets soon after is not taken for a health check (the child read nothing, the client had sent)', async () => {
  const { r, report, events } = await stickyReset('quiet', 'ping', { handoff: 'first-chunk' });
  assert.equal(events.length, 1, r.stdout);
  const e = events[0];
  assert.equal(e.pid, report.childPid);
  assert.deepEqual(
    [e['resetwatch.direction'], e['resetwatch.phase'], e['error.type'], e['resetwatch.bytes_received'], e['resetwatch.bytes_sent']],
    ['server', 'established', 'ECONNRESET', 0, 0],
  );
  assert.ok(e['resetwatch.connection.age'] < 1, 'reset within a second, as health checks are');
  assert.equal(e['resetwatch.hint.id'], undefined, e['resetwatch.hint']);
});

test('a dialled connection is never taken for a handed one: with the client hook off, a peer that resets a client the app dialled is no event', async () => {
  const server = net.createServer((s) => s.on('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  try {
    const app = `const s = require('node:net').connect(${port}, '127.0.0.1', () => s.write('x'));
      s.on('error', (e) => console.log('app saw', e.code));`;
    const r = await runNode([...AGENT, '-e', app], { env: { RESETWATCH_LOG: 'stdout', RESETWATCH_DISABLED_HOOKS: 'client' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app saw ECONNRESET/);
    assert.deepEqual(resetLines(r.stdout), []);
  } finally {
    await closeServer(server);
  }
});

test("a connection from before the agent started is not taken for a handed one: the app's own require('resetwatch') after it dialled, then the peer resets: no event", async () => {
  const server = net.createServer((s) => s.on('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  try {
    const app = `const s = require('node:net').connect(${port}, '127.0.0.1', () => { require('resetwatch'); s.write('x'); });
      s.on('error', (e) => console.log('app saw', e.code));`;
    const r = await runNode(['-e', app], { env: { RESETWATCH_LOG: 'stdout' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app saw ECONNRESET/);
    assert.deepEqual(resetLines(r.stdout), []);
  } finally {
    await closeServer(server);
  }
});
