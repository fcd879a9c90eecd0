// The log output loads pino with its first line, or 5 s after start in a process still running then
// (agent/awake.ts WARM_MS): a service's first reset does not stall its event loop on that load
// (bench/first-reset.js measures the stall), and a process done sooner never loads it. Real
// processes under `--require resetwatch`, a real RST on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runNode, AGENT } from './helpers/subprocess.mjs';

// Waits `wait` ms, notes which of pino's files are loaded, then makes one reset (a client of its
// own resets after a byte) and notes them again; prints both lists.
const APP = (wait) => `
const net = require('node:net');
const pinoFiles = () => Object.keys(require.cache).filter((f) => f.includes('/node_modules/pino/'));
const srv = net.createServer((s) => s.on('error', () => {}));
srv.listen(0, '127.0.0.1', () => setTimeout(() => {
  const before = pinoFiles();
  const c = net.connect(srv.address().port, '127.0.0.1', () => {
    c.on('error', () => {});
    c.write('x');
    setTimeout(() => c.resetAndDestroy(), 20);
  });
  c.on('close', () => setTimeout(() => {
    console.log(JSON.stringify({ before, after: pinoFiles() }));
    srv.close();
  }, 100));
}, ${Number(wait)}));
`;

function logDir(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-warm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a process still running 5 s after start has pino loaded before its first reset; that reset loads no more of it', async (t) => {
  const log = path.join(logDir(t), 'resets.log');
  const r = await runNode([...AGENT, '-e', APP(6000)], { env: { RESETWATCH_LOG: log } });
  assert.equal(r.code, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout.trim());
  assert.ok(before.length > 0, 'pino loaded ahead of the first reset');
  assert.deepEqual(after, before, 'the first reset loaded nothing more of pino');
  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 1, "the server side's reset (the client reset it itself)");
  assert.equal(lines[0]['resetwatch.direction'], 'server');
  assert.ok(lines[0].msg.startsWith('connection reset:'));
});

test('a process whose first reset comes 1 s after start loads pino with that reset (no earlier); with the log off, never', async (t) => {
  const log = path.join(logDir(t), 'resets.log');
  const early = await runNode([...AGENT, '-e', APP(1000)], { env: { RESETWATCH_LOG: log } });
  assert.equal(early.code, 0, early.stderr);
  const e = JSON.parse(early.stdout.trim());
  assert.deepEqual(e.before, [], 'not loaded ahead 1 s after start');
  assert.ok(e.after.length > 0, 'loaded by the first line');
  const off = await runNode([...AGENT, '-e', APP(6000)], { env: { RESETWATCH_LOG: 'off' } });
  assert.equal(off.code, 0, off.stderr);
  const o = JSON.parse(off.stdout.trim());
  assert.deepEqual([o.before, o.after], [[], []], 'no log output, no pino');
});
