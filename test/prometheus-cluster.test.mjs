// node:cluster: one endpoint, in the primary, serves the sum over all workers; workers never bind.
// Worker threads never bind either: their resets reach the main thread's endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, startPrometheus, rawRequest, parseExposition, sumOf, freePort, peerLabel } from './helpers/prometheus.mjs';

test('cluster: two workers provoke resets; one scrape of the primary shows the sum', async (t) => {
  const app = startApp('prom-cluster.cjs', { PROM_CLUSTER_RESETS_1: '2', PROM_CLUSTER_RESETS_2: '3' });
  t.after(() => app.stop());
  const { done, port } = await app.ready;
  assert.deepEqual(
    done.workers.map((w) => w.events),
    [2, 3],
  );
  // Exactly one endpoint: the primary's. Workers print nothing (no bind, no EADDRINUSE).
  assert.equal(app.stderr().trim().split('\n').length, 1, app.stderr());

  const res = await rawRequest(port);
  assert.equal(res.status, 200);
  const samples = parseExposition(res.body);
  assert.equal(sumOf(samples, 'resetwatch_resets_total'), 5);
  assert.equal(
    sumOf(samples, 'resetwatch_resets_total', { resetwatch_direction: 'client', resetwatch_phase: 'connect', error_type: 'ECONNREFUSED' }),
    5,
  );
  assert.equal(sumOf(samples, 'resetwatch_reset_connection_age_seconds_count'), 5);
  // Each worker's series are summed, not listed per worker: one series per label set.
  const keys = samples.filter((s) => s.name === 'resetwatch_resets_total').map((s) => JSON.stringify(s.labels));
  assert.equal(new Set(keys).size, keys.length);
  // resetwatch_info is not summed: still 1.
  assert.equal(samples.find((s) => s.name === 'resetwatch_info').value, 1);
  // Connections: at least the five dialled (and not doubled by asking twice).
  const conns = sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'client' });
  assert.ok(conns >= 5, `client connections ${conns}`);
  assert.equal(
    sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_connections_total', { resetwatch_direction: 'client' }),
    conns,
  );

  // /resets merges every worker's recent events, newest first, each with its worker's pid.
  const r = await rawRequest(port, { path: '/resets' });
  assert.equal(r.headers['x-resetwatch-workers'], '2/2');
  const events = JSON.parse(r.body);
  assert.equal(events.length, 5);
  const pids = done.workers.map((w) => w.pid);
  assert.deepEqual(events.map((e) => e.pid).filter((p) => p === pids[0]).length, 2);
  assert.deepEqual(events.map((e) => e.pid).filter((p) => p === pids[1]).length, 3);
  for (let i = 1; i < events.length; i++) assert.ok(events[i - 1].time >= events[i].time, 'newest first');

  // OpenMetrics scrape of the sum (what Prometheus asks for) is valid for Prometheus itself.
  const prom = await startPrometheus([`127.0.0.1:${port}`]);
  t.after(() => prom.stop());
  const sum = await prom.until('sum(resetwatch_resets_total)', (v) => v.length === 1 && v[0].value[1] === '5');
  assert.equal(sum?.[0]?.value[1], '5', prom.log());

  // A worker that exits keeps its counts in the sum: the counter never goes backwards.
  app.child.stdin.write('kill\n');
  await new Promise((resolve) => {
    const check = () => (app.stdout().includes('{"killed":2}') ? resolve() : setTimeout(check, 20));
    check();
  });
  const after = parseExposition((await rawRequest(port)).body);
  assert.equal(sumOf(after, 'resetwatch_resets_total'), 5);
  assert.equal((await rawRequest(port, { path: '/resets' })).headers['x-resetwatch-workers'], '1/1');
  const still = await prom.until('resetwatch_resets_total', () => false, 2500);
  assert.equal(
    still.reduce((a, s) => a + Number(s.value[1]), 0),
    5,
  );
  const resetsSeen = await prom.query('sum(resets(resetwatch_resets_total[1m]))');
  assert.equal(resetsSeen[0].value[1], '0', 'Prometheus saw no counter reset');
});

