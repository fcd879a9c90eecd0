// Promise 2, never throw into the app: a fixture that goes through every hooked path (net, TLS,
// http, https, http2, fetch, Unix sockets, resets of each kind) prints the same lines and exits with
// the same code with the agent, with every hook body throwing on entry (RESETWATCH_FAULT_INJECT),
// and with an onReset subscriber that throws. Unix-domain sockets are ignored, never an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runNode, fixture, resetLines, diagLines, describeRun, faultSites, AGENT } from './helpers/subprocess.mjs';
import { UV_HIDES_RST } from './helpers/resets.mjs';

const APP = fixture('app-everything.cjs');
// The app makes more resets per second than the default log rate (10/s) lets through.
const RATE = { RESETWATCH_LOG_RATE: '1000' };
let baseline;
const plain = async () => (baseline ??= await runNode([APP]));

function assertSameRun(got, want) {
  assert.equal(got.timedOut, false, describeRun(got));
  assert.equal(got.code, want.code, describeRun(got));
  assert.equal(got.signal, want.signal);
  assert.equal(got.stdout, want.stdout);
}

test('the fixture app runs the same with the agent, and the agent sees its resets', async () => {
  const want = await plain();
  assert.equal(want.code, 7, describeRun(want));
  assert.equal(want.stderr, '');
  assert.match(want.stdout, /^unix echo and EPIPE unix EPIPE$/m, 'the Unix socket really failed');
  const got = await runNode([...AGENT, APP], { env: RATE });
  assertSameRun(got, want);
  const lines = resetLines(got.stderr);
  assert.ok(lines.length >= 11, `resets were logged\n${got.stderr}`);
  // Unix-domain sockets are not TCP: never an event, never an error.
  for (const l of lines) assert.equal(l['network.transport'], 'tcp');
  assert.equal(lines.filter((l) => l['resetwatch.code'] === 'EPIPE').length, 0, 'the Unix EPIPE is ignored');
  assert.deepEqual(diagLines(got.stderr), []);
});

test('every hook body throwing on entry changes nothing for the app', async () => {
  const want = await plain();
  // Not the preload's install itself (when the app loads node:net): faulted, no hook body would run
  // at all, which is the next test's case.
  const sites = faultSites().filter((s) => s !== 'start.hooks');
  for (const needed of [
    'client.connect',
    'server.accept',
    'tls.init',
    'socket.error',
    'socket.close',
    'socket.destroy',
    'http.client.start',
    'http.client.finish',
    'undici.create',
    'subscriber',
  ]) {
    assert.ok(sites.includes(needed), `fault site ${needed} found in the sources`);
  }
  const got = await runNode([...AGENT, APP], { env: { RESETWATCH_FAULT_INJECT: sites.join(',') } });
  assertSameRun(got, want);
  assert.equal(resetLines(got.stderr).length, 0, 'no hook body ran to the end');
  // Each failing site is reported once ("internal error in <site>"), bounded.
  const diags = diagLines(got.stderr);
  assert.ok(
    diags.some((l) => /internal error in client\.connect .*injected fault/.test(l)),
    got.stderr,
  );
  assert.equal(new Set(diags).size, diags.length, 'each site reported once');
  assert.ok(diags.length <= 50);
});

// The kernel asked about an end of input (Socket#_final: getpeername, then one more read where
// the connection is gone, agent/next-read.ts), on Node 20 and 22: the fixture's 'net answered
// reset' and 'net race' steps go through it. A throw there stays the agent's.
test('a fault where an end of input is checked for a hidden RST changes nothing for the app', async () => {
  const want = await plain();
  const got = await runNode([...AGENT, APP], { env: { ...RATE, RESETWATCH_FAULT_INJECT: 'socket.end' } });
  assertSameRun(got, want);
  const diags = diagLines(got.stderr);
  if (UV_HIDES_RST) {
    assert.equal(diags.length, 1, got.stderr);
    assert.match(diags[0], /internal error in socket\.end .*injected fault/);
  } else assert.deepEqual(diags, [], 'libuv 1.52 reports the RST itself: nothing asked');
  assert.ok(resetLines(got.stderr).length >= 11, got.stderr);
});

