// STARTTLS: a connection that speaks plain first and then upgrades to TLS over the same socket
// (PostgreSQL's SSLRequest, SMTP's STARTTLS, MySQL's SSL request). It is one connection: a reset's
// bytes count what it moved in plain too, its age runs from the connect or accept, its idle time
// from its last plain byte while the handshake runs, and its peer and library protocol are what
// the plain socket knew (found by trials of nodemailer and of STARTTLS clients: a reset in the
// handshake read 0 bytes and idle since the connect after an SMTP dialogue; mysql2 over SSL was
// `unknown`). A one-port server's peeked ClientHello is none of that. Real parts: the Debian
// PostgreSQL with SSL on and the pg client through a relay here that resets the client's
// connection; smtp-server from npm (nodemailer's) as the app's server, reset by a client here;
// mysql2 and the Debian MariaDB with TLS, a query cut off by KILL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { captureEach, listen, delay, dualLookup, TLS, ROOT } from './helpers/resets.mjs';
import { checkEvent, any, dialled, readReset } from './helpers/check-event.mjs';
import { startMariadb, startPostgresTls } from './helpers/servers.mjs';

const require = createRequire(import.meta.url);
const pg = require('pg');
const mysql = require('mysql2/promise');
const { SMTPServer } = require('smtp-server');

const cap = captureEach();

let db;
before(async () => {
  db = await startPostgresTls();
});
after(() => db?.stop());

/**
 * A TCP relay to PostgreSQL that resets the client's side (an RST: resetAndDestroy). `holdAnswer`
 * holds the server's answer to the SSLRequest (its 'S') that long; `resetAtHello` resets the client
 * when its first bytes after that answer (the ClientHello) arrive; `reset()` resets every client.
 */
async function relay({ holdAnswer = 0, resetAtHello = false } = {}) {
  const clients = new Set();
  const server = net.createServer((c) => {
    clients.add(c);
    c.on('error', () => {});
    const up = net.connect(db.port, '127.0.0.1');
    up.on('error', () => c.destroy());
    let answered = false;
    up.on('data', (b) => {
      if (answered || holdAnswer === 0) {
        answered = true;
        c.write(b);
      } else
        setTimeout(() => {
          answered = true;
          c.write(b);
        }, holdAnswer);
    });
    let sent = 0;
    c.on('data', (b) => {
      if (resetAtHello && sent >= 8 && answered) {
        up.destroy();
        c.resetAndDestroy();
        return;
      }
      sent += b.length;
      up.write(b);
    });
    c.on('close', () => up.destroy());
  });
  const port = await listen(server);
  return {
    port,
    reset: () => {
      for (const c of clients) c.resetAndDestroy();
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

const pgClient = (port) =>
  new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    ssl: { rejectUnauthorized: false },
    connectionTimeoutMillis: 5000,
  });

/** SSLRequest: 8 bytes the client sends in plain; the server's 'S': 1 byte. */
const SSL_REQUEST = 8;
const SSL_ANSWER = 1;

test('pg over SSL, reset while idle: the event counts the plain SSLRequest round trip beside the TLS bytes, and its age runs from the connect', async () => {
  const r = await relay();
  const c = pgClient(r.port);
  const errors = [];
  c.on('error', (err) => errors.push(err.code));
  const connectedAt = performance.now();
  await c.connect();
  await c.query('SELECT 1');
  const stream = c.connection.stream;
  assert.ok(stream instanceof tls.TLSSocket, 'pg upgraded its socket');
  const tlsRead = stream.bytesRead;
  const tlsWritten = stream.bytesWritten;
  const localPort = stream.localPort;
  await delay(300);
  r.reset();
  const e = await cap.next((x) => x.direction === 'client' && x.localPort === localPort);
  const age = performance.now() - connectedAt;
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'established',
    ...dialled(r.port),
    localPort,
    tls: true,
    tlsVersion: 'TLSv1.3',
    protocol: 'postgres',
    bytesReceived: SSL_ANSWER + tlsRead,
    bytesSent: SSL_REQUEST + tlsWritten,
    connectionAgeMs: (v) => v >= 300 && v <= age + 1,
    idleMs: (v) => v >= 250 && v <= 1000,
    retry: 'unknown',
    fatal: false,
  });
  await delay(50);
  assert.equal(errors[0], 'ECONNRESET');
  await r.close();
});

