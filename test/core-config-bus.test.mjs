// Config resolution (one place, bad values reported in one line and replaced) and the event bus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { loadAgent, capture, listen, closeServer } from './helpers/resets.mjs';

const require = createRequire(import.meta.url);
const { resolveConfig, DEFAULTS, ENV } = require('../dist/agent/config.js');

/** What `fn` writes to fd 2 (the agent's messages are one `fs.writeSync(2, …)` each: agent/diag.ts). */
function stderrOf(fn) {
  const lines = [];
  const writeSync = fs.writeSync;
  fs.writeSync = (fd, chunk, ...rest) => {
    if (fd !== 2) return writeSync(fd, chunk, ...rest);
    lines.push(String(chunk));
    return Buffer.byteLength(String(chunk));
  };
  try {
    return [fn(), lines.join('')];
  } finally {
    fs.writeSync = writeSync;
  }
}

test('defaults with an empty environment, and no output', () => {
  const [config, err] = stderrOf(() => resolveConfig({}, {}));
  assert.deepEqual(config, { ...DEFAULTS });
  assert.equal(err, '');
});

test('every setting reads its RESETWATCH_ variable', () => {
  const env = {
    RESETWATCH_DISABLED: 'true',
    RESETWATCH_LOG_LEVEL: 'error',
    RESETWATCH_LOG: '/tmp/x.log',
    RESETWATCH_LOG_RATE: '5',
    RESETWATCH_HOST: '0.0.0.0',
    RESETWATCH_PORT: 'off',
    RESETWATCH_METRICS_TOKEN: 's3cret',
    RESETWATCH_MAX_PEERS: '7',
    RESETWATCH_SERVER_PEERS: 'yes',
    RESETWATCH_RECENT: '20',
    RESETWATCH_ROOT_SPANS: '0',
    RESETWATCH_FAULT_INJECT: 'x',
  };
  const config = resolveConfig({}, env);
  assert.equal(config.disabled, true);
  assert.equal(config.logLevel, 'error');
  assert.equal(config.log, '/tmp/x.log');
  assert.equal(config.logRate, 5);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.port, 'off');
  assert.equal(config.metricsToken, 's3cret');
  assert.equal(config.maxPeers, 7);
  assert.equal(config.serverPeers, true);
  assert.equal(config.recent, 20);
  assert.equal(config.rootSpans, false);
  assert.equal(config.faultInject, 'x');
  for (const [name] of Object.values(ENV)) assert.ok(name in env || name.startsWith('RESETWATCH_'), name);
});

test('RESETWATCH_HOST: an IPv6 address in brackets is the address; a link-local one keeps its zone; anything else is one line', () => {
  // A trial of IPv6: `[::1]` passed the check and the endpoint never started (getaddrinfo
  // ENOTFOUND [::1]); `fe80::1%veth0`, which Node listens on, was refused.
  const hostOf = (v) => stderrOf(() => resolveConfig({}, { RESETWATCH_HOST: v }));
  assert.deepEqual(hostOf('[::1]'), [{ ...DEFAULTS, host: '::1' }, '']);
  assert.equal(hostOf(' fd42:6::1 ')[0].host, 'fd42:6::1');
  assert.equal(hostOf('fe80::1%veth0')[0].host, 'fe80::1%veth0');
  assert.equal(hostOf('metrics.internal')[0].host, 'metrics.internal');
  for (const bad of ['a b', '::1%', 'http://x', '[::1']) {
    const [config, err] = hostOf(bad);
    assert.equal(config.host, '127.0.0.1', bad);
    assert.match(err, /^resetwatch: RESETWATCH_HOST=".*" is not valid; using "127\.0\.0\.1"\n$/, bad);
  }
});

