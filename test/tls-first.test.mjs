// The TLS hook installs itself when the app's process loads node:tls, never loading it itself
// (node:tls costs ~2 ms of a start: hooks/tls.ts); a plain HTTP service never loads it. Real TLS connections whose first network action is
// TLS, reset by a real non-Node peer (python3's ssl, SO_LINGER 0 after the handshake): the reset
// is one event on the TLS connection, as when the hook was installed at preload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, fixture, cleanEnv, resetLines, runNode, python } from './helpers/subprocess.mjs';

const APP = fixture('tls-first.cjs');
const PRELOAD = ['--require', 'resetwatch'];
const CERT = path.join(ROOT, 'test/fixtures/tls');

/** Starts the app; resolves with its first report line, and `exit` with its whole output. */
function startApp(args, { preload = true } = {}) {
  const child = spawn(process.execPath, [...(preload ? PRELOAD : []), APP, ...args], {
    cwd: ROOT,
    env: cleanEnv({ RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'stdout' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
  const exit = new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  const first = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.startsWith('{"tlsAtStart"'));
      if (line) resolve(JSON.parse(line));
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    exit.then(() => reject(new Error(`app exited before reporting: ${stderr}`)));
  });
  return { first, exit };
}

const RESET = `
def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
`;

/**
 * python3 connects to the app's TLS server at `port`, completes the handshake, sends a line and
 * resets; resolves with the app's reset events, after asserting it exited cleanly with exactly one,
 * a server event on a TLS connection.
 */
async function resetServerAfterHandshake(app, port) {
  await python(`
import socket, ssl, struct, time
${RESET}
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', ${port})))
s.sendall(b'hello')
time.sleep(0.1)
reset(s)
`).done;
  const r = await app.exit;
  assert.equal(r.code, 0, r.stderr);
  const events = resetLines(r.stdout);
  assert.equal(events.length, 1, r.stdout);
  assert.equal(events[0]['resetwatch.direction'], 'server');
  assert.equal(events[0]['resetwatch.tls'], true);
  return events;
}

test('a TLS server is the first thing the app does: its reset is one server event on the TLS connection', async () => {
  const app = startApp(['server']);
  const first = await app.first;
  assert.deepEqual(
    [first.tlsAtStart, first.before, first.after],
    [false, true, true],
    'not loaded by the agent; installed as the app loaded it',
  );
  const events = await resetServerAfterHandshake(app, first.port);
  assert.equal(events[0]['tls.established'], true);
  assert.equal(events[0]['error.type'], 'ECONNRESET');
});

test('a dial, then TLS over that socket (STARTTLS) is the first thing the app does: one client event on the TLS connection', async () => {
  const peer = python(`
import socket, ssl, struct, time
${RESET}
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain('${CERT}/cert.pem', '${CERT}/key.pem')
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
c, _ = srv.accept()
s = ctx.wrap_socket(c, server_side=True)
s.recv(5)
time.sleep(0.1)
reset(s)
`);
  const port = Number(await peer.line);
  const app = startApp(['client', String(port)]);
  const first = await app.first;
  assert.deepEqual(
    [first.tlsAtStart, first.before, first.after],
    [false, true, true],
    'not loaded by the agent; installed as the app loaded it',
  );
  await peer.done;
  const r = await app.exit;
  assert.equal(r.code, 0, r.stderr);
  const events = resetLines(r.stdout);
  assert.equal(events.length, 1, r.stdout);
  assert.equal(events[0]['resetwatch.direction'], 'client');
  assert.equal(events[0]['resetwatch.tls'], true);
  assert.equal(events[0]['tls.established'], true);
  assert.equal(events[0]['error.type'], 'ECONNRESET');
  assert.equal(events[0]['server.port'], port);
});

test('a TLS server in a forked child that gets its sockets over IPC and never listens nor dials: its reset is one server event', async () => {
  const app = startApp(['ipc']);
  const first = await app.first;
  const events = await resetServerAfterHandshake(app, first.port);
  assert.equal(events[0]['tls.established'], true);
  assert.equal(events[0]['error.type'], 'ECONNRESET');
});

test("start() in code after the TLS server listens: the hooks restart, and the next connection's reset is one server event", async () => {
  const app = startApp(['start-after-listen']);
  const first = await app.first;
  const events = await resetServerAfterHandshake(app, first.port);
  assert.equal(events[0]['error.type'], 'ECONNRESET');
});

test("the app's own require('resetwatch') after its TLS server listens (no preload): the hook installs at once, the next connection's reset is one server event", async () => {
  const app = startApp(['require-after-listen'], { preload: false });
  const first = await app.first;
  const events = await resetServerAfterHandshake(app, first.port);
  assert.equal(events[0]['error.type'], 'ECONNRESET');
});

test('a plain HTTP service never loads node:tls: its server listens and its client dials, and a reset is recorded all the same', async () => {
  const app = `const http = require('node:http');
    const net = require('node:net');
    const server = http.createServer(() => {});
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1', () => {
        c.write('POST /upload HTTP/1.1\\r\\nHost: plain.test\\r\\nContent-Length: 100\\r\\n\\r\\nabc');
        setTimeout(() => c.resetAndDestroy(), 100);
      });
      c.on('close', () => setTimeout(() => {
        console.log('tls loaded', process.moduleLoadList.includes('NativeModule tls'));
        server.close();
      }, 100));
    });`;
  const { code, stdout, stderr } = await runNode([...PRELOAD, '-e', app], { env: { RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'stdout' } });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /tls loaded false/);
  const events = resetLines(stdout);
  assert.equal(events.length, 1, stdout);
  assert.deepEqual(
    [events[0]['resetwatch.direction'], events[0]['resetwatch.phase'], events[0]['resetwatch.tls']],
    ['server', 'request', false],
  );
});
