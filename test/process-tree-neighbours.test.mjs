// The join check of a family member (docs/workers.md "When a member joins") next to a real
// neighbour and in a real module layout, where the neighbour's own handles change what the check sees.
// - OpenTelemetry's auto-instrumentation (test/neighbours, installed outside the repository) keeps a
//   process's loop alive as it starts (resource detectors, exporters): the check sees that, and even
//   `node -e 1` joins the family. Its net instrumentation traces client connections, the family's
//   too unless resetwatch suppresses tracing for them (it did not: two `ipc.connect` spans per
//   member, whose export kept `node -e 1` waiting on the collector). Short members, OpenTelemetry
//   loaded before and after resetwatch, against the same members under OpenTelemetry alone: same
//   exit code and output, the same spans, no wait on a collector that never answers; a member's
//   connection and its resets (refused, RST) reach the root's /metrics.
// - An app's own context manager that throws, has no setValue on its contexts or never runs what
//   it is given: the family's connections, made through it, are made all the same.
// - pnpm: resetwatch resolved through pnpm's symlinked node_modules by a root and its members: a
//   member's reset is counted at the root; `node -e 1` joins nothing (it joined about one run in
//   fifteen while the 1 ms look counted on libuv's cached loop time: agent/first-turn.ts).
// The root runs under resetwatch alone; its members under one NODE_OPTIONS. Real loopback resets
// and refused connects, a loopback OTLP receiver.
import { test, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, withoutAgentLines, ROOT } from './helpers/subprocess.mjs';
import { rawRequest, parseExposition, sumOf, freePort } from './helpers/prometheus.mjs';
import { startTree, killTrees } from './helpers/tree.mjs';
import { neighboursDir, resolveIn } from './helpers/neighbours.mjs';
import { startReceiver } from './helpers/otlp-receiver.mjs';
import { layout } from './helpers/shapes.mjs';

afterEach(killTrees);

let otel;
before(() => {
  otel = `--require ${resolveIn(neighboursDir(), '@opentelemetry/auto-instrumentations-node/register')}`;
});

const RW = `--require ${ROOT}`;
const ORDERS = {
  'OpenTelemetry first': () => `${otel} ${RW}`,
  'resetwatch first': () => `${RW} ${otel}`,
};

/** OpenTelemetry sending traces only, to `rx`; local resource detectors only (no cloud metadata probes). */
const otelEnv = (rx, timeout = '10000') => ({
  OTEL_SERVICE_NAME: 'tree-member',
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
  OTEL_EXPORTER_OTLP_TIMEOUT: timeout,
  OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
  OTEL_BSP_SCHEDULE_DELAY: '100',
});

/**
 * Runs the root (test/fixtures/tree-neighbour.cjs, under resetwatch alone) with members of `kinds`
 * under `memberOptions` and, for comparison, `aloneOptions`; resolves its lines and a scrape once
 * every member has exited.
 */
