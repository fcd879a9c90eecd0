// pino reset log lines: destinations (RESETWATCH_LOG), fields, rate limit with its summary line,
// a destination that never drains (a stderr pipe nobody reads), and the line written before a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { run, ROOT } from './helpers/otlp-receiver.mjs';

const APP = path.join(ROOT, 'test/fixtures/log-resets.cjs');
const require = createRequire(import.meta.url);

const jsonLines = (text) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
const resetLines = (text) => jsonLines(text).filter((l) => l.msg.startsWith('connection reset:'));
const stats = (r) => r.marker('STATS');
const ATTRIBUTE = /^(error\.type|network\.|server\.|tls\.|http\.|resetwatch\.)/;

test('default: one warn line per reset on stderr, with the span attribute names', async () => {
  const r = await run(APP, { RESETS: '3', RESETWATCH_LOG: 'stderr' });
  assert.equal(r.code, 0);
  const lines = resetLines(r.stderr);
  assert.equal(lines.length, 3, r.stderr);
  assert.equal(resetLines(r.stdout).length, 0);
  for (const l of lines) {
    assert.equal(l.level, 40, 'warn');
    assert.equal(l.name, 'resetwatch');
    assert.equal(typeof l.time, 'number');
    // The message says in words what the fields hold (exporters/log/message.ts).
    const port = l['server.port'];
    const read = l['resetwatch.bytes_received'];
    assert.match(
      l.msg,
      new RegExp(
        `^connection reset: client established ECONNRESET: to 127\\.0\\.0\\.1:${port}; ${read} B read, 1 B written; ` +
          `connection \\d+ ms old, idle \\d+ ms; retry ${l['resetwatch.retry']}$`,
      ),
    );
    assert.equal(l['error.type'], 'ECONNRESET');
    assert.equal(l['resetwatch.phase'], 'established');
    assert.equal(l['resetwatch.direction'], 'client');
    assert.equal(l['network.peer.address'], '127.0.0.1');
    assert.equal(l['network.transport'], 'tcp');
    assert.ok(Number.isInteger(l['server.port']) && Number.isInteger(l['network.local.port']));
    assert.equal(l['resetwatch.bytes_sent'], 1);
    assert.equal(l['resetwatch.fatal'], false);
    assert.equal(l.trace_id, undefined, 'no trace in flight: no trace_id');
    const other = Object.keys(l).filter((k) => !['level', 'time', 'pid', 'name', 'msg'].includes(k) && !ATTRIBUTE.test(k));
    assert.deepEqual(other, [], "only span attribute names besides pino's own");
  }
  assert.deepEqual(stats(r).dropped, {});
});

test('the message of an HTTP/2 reset has no idle time (the event has none: its session reads the socket natively)', () => {
  const { logMessage } = require('../dist/exporters/log/message.js');
  const base = {
    direction: 'client',
    errorType: 'ECONNRESET',
    code: 'ECONNRESET',
    phase: 'established',
    serverAddress: '127.0.0.1',
    serverPort: 8443,
    bytesReceived: 137,
    bytesSent: 145,
    connectionAgeMs: 165,
    idleMs: 165,
    retry: 'unknown',
  };
  const h2 = logMessage({ ...base, idleMs: undefined, protocol: 'h2', streamsInFlight: 4 });
  assert.match(h2, /; connection 165 ms old; 4 streams in flight; retry unknown$/, h2);
  const raw = logMessage({ ...base, protocol: 'unknown' });
  assert.match(raw, /; connection 165 ms old, idle 165 ms; retry unknown$/, raw);
});

test("a TLS server reset's message names the client, the listener's port and the virtual host the client asked for (SNI)", () => {
  const { logMessage } = require('../dist/exporters/log/message.js');
  const base = {
    direction: 'server',
    errorType: 'ECONNRESET',
    code: 'ECONNRESET',
    phase: 'tls_handshake',
    tls: true,
    bytesReceived: 517,
    bytesSent: 0,
    connectionAgeMs: 12,
    idleMs: 12,
    retry: 'unknown',
    protocol: 'unknown',
  };
  const all = logMessage({ ...base, peerAddress: '10.1.2.3', peerPort: 50123, localPort: 8443, serverAddress: 'shop.example.test' });
  assert.match(all, /: from 10\.1\.2\.3:50123 on port 8443 for shop\.example\.test \(SNI\); 517 B read/, all);
  const nameOnly = logMessage({ ...base, serverAddress: 'shop.example.test' });
  assert.match(nameOnly, /tls_handshake ECONNRESET: for shop\.example\.test \(SNI\); 517 B read/, nameOnly);
  const none = logMessage(base);
  assert.match(none, /tls_handshake ECONNRESET: 517 B read/, none);
});

