// A process tree whose root is still in its first tick while its children come and go: the root
// must hold the family socket from its preload on (from its first load of node:net, which
// child_process loads), so that what a short-lived child hands over
// waits in the socket for the root's loop (exporters/prometheus/family.ts). Real processes, real
// resets on loopback.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree, killTrees } from './helpers/tree.mjs';
import { runNode, AGENT } from './helpers/subprocess.mjs';
import { createRequire } from 'node:module';
import { ROOT } from './helpers/root.mjs';

const { familyName } = createRequire(import.meta.url)(`${ROOT}/dist/exporters/prometheus/family.js`);

afterEach(killTrees);

/** resetwatch_resets_total once it reaches `want`, or the last value after 10 s. */
async function resetsUntil(port, want) {
  const deadline = Date.now() + 10000;
  let last;
  for (;;) {
    try {
      const r = await rawRequest(port);
      if (r.status === 200) last = sumOf(parseExposition(r.body), 'resetwatch_resets_total');
    } catch (err) {
      last = err.message;
    }
    if (last === want || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('children run with execFileSync before the root first turns, each resetting and exiting: the sum has every reset', async () => {
  const port = await freePort();
  const tree = startTree(process.execPath, [fixture('tree-sync.cjs'), '2'], { env: { RESETWATCH_PORT: String(port) } });
  await tree.ready(1);
  assert.equal(await resetsUntil(port, 3), 3, 'root 1 + two children 1 each');
  const r = await tree.stop('SIGTERM');
  assert.equal(r.signal, 'SIGTERM', r.stderr);
});

// The preload binds the name through net.Server#_listen2 (exporters/prometheus/family-name.ts): on
// every Node version this runs on, the name must be held as soon as the app has node:net (the
// preload installs when the app loads it: agent/register.ts), before the app can listen or spawn,
// without node:cluster (which listen() loads, with child_process and dgram), and the family must follow.
test("the preload holds the family's name once the app loads node:net, before its next line, without loading node:cluster; its connections are not watched", async () => {
  const port = await freePort();
  const script = `
    const loaded = process.moduleLoadList.filter((m) => /^NativeModule (cluster|child_process|dgram)$/.test(m));
    const net = require('node:net');
    const path = '\\0' + process.argv[1];
    const s = net.createServer();
    s.on('error', (err) => {
      // The held name's server is a Unix-domain one to the hooks too: its connections are not watched.
      const c = net.connect({ path }, () => setTimeout(() => {
        const { stats } = require('resetwatch').agent;
        console.log(JSON.stringify({ loaded, bind: err.code, watched: stats.connections.server.plain }));
        c.destroy();
      }, 200));
    });
    s.listen({ path }, () => { console.log(JSON.stringify({ loaded, bind: 'ok' })); s.close(); });`;
  const name = familyName('127.0.0.1', port);
  const r = await runNode([...AGENT, '-e', script, name.slice(1)], { env: { RESETWATCH_PORT: String(port) } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { loaded: [], bind: 'EADDRINUSE', watched: 0 });
  // Without the agent the name is free (the check above cannot pass by accident).
  const free = await runNode(['-e', script, name.slice(1)], { env: {} });
  assert.equal(JSON.parse(free.stdout).bind, 'ok', free.stderr);
});

// A cluster worker never holds the family's name: Node deletes NODE_UNIQUE_ID before preloads run,
// and a worker whose Prometheus output starts before its first turn (a top-level `registry` read)
// never hands a held name over (it answers its primary). Held, it would accept connections it
// never reads: a sibling with the agent would join that silent holder, unscrapeable, and its
// pending writes would keep it alive. Here the primary has no agent (PM2's cluster mode).
test("a cluster worker under a primary without the agent never keeps the family's name; a sibling leads and exits", async () => {
  const port = await freePort();
  const r = await runNode([fixture('cluster-agentless-primary.cjs'), familyName('127.0.0.1', port).slice(1)], {
    env: { RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' },
    timeout: 40000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { held: false, scrape: 1, siblingExited: true }, r.stderr);
});

// The name's server is unref'd before its bind: a wrapper of _listen2 that throws after binding
// (another preload's bookkeeping) leaves no server that keeps the app alive, and the name bound
// is still the family's (a reset shows on /metrics).
test('a _listen2 wrapper that throws after the bind: the app exits on time, and the family still serves', async () => {
  const port = await freePort();
  const script = `
    const net = require('node:net');
    const s = net.createServer((c) => c.resetAndDestroy()).listen(0, '127.0.0.1', () => {
      const c = net.connect(s.address().port, '127.0.0.1');
      c.on('error', () => {});
      c.on('close', () => { s.close(); console.log('reset'); setTimeout(() => {}, Number(process.argv[1])); });
    });`;
  const env = { RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' };
  let scraped;
  const r = await runNode(['--require', fixture('wrap-listen2.cjs'), ...AGENT, '-e', script, '3000'], {
    env,
    timeout: 15000,
    onStdout: (out) => {
      if (scraped === undefined && out.includes('reset')) scraped = resetsUntil(port, 1);
    },
  });
  assert.equal(r.timedOut, false, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await scraped, 1, r.stderr);
  // Alone, with nothing left to do, it exits at once.
  const quick = await runNode(['--require', fixture('wrap-listen2.cjs'), ...AGENT, '-e', script, '0'], { env, timeout: 10000 });
  assert.equal(quick.timedOut, false, quick.stderr);
  assert.equal(quick.code, 0, quick.stderr);
});

// A pending write keeps the event loop alive, unref'd socket or not. A member whose leader does
// not read (here its own parent, blocked in execFileSync on it) would never exit, and the parent
// would wait for good: once only its writes are left, the member gives them a bounded time, then
// drops and counts them (exporters/prometheus/family.ts, watchPending).
test('a child that resets often under a parent blocked in execFileSync exits by itself; what it could not hand over is counted', async () => {
  const port = await freePort();
  const child = `
    const net = require('node:net');
    let n = 0;
    const s = net.createServer((c) => c.resetAndDestroy()).listen(0, '127.0.0.1', () => {
      const one = () => {
        const c = net.connect(s.address().port, '127.0.0.1');
        c.on('error', () => {});
        c.on('close', () => (++n < 1500 ? one() : s.close()));
      };
      for (let i = 0; i < 4; i++) one();
    });
    process.on('exit', () => console.log(JSON.stringify(require('resetwatch').agent.stats.dropped)));`;
  const parent = `
    const t0 = Date.now();
    let out;
    try {
      out = require('node:child_process').execFileSync(process.execPath, ['--require', 'resetwatch', '-e', process.argv[1]], { timeout: 15000, encoding: 'utf8' });
    } catch (err) {
      out = err.code ?? err.signal;
    }
    console.log(JSON.stringify({ out, ms: Date.now() - t0 }));`;
  const r = await runNode([...AGENT, '-e', parent, child], {
    env: { RESETWATCH_PORT: String(port), RESETWATCH_LOG: 'off' },
    timeout: 30000,
  });
  assert.equal(r.code, 0, r.stderr);
  const { out } = JSON.parse(r.stdout);
  assert.equal(typeof out, 'string', r.stdout);
  assert.notEqual(out, 'ETIMEDOUT', r.stdout);
  const dropped = JSON.parse(out);
  assert.ok(dropped.prometheus > 0, out);
});
