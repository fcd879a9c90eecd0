// Promise 1 for the host's objects: with the agent, no 'error' listener, signal handler or own
// `emit` appears anywhere; every networking export and prototype method keeps its name, length
// and descriptor; instanceof and subclassing work; signals end the app as before.
// The fixture (app-shape.cjs) reports all of it as JSON; the tests compare the two runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAndWithout, runNode, fixture, describeRun, AGENT, ROOT, withoutAgentLines } from './helpers/subprocess.mjs';

async function shapes(env = {}) {
  const { plain, agent } = await withAndWithout([fixture('app-shape.cjs')], { agentEnv: env });
  for (const r of [plain, agent]) assert.equal(r.code, 0, describeRun(r));
  return { plain: JSON.parse(plain.stdout), agent: JSON.parse(agent.stdout), agentRun: agent };
}

/** The function report without the count of symbol-keyed properties (the agent marks its wrappers). */
function withoutSymbols(functions) {
  return JSON.parse(JSON.stringify(functions, (k, v) => (k === 'symbols' ? undefined : v)));
}

let cached;
// With the metrics endpoint on (a free port), as in production.
const both = () => (cached ??= shapes({ RESETWATCH_PORT: '0' }));

test('every net/tls/http/https/http2 export and prototype method keeps its name, length and descriptor', async () => {
  const { plain, agent } = await both();
  assert.ok(Object.keys(plain.functions['net.Socket.prototype']).includes('connect'));
  assert.ok(Object.keys(plain.functions['tls.TLSSocket.prototype']).length > 10);
  assert.deepEqual(withoutSymbols(agent.functions), withoutSymbols(plain.functions));
});

test('no emit is wrapped: every emitter uses EventEmitter.prototype.emit and has no own emit', async () => {
  const { plain, agent } = await both();
  assert.deepEqual(agent.emit, plain.emit);
  for (const [label, e] of Object.entries(agent.emit)) {
    if (label === 'prototypes') {
      for (const [k, v] of Object.entries(e)) assert.ok(v === true || v === null, `${k}.prototype.emit is EventEmitter's`);
    } else {
      assert.deepEqual(e, { own: false, shared: true }, label);
    }
  }
});

test('no error listener is added: listener counts are the same but for one errorMonitor listener on a TLS socket', async () => {
  const { plain, agent } = await both();
  assert.deepEqual(Object.keys(agent.listeners).sort(), Object.keys(plain.listeners).sort());
  const monitor = 'Symbol(events.errorMonitor)';
  for (const [label, counts] of Object.entries(plain.listeners)) {
    const got = { ...agent.listeners[label] };
    const want = { ...counts };
    assert.equal(got.error ?? 0, want.error ?? 0, `${label}: 'error' listeners`);
    // A watched TLS socket has the agent's errorMonitor listener from the start (TLSSocket emits
    // errors without destroy()); a plain one only once destroyed with an error (agent/sockets.ts).
    const extraMonitor = (got[monitor] ?? 0) - (want[monitor] ?? 0);
    const tls = /^(tls|https)\./.test(label) && agent.watched[label];
    assert.equal(extraMonitor, tls ? 1 : 0, `${label}: ${extraMonitor} extra errorMonitor listeners`);
    for (const o of [got, want]) delete o[monitor];
    assert.deepEqual(got, want, `${label}: other listeners`);
  }
  // The sockets are watched (so the comparison above compared something): net, tls, http, https.
  for (const label of [
    'net.client',
    'net.accepted',
    'net.subclass',
    'net.bare',
    'tls.client',
    'tls.accepted',
    'http.clientSocket0',
    'http.serverSocket',
    'https.clientSocket',
    'https.serverSocket',
  ]) {
    assert.equal(agent.watched[label], true, `${label} is watched`);
    assert.equal(plain.watched[label], false, `${label}: no state without the agent`);
  }
});

test("the agent's slots on sockets and requests are not enumerable: a logged socket, request or crash dump prints as without it", async () => {
  const { plain, agent } = await both();
  assert.ok(Object.keys(plain.shown).length > 20);
  for (const [label, keys] of Object.entries(plain.shown)) assert.deepEqual(agent.shown[label], keys, label);
});

test("no signal or process handler is added (only pino's exit-time flush)", async () => {
  const { plain, agent } = await both();
  for (const when of ['atStart', 'atEnd']) {
    const p = { ...plain.process[when] };
    const a = { ...agent.process[when] };
    // pino registers one 'exit' listener (on-exit-leak-free) to flush its buffered log lines when
    // the process exits; an 'exit' listener cannot change whether or when the process exits.
    assert.ok(a.exit - p.exit === 0 || a.exit - p.exit === 1, `${when}: exit listeners ${p.exit} -> ${a.exit}`);
    for (const o of [p, a]) {
      delete o.exit;
      o.eventNames = o.eventNames.filter((n) => n !== 'exit');
    }
    assert.deepEqual(a, p, when);
    assert.equal(a.SIGTERM, 0);
    assert.equal(a.SIGINT, 0);
    assert.equal(a.beforeExit, 0);
    assert.equal(a.uncaughtException, 0);
  }
});