test('pg over SSL, reset during the handshake: the plain round trip is its bytes, and its idle time runs from the server’s answer, not from the connect', async () => {
  // The answer held 1 s: the connection is that old when the ClientHello goes out, and the reset
  // meets it at once.
  const r = await relay({ holdAnswer: 1000, resetAtHello: true });
  const c = pgClient(r.port);
  c.on('error', () => {});
  const failed = await c.connect().then(
    () => 'connected',
    (err) => err.code,
  );
  assert.equal(failed, 'ECONNRESET');
  const e = await cap.next((x) => x.direction === 'client' && x.peerPort === r.port);
  checkEvent(e, {
    time: any.recent,
    direction: 'client',
    ...readReset,
    phase: 'tls_handshake',
    ...dialled(r.port),
    tls: true,
    protocol: 'postgres',
    bytesReceived: SSL_ANSWER,
    bytesSent: SSL_REQUEST,
    connectionAgeMs: (v) => v >= 990,
    // The 10 ms activity clock and a busy host: well below the age either way.
    idleMs: (v) => v <= 400,
    retry: 'safe',
    hint: (h) => h?.id === 'tls_mismatch',
    fatal: false,
  });
  await r.close();
});

/** Writes `line` and resolves with the server's reply (up to its last line: "NNN text"). */
function command(socket, line) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (b) => {
      text += b.toString('latin1');
      if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    if (line !== undefined) socket.write(`${line}\r\n`);
  });
}

test('smtp-server, the client resets after STARTTLS: the server event counts the plain dialogue beside the TLS bytes, its age runs from the accept, and its peer is the one smtp-server read', async () => {
  const server = new SMTPServer({
    key: TLS.key,
    cert: TLS.cert,
    authOptional: true,
    logger: false,
    onData(stream, _session, done) {
      stream.resume();
      stream.on('end', done);
    },
  });
  server.on('error', () => {});
  const port = await listen(server.server);
  const raw = net.connect(port, '127.0.0.1');
  const acceptedBefore = performance.now();
  await command(raw); // the greeting
  // Quiet in plain for a while: the age runs from the accept, not from the upgrade.
  await delay(500);
  await command(raw, 'EHLO client.example');
  await command(raw, 'STARTTLS');
  const plainRead = raw.bytesRead;
  const plainWritten = raw.bytesWritten;
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
  secure.on('error', () => {});
  await new Promise((resolve) => secure.once('secureConnect', resolve));
  await command(secure, 'EHLO client.example');
  await command(secure, 'MAIL FROM:<a@example.com>');
  await delay(200);
  const serverPort = raw.localPort;
  const tlsRead = secure.bytesRead;
  const tlsWritten = secure.bytesWritten;
  raw.resetAndDestroy();
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  const age = performance.now() - acceptedBefore;
  checkEvent(e, {
    time: any.recent,
    direction: 'server',
    ...readReset,
    phase: 'established',
    peerAddress: '127.0.0.1',
    peerPort: serverPort,
    localAddress: '127.0.0.1',
    localPort: port,
    tls: true,
    tlsVersion: 'TLSv1.3',
    protocol: 'unknown',
    bytesReceived: plainWritten + tlsWritten,
    bytesSent: plainRead + tlsRead,
    connectionAgeMs: (v) => v >= 690 && v <= age + 1,
    idleMs: (v) => v >= 150 && v <= 1000,
    retry: 'unknown',
    fatal: false,
  });
  await new Promise((r) => server.close(r));
});

