// Promise 1 for crashes: an app with no 'error' listener where a reset lands still dies of it —
// same exit code, same stdout, the same stderr from Node — and the agent has written that reset
// out (one pino line on stderr, synchronously, before Node's crash report). Also with every hook
// body made to throw (RESETWATCH_FAULT_INJECT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAndWithout, runNode, fixture, resetLines, withoutAgentLines, describeRun, faultSites, AGENT } from './helpers/subprocess.mjs';
import { freePort } from './helpers/ports.mjs';

const DOWN = String(await freePort()); // nothing listens there

const CASES = [
  // mode, the reset line's expected fields, what Node says first
  [
    // No 'error' listener of the app's, only the one pipe() puts on its destination (found by the
    // proxies trial: the line read fatal false).
    'pipe-proxy',
    { 'error.type': 'ECONNRESET', 'resetwatch.direction': 'client', 'resetwatch.code': 'ECONNRESET', 'resetwatch.syscall': 'read' },
    'Error: read ECONNRESET',
  ],
  [
    'net-client',
    { 'error.type': 'ECONNRESET', 'resetwatch.direction': 'client', 'resetwatch.code': 'ECONNRESET', 'resetwatch.syscall': 'read' },
    'Error: read ECONNRESET',
  ],
  [
    'net-server',
    { 'error.type': 'ECONNRESET', 'resetwatch.direction': 'server', 'resetwatch.code': 'ECONNRESET', 'resetwatch.syscall': 'read' },
    'Error: read ECONNRESET',
  ],
  [
    'tls-client',
    {
      'error.type': 'ECONNRESET',
      'resetwatch.direction': 'client',
      'resetwatch.tls': true,
      'resetwatch.phase': 'established',
      'tls.protocol.version': '1.3',
    },
    'Error: read ECONNRESET',
  ],
  [
    'http-reset',
    {
      'error.type': 'ECONNRESET',
      'resetwatch.direction': 'client',
      'resetwatch.code': 'ECONNRESET',
      'resetwatch.phase': 'response',
      'http.request.method': 'GET',
    },
    'Error: read ECONNRESET',
  ],
  // Node's "socket hang up" is a peer FIN, not an RST: error.type peer_closed, code ECONNRESET.
  [
    'http-hangup',
    {
      'error.type': 'peer_closed',
      'resetwatch.direction': 'client',
      'resetwatch.code': 'ECONNRESET',
      'resetwatch.message': 'socket hang up',
      'resetwatch.phase': 'response',
    },
    'Error: socket hang up',
  ],
  // A host name with two addresses, both refused: Node's AggregateError, no syscall (clients trial).
  [
    'http-refused-dual',
    {
      'error.type': 'ECONNREFUSED',
      'resetwatch.direction': 'client',
      'resetwatch.code': 'ECONNREFUSED',
      'resetwatch.syscall': 'connect',
      'resetwatch.phase': 'connect',
      'network.peer.address': '127.0.0.1',
    },
    'AggregateError [ECONNREFUSED]: ',
    { PORT: DOWN },
  ],
];

function assertSameCrash(plain, agent) {
  assert.equal(plain.timedOut, false, describeRun(plain));
  assert.equal(plain.code, 1, `the fixture must crash without the agent\n${describeRun(plain)}`);
  assert.equal(agent.code, plain.code, `exit code\n${describeRun(agent)}`);
  assert.equal(agent.signal, plain.signal);
  assert.equal(agent.stdout, plain.stdout, 'stdout');
  // Node's own crash report, line for line (stack, "Emitted 'error' event on … instance at:", props).
  assert.equal(withoutAgentLines(agent.stderr), plain.stderr, "stderr apart from the agent's lines");
}

for (const [mode, fields, firstError, env = {}] of CASES) {
  test(`an unhandled reset still crashes the app, and is logged first: ${mode}`, async () => {
    const { plain, agent } = await withAndWithout([fixture('app-crash.cjs'), mode], { env });
    assertSameCrash(plain, agent);
    assert.match(plain.stderr, new RegExp(`^${firstError.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));

    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, `exactly one reset line\n${agent.stderr}`);
    const [line] = lines;
    assert.equal(line['resetwatch.fatal'], true, 'marked fatal');
    for (const [k, v] of Object.entries(fields)) assert.equal(line[k], v, k);
    assert.equal(line.level, 40);
    assert.equal(line.pid > 0, true);
    // Written before Node's report: the JSON line precedes the first line Node prints.
    const stderrLines = agent.stderr.split('\n');
    const jsonAt = stderrLines.findIndex((l) => l.startsWith('{'));
    const nodeAt = stderrLines.indexOf(plain.stderr.split('\n')[0]);
    assert.ok(jsonAt !== -1 && nodeAt !== -1 && jsonAt < nodeAt, `reset line before the crash report\n${agent.stderr}`);
  });
}

for (const mode of ['net-client', 'tls-client', 'http-reset']) {
  test(`a crash report that prints the reset socket (its error carries it, as pg-pool's do) shows its listeners as without the agent: ${mode}`, async () => {
    // An ORM trial: the agent's errorMonitor listener stayed on the socket, and Node's report
    // printed it ("[Symbol(events.errorMonitor)]: [ [Function (anonymous)], [Function: errorListener] ]").
    const { plain, agent } = await withAndWithout([fixture('app-crash.cjs'), mode], { env: { INSPECT: '1' } });
    assert.equal(plain.code, 1, describeRun(plain));
    assert.equal(agent.code, plain.code, describeRun(agent));
    assert.match(plain.stderr, /_events: /, "the report prints the socket's listeners");
    assert.equal(resetLines(agent.stderr).length, 1, describeRun(agent));
    // Ports and async ids differ from run to run (README Limits: the agent's own async resources).
    const digitless = (s) => s.replace(/\d+/g, 'N');
    assert.equal(digitless(withoutAgentLines(agent.stderr)), digitless(plain.stderr));
  });
}

test("a reset an 'uncaughtException' listener takes: the line says so, and the app carries on as without the agent", async () => {
  // Test runners (jest, vitest, mocha, node --test) and apps that log and carry on: the line
  // said "the app is about to crash with it" (a trial of test runners). Still `fatal` (it reached
  // no 'error' listener; most such handlers log and exit), written past the rate limit.
  for (const mode of ['net-client', 'http-reset']) {
    const { plain, agent } = await withAndWithout([fixture('app-crash.cjs'), mode], { env: { CATCH: '1' } });
    assert.equal(plain.code, 4, describeRun(plain));
    assert.equal(agent.code, plain.code, describeRun(agent));
    assert.equal(agent.stdout, plain.stdout, 'stdout');
    assert.match(plain.stdout, /^caught read ECONNRESET$/m);
    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, agent.stderr);
    assert.equal(lines[0]['resetwatch.fatal'], true, mode);
    assert.match(lines[0].msg, /; unhandled: passed to the process's uncaught-exception handler$/);
  }
});

test('crashes stay identical when every agent hook body throws', async () => {
  const sites = faultSites().join(',');
  for (const [mode, , , env = {}] of CASES) {
    const plain = await runNode([fixture('app-crash.cjs'), mode], { env });
    const agent = await runNode([...AGENT, fixture('app-crash.cjs'), mode], { env: { ...env, RESETWATCH_FAULT_INJECT: sites } });
    assertSameCrash(plain, agent);
    assert.equal(resetLines(agent.stderr).length, 0, 'no hook ran, so nothing to log');
  }
});