test('instanceof and subclasses of net.Socket, tls.TLSSocket work as before', async () => {
  const { plain, agent } = await both();
  assert.deepEqual(agent.classes, plain.classes);
  assert.deepEqual(agent.classes.subclass, [true, true, true, 'MySocket', true]);
  assert.deepEqual(agent.classes.fetch, [200, 'ok']);
});

test('RESETWATCH_DISABLED=1: nothing is hooked, everything is exactly as without the agent', async () => {
  const { plain, agent, agentRun } = await shapes({ RESETWATCH_DISABLED: '1' });
  assert.deepEqual(agent, plain);
  assert.equal(agentRun.stderr, '');
  for (const hooked of Object.values(agent.hooked)) assert.equal(hooked, false);
  // And the enabled agent does hook (so this comparison is not vacuous).
  const enabled = (await both()).agent;
  assert.equal(enabled.hooked['net.server.socket'], true);
  assert.equal(enabled.functions['net.Socket.prototype'].connect.symbols, 1);
  assert.equal(agent.functions['net.Socket.prototype'].connect.symbols, 0);
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  test(`a ${signal}'d app dies of ${signal} as before`, async () => {
    const opts = {
      onStdout: (out, child) => {
        if (out.includes('ready') && !child.signalled) {
          child.signalled = true;
          child.kill(signal);
        }
      },
    };
    const plain = await runNode([fixture('app-signal.cjs')], opts);
    const agent = await runNode([...AGENT, fixture('app-signal.cjs')], { ...opts, env: { RESETWATCH_PORT: '0' } });
    assert.equal(plain.signal, signal, describeRun(plain));
    assert.equal(agent.signal, plain.signal, describeRun(agent));
    assert.equal(agent.code, plain.code);
    assert.equal(agent.stdout, plain.stdout);
  });
}

test("an error made inside Socket#connect or Server#listen keeps every frame of the app's: the agent's wrapper is one line more", async () => {
  // Node keeps 10 frames: the wrapper's took the app's outermost one (a handle-passing trial).
  // A fixed endpoint port: the agent watches the app's listen() calls then (step-aside.ts).
  const { plain, agent } = await withAndWithout([fixture('stack-frames.cjs')], {
    agentEnv: { RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' },
  });
  const frames = (out) => out.split('\n').filter((l) => l.trimStart().startsWith('at '));
  const without = frames(plain.stdout);
  const withAgent = frames(agent.stdout);
  assert.equal(without.length, 20, plain.stdout);
  const ours = withAgent.filter((l) => l.includes(`${ROOT}/dist/`));
  assert.deepEqual(
    withAgent.filter((l) => !ours.includes(l)),
    without,
    agent.stdout,
  );
  assert.equal(ours.length, 1, agent.stdout);
});

test('an app that keeps fewer frames than Node (Error.stackTraceLimit 0 or 2) gets the same stacks with the agent', async () => {
  // The limit raised for the wrapper's frame showed one more of Node's own there (a re-trial).
  for (const limit of ['0', '2']) {
    const { plain, agent } = await withAndWithout([fixture('stack-frames.cjs'), limit], {
      agentEnv: { RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' },
    });
    const same = (out) => out.replace(/rw-stack-\w+/g, 'rw-stack-X');
    assert.equal(same(agent.stdout), same(plain.stdout), `limit ${limit}`);
  }
});

test('an app that froze Error: the stack limit cannot be raised, nothing is thrown, the same errors and exit', async () => {
  // Setting a frozen Error's stackTraceLimit throws in strict code (patch.ts raiseStackLimit).
  const { plain, agent } = await withAndWithout([fixture('stack-frames.cjs'), 'frozen'], {
    agentEnv: { RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' },
  });
  const messages = (out) =>
    out
      .split('\n')
      .filter((l) => l !== '' && !l.trimStart().startsWith('at '))
      .map((l) => l.replace(/rw-stack-\w+/g, 'rw-stack-X'));
  assert.equal(agent.code, plain.code, agent.stderr);
  assert.deepEqual(messages(agent.stdout), messages(plain.stdout), agent.stdout);
  assert.equal(messages(plain.stdout).length, 2, plain.stdout);
  assert.equal(withoutAgentLines(agent.stderr), plain.stderr);
});