test('a one-port HTTP/HTTPS server that peeks at the first bytes (httpolyglot’s shape): the peeked ClientHello, read again by TLS, is not counted, nor is its read activity', async () => {
  const https = new (await import('node:https')).Server({ key: TLS.key, cert: TLS.cert }, (_req, res) => res.end('ok'));
  const server = net.createServer((socket) => {
    socket.once('data', (first) => {
      socket.pause();
      socket.unshift(first);
      https.emit('connection', socket);
    });
  });
  const port = await listen(server);
  const raw = net.connect(port, '127.0.0.1');
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
  secure.on('error', () => {});
  await new Promise((resolve) => secure.once('secureConnect', resolve));
  secure.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => secure.on('data', (b) => b.includes('ok') && resolve()));
  await delay(100);
  const sent = secure.bytesWritten;
  const read = secure.bytesRead;
  raw.resetAndDestroy();
  const e = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.equal(e.tls, true);
  assert.equal(e.errorType, 'ECONNRESET');
  assert.equal(e.bytesReceived, sent, 'the request alone');
  assert.equal(e.bytesSent, read, 'the response alone');

  // Quiet 500 ms, then a handshake and at once an RST (within or just after the handshake, as the
  // host's timing has it): idle since the accept, as on a plain TLS server (the peeked read moved
  // no application byte).
  cap.clear();
  const quiet = net.connect(port, '127.0.0.1');
  quiet.on('error', () => {});
  await new Promise((resolve) => quiet.once('connect', resolve));
  await delay(500);
  const hello = tls.connect({ socket: quiet, rejectUnauthorized: false });
  hello.on('error', () => {});
  await delay(20);
  quiet.resetAndDestroy();
  const h = await cap.next((x) => x.direction === 'server' && x.localPort === port);
  assert.deepEqual([h.bytesReceived, h.bytesSent], [0, 0], JSON.stringify(h));
  assert.ok(h.idleMs >= 450 && h.idleMs <= h.connectionAgeMs, JSON.stringify(h));
  await new Promise((r) => server.close(r));
});

test('mysql2 over SSL (MariaDB with TLS): a query the server cuts off (KILL) is the database event, as in plain: mysql2 names its listener on the plain socket only', async () => {
  const maria = await startMariadb({
    'ssl-cert': path.join(ROOT, 'test/fixtures/tls/cert.pem'),
    'ssl-key': path.join(ROOT, 'test/fixtures/tls/key.pem'),
  });
  try {
    const options = { host: '127.0.0.1', port: maria.port, user: 'root', ssl: { rejectUnauthorized: false } };
    const admin = await mysql.createConnection(options);
    const victim = await mysql.createConnection(options);
    victim.on('error', () => {});
    const [[{ cipher }]] = await victim.query(
      "select variable_value as cipher from information_schema.session_status where variable_name = 'Ssl_cipher'",
    );
    assert.ok(cipher, 'the connection is over TLS');
    const localPort = victim.connection.stream.localPort;
    // Its rejection handled from the start: it may come before the KILL's own answer.
    const cutOff = assert.rejects(victim.query('select sleep(5)'));
    await delay(300);
    await admin.query(`KILL CONNECTION ${victim.threadId}`);
    await cutOff;
    const e = await cap.next((x) => x.direction === 'client' && x.localPort === localPort);
    assert.deepEqual([e.errorType, e.phase, e.protocol, e.tls], ['peer_closed', 'established', 'mysql', true], JSON.stringify(e));
    await admin.end();
  } finally {
    await maria.stop();
  }
});

test('STARTTLS to a host name with IPv6 and IPv4 addresses (happy eyeballs, ::1 refused): the peer is the address the plain socket connected to', async () => {
  // A server that speaks first, upgrades at STARTTLS, and resets the client after the handshake.
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.write('220 ready\r\n');
    s.once('data', () => {
      s.write('220 go ahead\r\n');
      const secure = new tls.TLSSocket(s, { isServer: true, key: TLS.key, cert: TLS.cert });
      secure.on('error', () => {});
      secure.once('data', () => s.resetAndDestroy());
    });
  });
  const port = await listen(server);
  const raw = net.connect({ host: 'upstream.test', port, lookup: dualLookup });
  raw.on('error', () => {});
  await command(raw); // the greeting
  await command(raw, 'STARTTLS');
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
  secure.on('error', () => {});
  await new Promise((resolve) => secure.once('secureConnect', resolve));
  secure.write('EHLO\r\n');
  const e = await cap.next((x) => x.direction === 'client' && x.serverPort === port);
  assert.deepEqual(
    [e.errorType, e.tls, e.serverAddress, e.peerAddress, e.peerPort],
    ['ECONNRESET', true, 'upstream.test', '127.0.0.1', port],
    JSON.stringify(e),
  );
  await new Promise((r) => server.close(r));
});
