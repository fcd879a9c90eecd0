// agent/bus.ts defers a database client's reset event by one tick, with transient process
// listeners ('uncaughtExceptionMonitor', 'exit'); the log output's summary and OpenTelemetry's exit
// flush hold one too ('exit', 'beforeExit'). In an app already at its listener limit, adding one
// must not make Node print a MaxListenersExceededWarning the app never printed without the agent.
// Real loopback sockets, a real RST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT, runNode, withAndWithout, fixture, resetLines, withoutAgentLines, describeRun } from './helpers/subprocess.mjs';

test("an app at its 'exit' listener limit: no MaxListenersExceededWarning from the deferred database event, and the event is published", async () => {
  const { plain, agent } = await withAndWithout([fixture('db-exit-listeners.cjs')]);
  assert.equal(plain.code, 0, describeRun(plain));
  assert.equal(agent.code, 0, describeRun(agent));
  assert.match(plain.stdout, /app saw ECONNRESET/);
  assert.equal(withoutAgentLines(agent.stderr), withoutAgentLines(plain.stderr), 'the app sees the same stderr');
  const resets = resetLines(agent.stderr);
  assert.equal(resets.length, 1, agent.stderr);
  assert.equal(resets[0]['resetwatch.protocol'], 'postgres');
});

test("an app whose uncaught-exception capture callback catches the re-emitted error does not crash: its line says the process's handler took it", async () => {
  const { plain, agent } = await withAndWithout([fixture('db-capture-callback.cjs')]);
  assert.equal(plain.code, 0, describeRun(plain));
  assert.equal(agent.code, 0, describeRun(agent));
  assert.match(plain.stdout, /captured ECONNRESET/);
  assert.equal(agent.stdout, plain.stdout);
  const resets = resetLines(agent.stderr);
  assert.equal(resets.length, 1, agent.stderr);
  // As for a socket with no 'error' listener (promises-crash): fatal, taken by the process's handler.
  assert.equal(resets[0]['resetwatch.fatal'], true);
  assert.match(resets[0].msg, /; unhandled: passed to the process's uncaught-exception handler$/);
});

// The log output's 'exit' listener (its suppressed-lines summary, written on the way out) is there
// only while a summary waits, and never past the app's limit (a Redis cluster trial found one left
// for good after the first suppressed line); so is OpenTelemetry's 'beforeExit' flush.
const LISTENERS = fixture('process-listener-limit.cjs');
const burst = { RESETS: '30', RESETWATCH_LOG: 'stderr', RESETWATCH_LOG_RATE: '2' };
const marker = (r, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(r.stdout)?.[1]);

test("log lines over the rate limit: an 'exit' listener only while the summary waits, none at the app's limit (no warning)", async () => {
  const { plain, agent } = await withAndWithout([LISTENERS], { env: { ...burst, KIND: 'exit', LISTENERS: '10' } });
  assert.equal(agent.code, 0, describeRun(agent));
  assert.equal(marker(agent, 'DURING'), 10, agent.stdout);
  assert.equal(marker(plain, 'DURING'), 10);
  assert.doesNotMatch(agent.stderr, /MaxListenersExceededWarning/);
  assert.equal(withoutAgentLines(agent.stderr), withoutAgentLines(plain.stderr));
  assert.ok(resetLines(agent.stderr).length >= 2, agent.stderr);

  // Below the limit: one while the summary waits (5 s), none once it is written.
  const alone = await runNode([...AGENT, LISTENERS], { env: { ...burst, KIND: 'exit', LISTENERS: '0', LINGER_MS: '5800' } });
  assert.equal(marker(alone, 'DURING'), 1, alone.stdout);
  assert.equal(marker(alone, 'AFTER'), 0, alone.stderr);
  assert.match(alone.stderr, /reset log lines suppressed by the rate limit/);
});

test("OpenTelemetry export at the app's 'beforeExit' listener limit: no warning, one line saying a normal exit sends nothing more", async () => {
  const env = { KIND: 'beforeExit', LISTENERS: '10', RESETS: '2' };
  const { plain, agent } = await withAndWithout([LISTENERS], { env, agentEnv: { OTEL_TRACES_EXPORTER: 'console' } });
  assert.equal(agent.code, 0, describeRun(agent));
  assert.equal(marker(agent, 'AFTER'), 10, agent.stdout);
  assert.doesNotMatch(agent.stderr, /MaxListenersExceededWarning/);
  assert.match(
    agent.stderr,
    /^resetwatch: OpenTelemetry: the app has as many 'beforeExit' listeners as its limit; what is not exported yet at a normal exit is lost$/m,
  );
  assert.equal(withoutAgentLines(agent.stderr), withoutAgentLines(plain.stderr));
  // Below it, the listener is there as export begins (its flush on the way out); an app that
  // raised its limit gets it at its next reset.
  const below = await runNode([...AGENT, LISTENERS], { env: { ...env, LISTENERS: '0', OTEL_TRACES_EXPORTER: 'console' } });
  assert.equal(marker(below, 'AFTER'), 1, below.stdout + below.stderr);
  const raised = await runNode([...AGENT, LISTENERS], { env: { ...env, RAISE: '1', OTEL_TRACES_EXPORTER: 'console' } });
  assert.equal(marker(raised, 'AFTER'), 11, raised.stdout + raised.stderr);
  assert.doesNotMatch(raised.stderr, /MaxListenersExceededWarning/);
});
