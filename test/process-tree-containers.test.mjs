// Containers that share a network namespace (a Kubernetes pod's containers, `hostNetwork`, `docker
// --network host`) each run in a PID namespace of their own with node as PID 1, where the session
// id is the same in all of them (1 under runc, which makes the first process a session leader).
// Each is a family of its own (exporters/prometheus/family-name.ts): one container's resets are
// never served under another's labels, the second one on the port waits for it as for any other
// program, and takes the port once the first is gone, with its own counts only. Real namespaces
// (ip netns, unshare --pid), real refused connections on loopback, the agent's default port.
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fixture, cleanEnv } from './helpers/subprocess.mjs';
import { parseExposition, sumOf } from './helpers/prometheus.mjs';
import { startTree, killTrees } from './helpers/tree.mjs';
import { sh } from './helpers/netns.mjs';

const APP = fixture('tree-app.cjs');
const POD = `rw${process.pid.toString(36)}pod`;

try {
  sh('ip', 'netns', 'add', POD);
} catch (err) {
  throw new Error(`network namespaces are unavailable, this test needs root (${err.message})`);
}
sh('ip', '-n', POD, 'link', 'set', 'lo', 'up');
after(() => sh('ip', 'netns', 'del', POD));
afterEach(killTrees);

/**
 * A container of the pod: `node tree-app.cjs <name> <resets>` as PID 1 of a new PID namespace and
 * the leader of its session, as runc starts it; killed with unshare (`--kill-child`).
 */
function container(name, resets, service) {
  return startTree(
    'ip',
    [
      'netns',
      'exec',
      POD,
      'unshare',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      'setsid',
      process.execPath,
      APP,
      name,
      String(resets),
    ],
    { env: { RESETWATCH_PORT: undefined, RESETWATCH_LABELS: `service=${service}` } },
  );
}

/** One scrape of the pod's default port (127.0.0.1:9465 inside the pod), from inside the pod. */
function scrape() {
  const get = (path) =>
    `new Promise((ok) => require('node:http').get({ host: '127.0.0.1', port: 9465, path: ${JSON.stringify(path)} }, (r) => {
      let b = ''; r.setEncoding('utf8'); r.on('data', (d) => (b += d));
      r.on('end', () => ok({ status: r.statusCode, family: r.headers['x-resetwatch-family'], body: b }));
    }).on('error', (e) => ok({ error: e.code })))`;
  const script = `Promise.all([${get('/metrics')}, ${get('/resets')}]).then((r) => process.stdout.write(JSON.stringify(r)))`;
  const [metrics, resets] = JSON.parse(
    execFileSync('ip', ['netns', 'exec', POD, process.execPath, '-e', script], { encoding: 'utf8', env: cleanEnv() }),
  );
  if (metrics.error || resets.error) return { error: metrics.error ?? resets.error };
  const samples = parseExposition(metrics.body);
  return {
    a: sumOf(samples, 'resetwatch_resets_total', { service: 'a' }),
    b: sumOf(samples, 'resetwatch_resets_total', { service: 'b' }),
    family: Number(resets.family ?? 1),
    events: JSON.parse(resets.body).length,
  };
}

async function scrapeUntil(pred, what) {
  const deadline = Date.now() + 40000;
  let last;
  for (;;) {
    last = scrape();
    if (!last.error && pred(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: last scrape ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('two containers in one pod, node as PID 1 in each: two families; the second takes the port once the first is gone, with its own resets only', async () => {
  const a = container('a', 3, 'a');
  await a.ready();
  await scrapeUntil((s) => s.a === 3, "container a's resets on the pod's port");

  const b = container('b', 4, 'b');
  await b.ready();
  // A family of its own finds the port held, as by any other program: its one line after 5 s. In
  // a's family instead, it would hand its resets over to a (served under a's labels), and say nothing.
  await b.stderrUntil((err) => err.includes('already in use'), "container b's port-in-use line");
  assert.deepEqual(scrape(), { a: 3, b: 0, family: 1, events: 3 });

  await a.stop('SIGKILL');
  const s = await scrapeUntil((x) => x.b > 0, "container b's endpoint after a is gone");
  assert.deepEqual(s, { a: 0, b: 4, family: 1, events: 4 });
});
