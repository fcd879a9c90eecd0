// The thread's first reset event runs the outputs cold (pino loads with the first log line, ~30 ms
// here): it is published a turn of the event loop later, after the app's own 'error' and 'close'
// listeners, not inside the socket's emit('error') where it held them back (trial of Node proxies:
// a proxy that aborted its upstream that late found the upstream's data unread and closed it with an
// RST, not a FIN). Later events are published inside the emit, as before. An app that exits or
// crashes before that turn still gets its line. Real loopback sockets, real RSTs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, withAndWithout, fixture, resetLines, withoutAgentLines, describeRun, AGENT } from './helpers/subprocess.mjs';

const APP = fixture('first-reset.cjs');
const WITH_SUBSCRIBER = [...AGENT, '--require', fixture('order-subscriber.cjs')];

test("the first event reaches subscribers after the app's own 'error' and 'close' listeners, later ones before them", async () => {
  const plain = await runNode([APP]);
  assert.equal(plain.stdout, 'error 1 ECONNRESET\nclose 1\nerror 2 ECONNRESET\nclose 2\n', describeRun(plain));
  const agent = await runNode([...WITH_SUBSCRIBER, APP], { env: { RESETWATCH_LOG: 'stderr' } });
  assert.equal(agent.code, 0, describeRun(agent));
  assert.equal(
    agent.stdout,
    'error 1 ECONNRESET\nclose 1\nevent ECONNRESET\nevent ECONNRESET\nerror 2 ECONNRESET\nclose 2\n',
    describeRun(agent),
  );
  assert.equal(resetLines(agent.stderr).length, 2, agent.stderr);
});

test("an app that exits in its first reset's 'error' listener: the same exit, and the reset's line is written", async () => {
  const { plain, agent } = await withAndWithout([APP], { env: { MODE: 'exit' }, agentEnv: { RESETWATCH_LOG: 'stderr' } });
  assert.equal(plain.code, 3, describeRun(plain));
  assert.equal(agent.code, plain.code, describeRun(agent));
  assert.equal(agent.stdout, plain.stdout);
  const lines = resetLines(agent.stderr);
  assert.equal(lines.length, 1, agent.stderr);
  assert.equal(lines[0]['resetwatch.fatal'], false);
});

test('an app that crashes on a promise rejected with its first reset, unhandled: the same crash, and the line written before it', async () => {
  const { plain, agent } = await withAndWithout([APP], { env: { MODE: 'reject' }, agentEnv: { RESETWATCH_LOG: 'stderr' } });
  assert.equal(plain.code, 1, describeRun(plain));
  assert.equal(agent.code, plain.code, describeRun(agent));
  assert.equal(agent.stdout, plain.stdout);
  assert.equal(withoutAgentLines(agent.stderr), withoutAgentLines(plain.stderr));
  const lines = resetLines(agent.stderr);
  assert.equal(lines.length, 1, agent.stderr);
  // As when it was published at once: a rejection nobody handles is not the socket's (README `fatal`).
  assert.equal(lines[0]['resetwatch.fatal'], false);
  assert.ok(agent.stderr.indexOf('"name":"resetwatch"') < agent.stderr.indexOf('ECONNRESET\n'), agent.stderr);
});