test('RESETWATCH_FAULT_INJECT=all (nothing even installs) changes nothing for the app', async () => {
  const want = await plain();
  const got = await runNode([...AGENT, APP], { env: { RESETWATCH_FAULT_INJECT: 'all' } });
  assertSameRun(got, want);
  assert.equal(resetLines(got.stderr).length, 0);
});

test('a throwing onReset subscriber never reaches the app, and the log line still goes out', async () => {
  const want = await plain();
  const got = await runNode([...AGENT, '--require', fixture('app-throwing-subscriber.cjs'), APP], { env: RATE });
  assertSameRun(got, want);
  assert.ok(resetLines(got.stderr).length >= 11, got.stderr);
  const diags = diagLines(got.stderr);
  assert.equal(diags.length, 1, got.stderr);
  assert.match(diags[0], /internal error in subscriber \(the app is unaffected\): subscriber exploded/);
});

test('a throwing subscriber does not change a crash either', async () => {
  const args = [fixture('app-crash.cjs'), 'net-client'];
  const want = await runNode(args);
  const got = await runNode([...AGENT, '--require', fixture('app-throwing-subscriber.cjs'), ...args]);
  assert.equal(got.code, want.code);
  assert.equal(got.stdout, want.stdout);
  assert.equal(resetLines(got.stderr).length, 1, got.stderr);
});

test('Unix-domain sockets (net and HTTP on a path) are ignored: not watched, no event, no message', async () => {
  const app = fixture('app-unix.cjs');
  const want = await runNode([app]);
  assert.equal(want.code, 0, describeRun(want));
  const got = await runNode([...AGENT, app]);
  assert.equal(got.code, 0, describeRun(got));
  const p = JSON.parse(want.stdout);
  const a = JSON.parse(got.stdout);
  assert.deepEqual(a.out, p.out, 'the app sees the same');
  assert.deepEqual(p.out, ['echo unix', 'client errors EPIPE', 'http ok', 'http ECONNRESET socket hang up'], 'the failures were real');
  assert.deepEqual([a.agent, a.events, a.watched], [true, 0, 0]);
  assert.equal(got.stderr, '');
});

// V8 may one day refuse private fields on a non-extensible object (the TC39 proposal "Nonextensible
// Applies to Private"); Node 26's V8 does so under a flag. The error's claim (agent/classify.ts
// ErrorSource) is then kept beside a frozen error: no internal error, the same events.
const REFUSES = '--js-nonextensible-applies-to-private';
const v8Has = (flag) => execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).includes(flag);

test("a frozen error that refuses the claim's private field (V8's --js-nonextensible-applies-to-private, Node 26+) is claimed beside it: no internal error, the same events", async () => {
  if (!v8Has(REFUSES)) {
    // The matrix runs this on Node 26; older V8s have no such flag, and their frozen errors take the field.
    assert.ok(Number(process.versions.node.split('.')[0]) < 26, `Node ${process.version} lost ${REFUSES}`);
    return;
  }
  const want = 'client 2: ECONNRESET\nevents: client ECONNRESET; internal errors: 0\n';
  for (const args of [[], [REFUSES]]) {
    const r = await runNode([...args, ...AGENT, fixture('frozen-error.cjs')], { env: { RESETWATCH_LOG: 'off' } });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, want, describeRun(r));
    assert.equal(r.stderr, '', describeRun(r));
  }
});

// An app deep in recursion, near the stack's limit, as it opens a socket: the agent's hook can
// overflow there, and its guard caught that, but its report of it overflowed again and that
// RangeError reached the app from the guard (trial of runtime flags, `--stack-size`). Here the
// guarded code always overflows, under a new site each time (each reports once), from every depth
// near the limit: the guard's report meets every amount of stack left.
test('near the stack limit the guard never throws: its report of a failure that overflowed cannot overflow into the app', () => {
  const out = execFileSync(process.execPath, ['--stack-size=200', fixture('guard-stack.cjs')], {
    encoding: 'utf8',
    // stderr: the reports (up to the 50 lines diag writes at most), not looked at.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { guarded, escaped } = JSON.parse(out);
  assert.ok(guarded > 100, out);
  assert.deepEqual(escaped, []);
});
