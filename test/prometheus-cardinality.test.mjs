// Label cardinality: 5,000 distinct peers produce at most RESETWATCH_MAX_PEERS + 1 peer values; the
// rest fold into server_address="_OTHER" and are counted. Server-side peers are empty unless opted in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startApp, rawRequest, parseExposition, sumOf, peerLabel } from './helpers/prometheus.mjs';

for (const [maxPeers, env] of [
  [100, {}],
  [7, { RESETWATCH_MAX_PEERS: '7' }],
]) {
  test(`5000 distinct peers, RESETWATCH_MAX_PEERS=${maxPeers}: at most ${maxPeers + 1} peer values, the rest folded and counted`, async (t) => {
    const app = startApp('prom-peers.cjs', { PROM_PEERS: '5000', ...env }, { timeoutMs: 60000 });
    t.after(() => app.stop());
    const { done, port } = await app.ready;
    assert.equal(done.events, 5000, 'one reset per dialled peer');

    const text = (await rawRequest(port)).body;
    const samples = parseExposition(text);
    const resets = samples.filter((s) => s.name === 'resetwatch_resets_total');
    const peers = new Set(resets.map((s) => peerLabel(s.labels)));
    assert.equal(peers.size, maxPeers + 1);
    assert.ok(peers.has('_OTHER'));
    // The peer label is the host name as the app gave it, with the port: never the resolved IP.
    for (const p of peers) if (p !== '_OTHER') assert.match(p, new RegExp(`^peer-\\d+\\.example\\.test:${done.port}$`));
    assert.equal(sumOf(samples, 'resetwatch_resets_total'), 5000);
    assert.equal(sumOf(samples, 'resetwatch_resets_total', { server_address: '_OTHER' }), 5000 - maxPeers);
    assert.equal(sumOf(samples, 'resetwatch_peers_folded_total'), 5000 - maxPeers);
    // Still a valid exposition.
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20000 });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    // /resets stays bounded (RESETWATCH_RECENT, default 200) and keeps the real host names.
    const recent = JSON.parse((await rawRequest(port, { path: '/resets' })).body);
    assert.equal(recent.length, 200);
    assert.equal(recent[0]['server.address'], 'peer-4999.example.test');
  });
}

test('server-side peer: empty by default, the client address with RESETWATCH_SERVER_PEERS=1', async (t) => {
  for (const [env, want] of [
    [{}, ''],
    [{ RESETWATCH_SERVER_PEERS: '1' }, '127.0.0.1'],
  ]) {
    const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'request', ...env });
    t.after(() => app.stop());
    const { port } = await app.ready;
    const samples = parseExposition((await rawRequest(port)).body);
    const server = samples.filter((s) => s.name === 'resetwatch_resets_total' && s.labels.resetwatch_direction === 'server');
    assert.deepEqual(
      server.map((s) => peerLabel(s.labels)),
      [want],
      JSON.stringify(env),
    );
    await app.stop();
  }
});

test('RESETWATCH_RECENT bounds /resets', async (t) => {
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'connect', PROM_APP_ROUNDS: '5', RESETWATCH_RECENT: '3' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  assert.equal(JSON.parse((await rawRequest(port, { path: '/resets' })).body).length, 3);
  assert.equal(sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_resets_total'), 5);
});