async function runTree(kinds, { memberOptions, aloneOptions, env = {}, cwd = ROOT, rootOptions = RW }) {
  const port = await freePort();
  const tree = startTree(process.execPath, [fixture('tree-neighbour.cjs'), kinds.join(',')], {
    cwd,
    env: {
      NODE_OPTIONS: rootOptions,
      MEMBER_OPTIONS: memberOptions,
      ALONE_OPTIONS: aloneOptions,
      RESETWATCH_PORT: String(port),
      RESETWATCH_LOG: 'off',
      RESETWATCH_LOG_LEVEL: 'debug',
      ...env,
    },
  });
  await tree.ready(1);
  for (let i = 0; (await rawRequest(port).catch(() => ({ status: 0 }))).status !== 200; i++) {
    assert.ok(i < 200, `the root's endpoint never answered\n${tree.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  process.kill(tree.pid('root'), 'SIGUSR2');
  await tree.stderrUntil(() => tree.lines().some((l) => l.done), 'the members to run');
  const r = await rawRequest(port);
  assert.equal(r.status, 200, r.raw);
  const runs = Object.fromEntries(
    tree
      .lines()
      .filter((l) => l.exited)
      .map((l) => [l.exited, l]),
  );
  return { tree, runs, done: tree.lines().find((l) => l.done), samples: parseExposition(r.body) };
}

/** The member exited as it did without resetwatch: code, signal, stdout, stderr (resetwatch's lines aside). */
function assertSameExit({ alone, member }, what) {
  const show = `\nalone: ${JSON.stringify(alone)}\nmember: ${JSON.stringify(member)}`;
  assert.deepEqual(
    { code: member.code, signal: member.signal, stdout: member.stdout, stderr: withoutAgentLines(member.stderr) },
    { code: alone.code, signal: alone.signal, stdout: alone.stdout, stderr: alone.stderr },
    `${what}${show}`,
  );
}

/** Span names of one process, sorted. */
const spansOf = (rx, pid) =>
  rx.spans
    .filter((s) => String(s.resource['process.pid']) === String(pid))
    .map((s) => s.name)
    .sort();

for (const [order, nodeOptions] of Object.entries(ORDERS)) {
  test(`OpenTelemetry (${order}): an idle member (node -e 1) exports nothing and does not wait on a collector that never answers`, async () => {
    // A collector that never answers, and an export timeout beyond the test's: a member with
    // anything to export stays until it is killed. Alone, `node -e 1` has nothing to export.
    const rx = await startReceiver({ behaviour: 'hang' });
    try {
      const { tree, runs } = await runTree(['idle'], { memberOptions: nodeOptions(), aloneOptions: otel, env: otelEnv(rx, '600000') });
      assertSameExit(runs.idle, 'the idle member');
      assert.equal(runs.idle.alone.code, 0);
      assert.deepEqual(rx.requests, [], 'no export: the family connections are not traced');
      // What differs from a plain app: OpenTelemetry keeps the loop alive at its first turn, so it joins.
      assert.match(tree.stderr(), new RegExp(`member ${runs.idle.member.pid}:\\S+ joined`), tree.stderr());
    } finally {
      await rx.close();
    }
  });

  test(`OpenTelemetry (${order}): a member that connects exports the spans it exports alone, and its connection reaches the root's /metrics`, async () => {
    const rx = await startReceiver();
    try {
      const { tree, runs, samples } = await runTree(['connect'], { memberOptions: nodeOptions(), aloneOptions: otel, env: otelEnv(rx) });
      const run = runs.connect;
      assertSameExit(run, 'the connecting member');
      assert.equal(run.alone.code, 0);
      // Whatever was exported before each exited has arrived by the scrape after the last one.
      assert.deepEqual(spansOf(rx, run.member.pid), spansOf(rx, run.alone.pid), 'the spans of the member are those of the app alone');
      assert.ok(spansOf(rx, run.alone.pid).includes('tcp.connect'), JSON.stringify(rx.spans.map((s) => s.name)));
      assert.deepEqual(
        rx.spans.filter((s) => JSON.stringify(s.attributes).includes('resetwatch/')),
        [],
        'no span of the family',
      );
      // The member's one connection, made before it joined (one it makes after, and does not reset
      // on, is not counted: docs/workers.md "When counts can be lost"); the root makes none.
      assert.equal(
        sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'client', resetwatch_tls: 'false' }),
        1,
        tree.stderr(),
      );
    } finally {
      await rx.close();
    }
  });

  test(`OpenTelemetry (${order}): members that reset (a refused connect, a real RST) are counted at the root and exit as they do alone`, async () => {
    const rx = await startReceiver();
    try {
      const { tree, runs, samples, done } = await runTree(['refused', 'rst'], {
        memberOptions: nodeOptions(),
        aloneOptions: otel,
        env: otelEnv(rx),
      });
      for (const kind of ['refused', 'rst']) {
        assertSameExit(runs[kind], `the ${kind} member`);
        assert.equal(runs[kind].alone.code, 3, JSON.stringify(runs[kind].alone));
      }
      const resets = (labels) => sumOf(samples, 'resetwatch_resets_total', { resetwatch_direction: 'client', ...labels });
      // On the closed port only: the root's own first polls of its endpoint may count as refused.
      assert.equal(resets({ error_type: 'ECONNREFUSED', server_port: done.closedPort }), 1, tree.stderr());
      assert.equal(resets({ error_type: 'ECONNRESET' }), 1, tree.stderr());
      assert.deepEqual(
        rx.spans.filter((s) => JSON.stringify(s.attributes).includes('resetwatch/')),
        [],
        'no span of the family',
      );
    } finally {
      await rx.close();
    }
  });
}

for (const hostile of ['throws', 'plain', 'never']) {
  test(`an app's OpenTelemetry context manager that misbehaves (${hostile}): a member still joins its family`, async () => {
    // The family's connections are made through that manager (to be out of the app's traces):
    // what it does must not cost the member its connection to the leader.
    const pre = `--require ${fixture('otel-hostile-context.cjs')}`;
    const { tree, runs } = await runTree(['rst'], {
      memberOptions: `${pre} ${RW}`,
      aloneOptions: pre,
      env: { HOSTILE_CONTEXT: hostile },
    });
    assertSameExit(runs.rst, 'the member that resets');
    assert.equal(runs.rst.member.code, 3, JSON.stringify(runs.rst.member));
    // (Other sites that read the active context report that manager once: not this one.)
    assert.doesNotMatch(runs.rst.member.stderr, /internal error in (family|untraced)/);
    assert.match(tree.stderr(), new RegExp(`member ${runs.rst.member.pid}:\\S+ joined`), tree.stderr());
    // (Its reset itself is not counted: recording it reads the active context through the same
    // manager, and fails there; a matter of its own, not of the family's connections.)
  });
}

test("pnpm: resetwatch resolved through pnpm's symlinks by a root and its members: a member's reset is counted at the root, an idle member joins nothing", async () => {
  const cwd = await layout('pnpm');
  assert.ok(fs.lstatSync(path.join(cwd, 'node_modules/resetwatch')).isSymbolicLink(), 'pnpm links the agent into node_modules/.pnpm');
  const { tree, runs, samples } = await runTree(['idle', 'rst'], {
    cwd,
    rootOptions: '--require resetwatch',
    memberOptions: '--require resetwatch',
    aloneOptions: '',
  });
  assertSameExit(runs.idle, 'the idle member');
  assert.equal(runs.idle.member.code, 0);
  assert.equal(runs.idle.member.stderr, '', 'the idle member prints nothing');
  assert.doesNotMatch(tree.stderr(), new RegExp(`member ${runs.idle.member.pid}:`), 'the leader never heard of the idle member');
  assertSameExit(runs.rst, 'the member that resets');
  assert.equal(runs.rst.member.code, 3);
  assert.match(tree.stderr(), new RegExp(`member ${runs.rst.member.pid}:\\S+ joined`));
  assert.equal(sumOf(samples, 'resetwatch_resets_total', { resetwatch_direction: 'client', error_type: 'ECONNRESET' }), 1, tree.stderr());
});
