// agent/bus.ts defers a database client's reset event by one tick, with transient process
// listeners ('uncaughtExceptionMonitor', 'exit'). In an app already at its listener limit, adding
// one must not make Node print a MaxListenersExceededWarning the app never printed without the agent.
// Real loopback sockets, a real RST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAndWithout, fixture, resetLines, withoutAgentLines, describeRun } from './helpers/subprocess.mjs';

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