test('cluster: a worker that exits while the primary waits for its answer does not hold the scrape up', async (t) => {
  const app = startApp('prom-cluster.cjs', { PROM_CLUSTER_RESETS_1: '2', PROM_CLUSTER_RESETS_2: '3' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  const line = (text) =>
    new Promise((resolve) => {
      const check = () => (app.stdout().includes(text) ? resolve() : setTimeout(check, 20));
      check();
    });
  assert.equal(sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_resets_total'), 5);
  app.child.stdin.write('die-on-collect\n');
  await line('{"armed":2}');
  const t0 = Date.now();
  const res = await rawRequest(port);
  const ms = Date.now() - t0;
  await line('{"diedOnCollect":2}');
  assert.equal(res.status, 200);
  // Its counts from the scrape before stay in the sum.
  assert.equal(sumOf(parseExposition(res.body), 'resetwatch_resets_total'), 5);
  // Without noticing the exit the primary waited WORKER_TIMEOUT_MS (1,500 ms, exporters/prometheus/
  // cluster.ts) for an answer that could not come: a Prometheus scrape_timeout of 1 s failed the
  // scrape. Bounded by that timer, which a scrape that waited cannot beat, not by a guess at how
  // long a loaded machine takes to notice the exit.
  assert.ok(ms < 1500, `the scrape took ${ms} ms: the primary waited for the dead worker`);
});

/** Waits for a line of the fixture's stdout that starts with `prefix`; its JSON. */
function lineOf(app, prefix) {
  return new Promise((resolve) => {
    const check = () => {
      const line = app
        .stdout()
        .split('\n')
        .find((l) => l.startsWith(prefix));
      if (line) resolve(JSON.parse(line));
      else setTimeout(check, 20);
    };
    check();
  });
}

test('cluster: the reset a worker crashes on is counted, after a scrape and before any', async (t) => {
  const app = startApp('cluster-crash.cjs');
  t.after(() => app.stop());
  const { done, port } = await app.ready;
  const count = async () => sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_resets_total', { error_type: 'ECONNRESET' });
  assert.equal(await count(), 1, 'the handled reset, from the answer');
  app.child.stdin.write('crash\n');
  const exited = await lineOf(app, '{"exited"');
  assert.equal(exited.exited, 1, app.stdout());
  // Asked at scrape time only, a crashed worker never answered again: its fatal reset was lost.
  assert.equal(await count(), 2, 'the crash reset reached the primary');
  assert.equal(await count(), 2, 'and is counted once');
  const r = await rawRequest(port, { path: '/resets' });
  const events = JSON.parse(r.body);
  assert.equal(events.length, 2);
  assert.equal(events[0].pid, done.worker);
  assert.equal(events[0]['resetwatch.fatal'], true);
  assert.equal(sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_reset_connection_age_seconds_count'), 2);

  const early = startApp('cluster-crash.cjs', { CLUSTER_CRASH: 'at-once' });
  t.after(() => early.stop());
  const first = await early.ready;
  await lineOf(early, '{"exited"');
  const samples = parseExposition((await rawRequest(first.port)).body);
  assert.equal(sumOf(samples, 'resetwatch_resets_total', { error_type: 'ECONNRESET' }), 1, 'a worker that crashed before any scrape');
});

test("cluster: a crash message not of resetwatch's shape is not summed; the scrape and the counts stand", async (t) => {
  const app = startApp('cluster-crash.cjs', { CLUSTER_CRASH: 'bogus' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  for (let i = 0; i < 2; i++) {
    const res = await rawRequest(port);
    assert.equal(res.status, 200, res.body);
    assert.equal(sumOf(parseExposition(res.body), 'resetwatch_resets_total'), 1, res.body);
  }
  app.child.stdin.write('crash\n');
  await lineOf(app, '{"exited"');
  const after = await rawRequest(port);
  assert.equal(after.status, 200, after.body);
  assert.equal(sumOf(parseExposition(after.body), 'resetwatch_resets_total'), 2, 'its last answer and its real crash');
  assert.equal(JSON.parse((await rawRequest(port, { path: '/resets' })).body).length, 2);
});

test('cluster: a worker that survives its fatal reset (an uncaughtException handler) is counted once', async (t) => {
  const app = startApp('cluster-crash.cjs', { CLUSTER_CRASH: 'handler' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  app.child.stdin.write('crash\n');
  assert.equal((await lineOf(app, '{"survived"')).survived, 'ECONNRESET');
  const count = async () => sumOf(parseExposition((await rawRequest(port)).body), 'resetwatch_resets_total', { error_type: 'ECONNRESET' });
  // The worker's answer holds the crash it sent: the two are not added up.
  assert.equal(await count(), 2);
  assert.equal(await count(), 2);
  assert.equal(JSON.parse((await rawRequest(port, { path: '/resets' })).body).length, 2);
});

test('cluster: the peer bound holds over the sum, not per worker', async (t) => {
  const app = startApp('prom-cluster.cjs', { PROM_CLUSTER_RESETS_1: '3', PROM_CLUSTER_RESETS_2: '3', RESETWATCH_MAX_PEERS: '4' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  const samples = parseExposition((await rawRequest(port)).body);
  const peers = new Set(samples.filter((s) => s.name === 'resetwatch_resets_total').map((s) => peerLabel(s.labels)));
  assert.equal(peers.size, 5, [...peers].join(' '));
  assert.ok(peers.has('_OTHER'));
  assert.equal(sumOf(samples, 'resetwatch_resets_total'), 6);
  assert.equal(sumOf(samples, 'resetwatch_resets_total', { server_address: '_OTHER' }), 2);
  assert.equal(sumOf(samples, 'resetwatch_peers_folded_total'), 2);
});

test('worker threads forward their resets to the main thread; a forked child joins its family', async (t) => {
  const port = await freePort();
  const app = startApp('prom-threads.cjs', { RESETWATCH_PORT: String(port), PROM_THREAD_RESETS: '3' });
  t.after(() => app.stop());
  const { done } = await app.ready;
  // The worker thread and the child ran and ended normally.
  assert.equal(done.workerExit, 0);
  assert.equal(done.childExit, 0);
  // The worker posted its samples without loading prom-client (~9 ms and ~2 MB in each worker), and
  // the main thread counted its own and the worker's without it: it loads with the first scrape.
  assert.equal(done.workerPromClient, false);
  assert.equal(done.mainPromClient, false);
  const samples = parseExposition((await rawRequest(port)).body);
  // Main thread 1 + worker thread 3 + the forked child's 1: the child (a process of its own, with
  // the same fixed port) joined the main process's family and its reset outlives it.
  assert.equal(sumOf(samples, 'resetwatch_resets_total', { resetwatch_direction: 'client', resetwatch_phase: 'connect' }), 5);
  // The worker thread's connections count too (they travel with its resets): 1 + 3 + 1 dialled.
  assert.equal(sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'client' }), 5);
  const events = JSON.parse((await rawRequest(port, { path: '/resets' })).body);
  assert.equal(events.length, 5);
  assert.equal(events.filter((e) => typeof e.thread_id === 'number' && e.thread_id > 0).length, 3);
  assert.equal(new Set(events.map((e) => e.pid)).size, 2);
  // The worker thread never tried to bind; the forked child did not either: nothing on stderr.
  assert.equal(app.stderr(), '');
});