test('a bad value: one line naming the variable and the value used instead; the rest still apply', () => {
  const [config, err] = stderrOf(() =>
    resolveConfig({}, { RESETWATCH_PORT: 'abc', RESETWATCH_MAX_PEERS: '-3', RESETWATCH_LOG_RATE: '20' }),
  );
  assert.equal(config.port, 9465);
  assert.equal(config.maxPeers, 100);
  assert.equal(config.logRate, 20);
  const lines = err.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^resetwatch: RESETWATCH_PORT="abc" is not valid; using 9465$/);
  assert.match(lines[1], /^resetwatch: RESETWATCH_MAX_PEERS="-3" is not valid \(an integer from 1 to 10000\); using 100$/);
});

test('a RESETWATCH_ name two edits or fewer from a setting: one line naming the setting; other names are left alone', () => {
  const [config, err] = stderrOf(() =>
    resolveConfig({}, { RESETWATCH_PROT: '1234', RESETWATCH_LOGRATE: '5', RESETWATCH_K8S_POD_NAME: 'web-1', RESETWATCH_TEST_NODE: '/x' }),
  );
  assert.equal(config.port, 9465, 'ignored: the setting keeps its default');
  assert.deepEqual(err.trim().split('\n'), [
    'resetwatch: RESETWATCH_PROT is not a setting, and is ignored; did you mean RESETWATCH_PORT?',
    'resetwatch: RESETWATCH_LOGRATE is not a setting, and is ignored; did you mean RESETWATCH_LOG_RATE?',
  ]);
});

test('code options win over the environment', () => {
  const config = resolveConfig({ port: 0 }, { RESETWATCH_PORT: '1234' });
  assert.equal(config.port, 0);
});

test('the README documents every variable with its default', async () => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  for (const [key, [name]] of Object.entries(ENV)) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\``));
    assert.ok(row, `README has no table row for ${name}`);
    const def = DEFAULTS[key];
    if (def !== '' && typeof def !== 'object') assert.ok(row.includes(`\`${def}\``), `README row for ${name} shows the default ${def}`);
  }
});

test('onReset: unsubscribe works; a throwing subscriber is counted and never reaches the app or the others', async () => {
  const { onReset } = await loadAgent();
  assert.throws(() => onReset('nope'), TypeError);
  const { stats } = (await loadAgent()).agent;
  const errorsBefore = stats.agentErrors;
  const stop = onReset(() => {
    throw new Error('subscriber bug');
  });
  const cap = capture(onReset);
  const unsubscribed = [];
  onReset((e) => unsubscribed.push(e))();
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  const [, err] = await new Promise((resolve) => {
    const lines = [];
    const writeSync = fs.writeSync;
    fs.writeSync = (fd, chunk, ...rest) => {
      if (fd === 2) lines.push(String(chunk));
      return writeSync(fd, chunk, ...rest);
    };
    const sock = net.connect(port, '127.0.0.1', () => sock.write('x'));
    sock.on('error', () => {});
    sock.on('close', () =>
      setTimeout(() => {
        fs.writeSync = writeSync;
        resolve([null, lines.join('')]);
      }, 20),
    );
  });
  const e = await cap.next((x) => x.serverPort === port);
  assert.equal(e.errorType, 'ECONNRESET');
  assert.equal(unsubscribed.length, 0);
  assert.equal(stats.agentErrors, errorsBefore + 1);
  assert.match(err, /resetwatch: internal error in subscriber \(the app is unaffected\): subscriber bug/);
  stop();
  cap.stop();
  await closeServer(server);
});

test('connections opened are counted by direction and TLS', async () => {
  const { stats } = (await loadAgent()).agent;
  const before = structuredClone(stats.connections);
  const server = net.createServer((s) => s.end());
  const port = await listen(server);
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => net.connect(port, '127.0.0.1').on('close', r).resume());
  }
  await closeServer(server);
  assert.equal(stats.connections.client.plain - before.client.plain, 3);
  assert.equal(stats.connections.server.plain - before.server.plain, 3);
  assert.equal(stats.connections.client.tls - before.client.tls, 0);
});
