// What a family member costs when it has nothing to tell (docs/workers.md "Process trees"): a
// member whose app is done when it would join joins nothing and loads no output; a quiet member
// that stays joins with its connection counts alone, without loading prom-client; once it resets,
// its full series reach the leader. Real processes under one NODE_OPTIONS, a real reset on loopback.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fixture } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree, killTrees } from './helpers/tree.mjs';

afterEach(killTrees);

const env = (port) => ({ RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off', RESETWATCH_LOG_LEVEL: 'debug' });

/** tree-quiet.cjs in `mode` (a root and one member) under the agent, the root's endpoint on a free port. */
async function quietTree(mode) {
  const port = await freePort();
  return { port, tree: startTree(process.execPath, [fixture('tree-quiet.cjs'), String(port), mode], { env: env(port) }) };
}

/** Sends a command to the member's control port; resolves its JSON answer. */
function command(port, cmd) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(cmd));
    let out = '';
    c.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    c.on('error', reject);
    c.on('close', () => resolve(JSON.parse(out)));
  });
}

async function scrape(port) {
  const r = await rawRequest(port);
  assert.equal(r.status, 200, r.raw);
  return parseExposition(r.body);
}

test('a member done before it would join joins nothing and prints nothing', async () => {
  const { port, tree } = await quietTree('done');
  const member = await tree.exited('member');
  await scrape(port); // the root has read whatever the member had sent by now
  assert.deepEqual({ code: member.code, stdout: member.stdout, stderr: member.stderr }, { code: 0, stdout: '', stderr: '' });
  assert.match(tree.stderr(), /family: leading/);
  assert.doesNotMatch(tree.stderr(), new RegExp(`member ${member.pid}:`), 'the leader never heard of it');
});

test('a member done before it would join joins nothing even when its first loop iteration comes 5 ms late', async () => {
  // The preload's refused bind of the family's name closes in that iteration; libuv runs due
  // timers after it, before it looks whether anything is alive: the 1 ms look fired there, and the
  // member joined (under load, one run in a hundred or two, descheduled there).
  const port = await freePort();
  const tree = startTree(process.execPath, [fixture('tree-quiet.cjs'), String(port), 'late'], { env: env(port) });
  await tree.exited('member');
  const member = tree.lines().find((l) => l.exited === 'member');
  await scrape(port);
  assert.deepEqual({ code: member.code, stdout: member.stdout, stderr: member.stderr }, { code: 0, stdout: '', stderr: '' });
  assert.doesNotMatch(tree.stderr(), new RegExp(`member ${member.pid}:`), 'the leader never heard of it');
});

test('a quiet member appears in the sum with its connection counts, without loading prom-client', async () => {
  const { port, tree } = await quietTree('quiet');
  await tree.ready(2);
  const { control } = tree.readyLine('member');
  const samples = await scrape(port);
  assert.equal((await rawRequest(port, { path: '/resets' })).headers['x-resetwatch-family'], '2', tree.stderr());
  // The member's one accepted connection (the root accepts none of its own: its endpoint's are not counted).
  assert.equal(sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'server', resetwatch_tls: 'false' }), 1);
  assert.deepEqual(await command(control, 'check'), { promClient: false }, 'joined and pulled by a scrape, still without prom-client');
});

test('a quiet member that resets sends its full series', async () => {
  const { port, tree } = await quietTree('quiet');
  await tree.ready(2);
  const { control } = tree.readyLine('member');
  const before = await scrape(port);
  assert.deepEqual(await command(control, 'check'), { promClient: false });
  assert.deepEqual(await command(control, 'reset'), { reset: 'ECONNRESET' });
  const count = (samples) => sumOf(samples, 'resetwatch_reset_connection_age_seconds_count', { resetwatch_direction: 'client' });
  const resets = (samples) => sumOf(samples, 'resetwatch_resets_total', { resetwatch_direction: 'client' });
  let after;
  for (let i = 0; i < 100; i++) {
    after = await scrape(port);
    if (resets(after) > resets(before)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(resets(after), resets(before) + 1, tree.stderr());
  assert.equal(count(after), count(before) + 1);
  assert.equal(
    sumOf(after, 'resetwatch_connections_total', { resetwatch_direction: 'server', resetwatch_tls: 'false' }),
    4,
    'its own, two commands, the reset one',
  );
  assert.deepEqual(await command(control, 'check'), { promClient: true });
});

test('a member with a UDP socket: no deprecation warning read off dgram, exits 0 under --throw-deprecation', async () => {
  const { tree } = await quietTree('dgram');
  const member = await tree.exited('member');
  assert.equal(member.code, 0, member.stderr);
  assert.doesNotMatch(member.stderr, /DEP0112|Deprecat/);
});

test('a member busy only in the thread pool joins: its app showed nothing alive at its first turn, and still runs', async () => {
  const { port, tree } = await quietTree('busy');
  const member = await tree.exited('member');
  await scrape(port);
  assert.equal(member.code, 0, member.stderr);
  assert.match(member.stderr, /family: joined as a member/);
  assert.match(tree.stderr(), new RegExp(`member ${member.pid}:[0-9a-f]+ joined`), 'the leader heard of it');
});

test('a member busy only in the thread pool at its first turn still delivers the reset it exits on', async () => {
  const { port, tree } = await quietTree('pool');
  const member = await tree.exited('member');
  assert.equal(member.code, 3, member.stderr);
  const samples = await scrape(port);
  // (The root's own first polls of its endpoint may count as refused.)
  assert.equal(sumOf(samples, 'resetwatch_resets_total', { resetwatch_direction: 'client', error_type: 'ECONNRESET' }), 1, tree.stderr());
});
