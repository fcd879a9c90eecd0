// Promise 3 on the reset path, counted in syscalls: this end's address costs a getsockname per
// reset, and a storm's events mostly become counters that never show it. So it is read only for
// the resets that will get a log line or a span, that crash the app, or that an app's subscriber
// receives — every one of those carries it. strace counts the calls of the whole process tree
// (agent/bus.ts needsLocal).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startReceiver } from './helpers/otlp-receiver.mjs';
import { describeRun, fixture, resetLines, runNode } from './helpers/subprocess.mjs';

const APP = fixture('log-resets.cjs');
const RESETS = 300;
const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-syscalls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;
/**
 * The fixture under the agent and strace: its getsockname calls on TCP sockets (Node also asks the
 * stdio pipes, Unix sockets here, as it writes to them), its reset log lines, its output.
 */
async function traced(env) {
  const out = path.join(dir, `strace.${++runs}`);
  const r = await runNode(['--require', 'resetwatch', APP], {
    env: { RESETWATCH_LOG: 'stderr', ...env },
    timeout: 60000,
    wrap: ['strace', '-f', '-qq', '-e', 'trace=getsockname', '-o', out],
  });
  r.lines = resetLines(r.stderr);
  try {
    r.calls = readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l.includes('getsockname(') && l.includes('sa_family=AF_INET')).length;
  } catch (err) {
    throw new Error(`strace wrote no trace (${err.message}): can it trace here (ptrace)?\n${describeRun(r)}`);
  }
  return r;
}

const describe = (r) => `${r.calls} getsockname calls, ${r.lines.length} reset lines; ${describeRun(r).slice(-3000)}`;

test("a storm reads this end's address for the logged resets only; an app's subscriber gets it for each", async (t) => {
  // The agent's and the app's own calls (the listening sockets), without any reset.
  const none = await traced({ RESETS: '0', RESETWATCH_PORT: '0' });
  assert.equal(none.code, 0, describe(none));
  // Default outputs: the log (10 lines a second) and the Prometheus endpoint (never shows it).
  const storm = await traced({ RESETS: String(RESETS), RESETWATCH_PORT: '0' });
  assert.equal(storm.code, 0, describe(storm));
  const reads = storm.calls - none.calls;
  t.diagnostic(`${RESETS} resets: ${reads} local-address reads, ${storm.lines.length} lines logged`);
  assert.ok(storm.lines.length < RESETS / 2, `a storm beyond the log rate: ${describe(storm)}`);
  for (const l of storm.lines) assert.ok(Number.isInteger(l['network.local.port']), `every line has this end: ${JSON.stringify(l)}`);
  assert.ok(reads >= storm.lines.length && reads <= storm.lines.length + 2, `one read per logged reset: ${describe(storm)}`);
  // The public API promises every event this end's address.
  const subscribed = await traced({ RESETS: String(RESETS), RESETWATCH_PORT: '0', SUBSCRIBE: '1' });
  assert.equal(subscribed.code, 0, describe(subscribed));
  assert.ok(subscribed.calls - none.calls >= RESETS, `a read per reset: ${describe(subscribed)}`);
});

test("with spans too: this end's address is read for the resets that get a span or a line, and every one has it", async (t) => {
  const rx = await startReceiver();
  t.after(() => rx.close());
  const otel = { RESETWATCH_SPAN_RATE: '25', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_METRICS_EXPORTER: 'none' };
  const none = await traced({ ...otel, RESETS: '0' });
  assert.equal(none.code, 0, describe(none));
  const storm = await traced({ ...otel, RESETS: String(RESETS) });
  assert.equal(storm.code, 0, describe(storm));
  const spans = rx.spans.filter((s) => s.attributes['error.type'] === 'ECONNRESET');
  const reads = storm.calls - none.calls;
  t.diagnostic(`${RESETS} resets: ${reads} local-address reads, ${spans.length} spans, ${storm.lines.length} lines`);
  assert.ok(spans.length >= 25 && spans.length < RESETS / 2, `spans up to the span rate: ${spans.length}`);
  for (const s of spans)
    assert.ok(Number.isInteger(s.attributes['network.local.port']), `every span has this end: ${JSON.stringify(s.attributes)}`);
  for (const l of storm.lines) assert.ok(Number.isInteger(l['network.local.port']), `every line has this end: ${JSON.stringify(l)}`);
  // Each read is for a reset with a span or a line (most lines' resets have a span too: both
  // limits grant the first resets of each second).
  const most = Math.max(spans.length, storm.lines.length);
  assert.ok(reads >= most && reads <= spans.length + storm.lines.length + 2, `a read per reset with a span or a line: ${describe(storm)}`);
});

test("a reset that crashes the app has this end's address in its line, the log's limit spent or not", async () => {
  const none = await traced({ RESETS: '0' });
  for (const crash of ['1', 'http']) {
    // The log's limit at 1 line a second: spent by the storm when the crash comes.
    const r = await traced({ RESETS: String(RESETS), CRASH: crash, RESETWATCH_LOG_RATE: '1' });
    assert.notEqual(r.code, 0, `the app crashed: ${describe(r)}`);
    const fatal = r.lines.filter((l) => l['resetwatch.fatal'] === true);
    assert.equal(fatal.length, 1, describe(r));
    assert.ok(Number.isInteger(fatal[0]['network.local.port']), `CRASH=${crash}: ${JSON.stringify(fatal[0])}`);
    assert.ok(r.calls - none.calls <= r.lines.length + 2, `no other read: ${describe(r)}`);
  }
});