test('RESETWATCH_LOG=stdout, a file path (directories created), off; RESETWATCH_LOG_LEVEL=error', async () => {
  const out = await run(APP, { RESETS: '2', RESETWATCH_LOG: 'stdout' });
  assert.equal(resetLines(out.stdout).length, 2);
  assert.equal(out.stderr, '');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-log-'));
  try {
    const file = path.join(dir, 'nested/deeper/resets.log');
    fs.mkdirSync(path.dirname(path.dirname(file)));
    fs.writeFileSync(path.join(dir, 'nested/existing'), '');
    const r = await run(APP, { RESETS: '2', RESETWATCH_LOG: file });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(resetLines(fs.readFileSync(file, 'utf8')).length, 2);
    await run(APP, { RESETS: '1', RESETWATCH_LOG: file });
    assert.equal(resetLines(fs.readFileSync(file, 'utf8')).length, 3, 'appended');

    const bad = await run(APP, { RESETS: '1', RESETWATCH_LOG: path.join(dir, 'nested/existing/x.log') });
    assert.equal(bad.code, 0);
    assert.match(bad.stderr, /^resetwatch: RESETWATCH_LOG=".*x\.log" cannot be opened \(.*\); reset log lines are off\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const off = await run(APP, { RESETS: '2', RESETWATCH_LOG: 'off' });
  assert.equal(off.stderr, '');
  assert.equal(resetLines(off.stdout).length, 0);

  const quiet = await run(APP, { RESETS: '2', RESETWATCH_LOG: 'stderr', RESETWATCH_LOG_LEVEL: 'error', RESETWATCH_LOG_RATE: '1' });
  assert.equal(quiet.stderr, '', 'RESETWATCH_LOG_LEVEL=error: no warn lines, no summary');
  assert.deepEqual(stats(quiet).dropped, {}, 'nothing counted as suppressed');
});

test('rate limit: at most RESETWATCH_LOG_RATE lines per second, then a line counting the rest', async () => {
  const r = await run(APP, { RESETS: '60', CONCURRENCY: '20', RESETWATCH_LOG: 'stderr', RESETWATCH_LOG_RATE: '5' });
  assert.equal(r.code, 0);
  const lines = resetLines(r.stderr);
  const s = stats(r);
  assert.equal(s.resets, 60);
  // A burst of 5, plus 5 per second of the run (well under a second here; a loaded machine's
  // run may last longer, and the bucket refills by the lines' own clock).
  const seconds = (lines[lines.length - 1].time - lines[0].time) / 1000;
  assert.ok(lines.length >= 5 && lines.length <= 5 + Math.max(5, Math.ceil(5 * seconds) + 1), `${lines.length} lines in ${seconds} s`);
  assert.equal(s.dropped.log_rate, 60 - lines.length, 'every suppressed line counted');
  const summary = jsonLines(r.stderr).filter((l) => 'resetwatch.suppressed' in l);
  assert.equal(summary.length, 1, 'one summary line (written on exit: the run is shorter than the summary delay)');
  assert.equal(summary[0].level, 40);
  assert.equal(summary[0]['resetwatch.suppressed'], 60 - lines.length);
  assert.match(summary[0].msg, /^resetwatch: \d+ reset log lines suppressed by the rate limit \(RESETWATCH_LOG_RATE=5\/s\)$/);
});

test('the summary line is periodic: it comes 5 s after the first suppressed line, not only at exit', async () => {
  const r = await run(APP, { RESETS: '30', CONCURRENCY: '10', RESETWATCH_LOG: 'stderr', RESETWATCH_LOG_RATE: '2', LINGER_MS: '5600' });
  assert.equal(r.code, 0);
  const lines = resetLines(r.stderr);
  const summary = jsonLines(r.stderr).filter((l) => 'resetwatch.suppressed' in l);
  assert.equal(summary.length, 1, r.stderr);
  assert.equal(summary[0]['resetwatch.suppressed'], 30 - lines.length);
  assert.ok(summary[0].time < r.marker('ENDING'), 'written while the app was still running');
  // 5 s after the first suppressed line, which came after the burst's 2 lines (a line let through
  // later, by the bucket refilling on a slow run, may be closer to it).
  assert.ok(summary[0].time - lines[1].time >= 4500, 'about 5 s after the burst');
});

test('the rate limiter: token bucket, bursts up to the rate, 0 means no limit; ready() agrees with the take() after it', () => {
  const { RateLimiter } = require(path.join(ROOT, 'dist/exporters/log/index.js'));
  let now = 0;
  const rl = new RateLimiter(10, () => now);
  for (let i = 0; i < 10; i++) assert.equal(rl.take(), true, `burst ${i}`);
  assert.equal(rl.take(), false);
  now += 100;
  assert.equal(rl.take(), true, 'one token per 100 ms');
  assert.equal(rl.take(), false);
  now += 60000;
  for (let i = 0; i < 10; i++) assert.equal(rl.take(), true);
  assert.equal(rl.take(), false, 'idle time does not bank more than one burst');
  // ready() (asked at a socket's destroy) and the take() that follows (its event) agree, though
  // a token came due between them: the reset without this end's address gets no line.
  now += 99;
  assert.equal(rl.ready(), false, 'no token yet');
  now += 2;
  assert.equal(rl.take(), false, 'as ready() said');
  assert.equal(rl.take(), true, 'the token, to the next reset');
  const unlimited = new RateLimiter(0, () => now);
  for (let i = 0; i < 1000; i++) assert.equal(unlimited.take(), true);
  assert.equal(unlimited.ready(), true);
});

test('RESETWATCH_LOG under a directory that cannot be made (/proc/x/…): one line, the app runs on', async () => {
  // Node 20's recursive mkdir looped for ever there, on the main thread: the app hung at 100 % CPU.
  const r = await run(APP, { RESETS: '2', RESETWATCH_LOG: '/proc/resetwatch-none/x/resets.log' }, { timeout: 15000 });
  assert.equal(r.code, 0, r.stderr);
  const own = r.stderr.split('\n').filter((l) => l.startsWith('resetwatch: '));
  assert.equal(own.length, 1, r.stderr);
  assert.match(own[0], /^resetwatch: RESETWATCH_LOG=".*resets\.log" cannot be opened \(ENOENT.*\); reset log lines are off$/);
  // Directories that can be made still are, however deep.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-log-'));
  const file = path.join(dir, 'a', 'b', 'c', 'resets.log');
  const ok = await run(APP, { RESETS: '2', RESETWATCH_LOG: file });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(resetLines(fs.readFileSync(file, 'utf8')).length, 2);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a host pino cannot start in (Node 20 with --frozen-intrinsics): one line says the reset lines are off, they are counted as dropped, the app runs on', async () => {
  const r = await run(APP, { RESETS: '3', RESETWATCH_LOG: 'stderr' }, { args: ['--frozen-intrinsics'] });
  assert.equal(r.code, 0, r.stderr);
  const [major, minor] = process.versions.node.split('.').map(Number);
  // pino assigns Error.prepareStackTrace as it starts, on Node before 22.9.
  if (major < 22 || (major === 22 && minor < 9)) {
    const own = r.stderr.split('\n').filter((l) => l.startsWith('resetwatch: '));
    assert.equal(own.length, 1, r.stderr);
    assert.match(
      own[0],
      /^resetwatch: reset log lines are off: pino cannot start here \(.*prepareStackTrace.*\); they are dropped and counted$/,
    );
    assert.equal(stats(r).dropped.log, 3, JSON.stringify(stats(r)));
  } else {
    assert.equal(resetLines(r.stderr).length, 3, r.stderr);
  }
});

test('a stderr pipe nobody reads: the app runs to the end, lines are dropped and counted', async () => {
  // run() reads stderr; here the parent never does: the pipe fills after ~60 KB.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-r', 'resetwatch', APP], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'stderr', RESETWATCH_LOG_RATE: '0', RESETS: '1500', CONCURRENCY: '20' },
  });
  child.stderr.pause();
  let stdout = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const [code, signal] = await new Promise((r) => child.on('exit', (c, s) => r([c, s])));
  clearTimeout(timer);
  assert.equal(signal, null, 'not killed: the app did not block on its stderr');
  assert.equal(code, 0);
  const s = JSON.parse(stdout.match(/^STATS (.*)$/m)[1]);
  assert.equal(s.resets, 1500);
  assert.ok(s.dropped.log > 500, `lines dropped and counted: ${JSON.stringify(s.dropped)}`);
  let read = 0;
  child.stderr.on('data', (d) => {
    read += d.length;
  });
  await new Promise((r) => child.stderr.on('close', r));
  assert.ok(read > 0 && read < 200000, `only what fitted in the pipe was written (${read} bytes)`);
});

test('the line for a reset that crashes the app is written, even past the rate limit', async () => {
  const r = await run(APP, { RESETS: '5', CONCURRENCY: '5', RESETWATCH_LOG: 'stderr', RESETWATCH_LOG_RATE: '1', CRASH: '1' });
  assert.equal(r.code, 1, 'the app still crashes with its own exit code');
  assert.match(r.stderr, /Error: read ECONNRESET/);
  const lines = resetLines(r.stderr);
  const fatal = lines.filter((l) => l['resetwatch.fatal'] === true);
  assert.equal(fatal.length, 1, r.stderr);
  assert.match(fatal[0].msg, /; unhandled: the app is about to crash with it$/);
  assert.ok(r.stderr.indexOf('"resetwatch.fatal":true') < r.stderr.indexOf('Error: read ECONNRESET'), "before Node's crash report");
  assert.equal(lines.length, 2, 'one line within the rate, the fatal one past it');
});
