// The regression guard for the pnpm failure of d536c45: neither the agent nor anything it loads may
// leave a FIFO's or socket's mode in Node's shared stat buffer (a stat/lstat/fstat, sync or
// callback, without { bigint: true }), because fs.realpathSync reads that buffer back for path
// components the module loader has cached and stops early on a FIFO or socket.
// - Lint: every stat call in agent/ and exporters/ passes { bigint: true }.
// - Runtime: with stdout and stderr a pipe and a socket, and every output at work (a reset line,
//   so pino is loaded; a /metrics and /resets scrape; OpenTelemetry export to an in-test
//   receiver), a preloaded spy sees no such stat; and no file the process loaded from the agent or
//   its dependencies (pino, sonic-boom, prom-client, OpenTelemetry, …) contains a stat call
//   without { bigint: true }.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, fixture } from './helpers/subprocess.mjs';
import { runShape } from './helpers/shapes.mjs';
import { startReceiver } from './helpers/otlp-receiver.mjs';
import { freePort } from './helpers/prometheus.mjs';

const STAT_CALL = /(?<![\w$.]promises\.|function\s+|[\w$])(?:fstat|lstat|stat)(?:Sync)?\s*\(/g;

/** Stat calls in `source` whose arguments do not say { bigint: true } (with a line number each). */
export function plainStatCalls(source) {
  const out = [];
  for (const m of source.matchAll(STAT_CALL)) {
    let depth = 0;
    let end = m.index + m[0].length - 1;
    for (; end < source.length && end < m.index + 400; end++) {
      if (source[end] === '(') depth++;
      else if (source[end] === ')' && --depth === 0) break;
    }
    const call = source.slice(m.index, end + 1);
    // `!0`: true as the minified runtime files (build/bundle.js) spell it.
    if (!/bigint\s*:\s*(true|!0)/.test(call))
      out.push(`${source.slice(0, m.index).split('\n').length}: ${call.split('\n')[0].slice(0, 120)}`);
  }
  return out;
}

function sources(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name));
}

test('lint: every stat call in agent/ and exporters/ passes { bigint: true }', () => {
  const offenders = [];
  let seen = 0;
  for (const file of [...sources(path.join(ROOT, 'agent')), ...sources(path.join(ROOT, 'exporters'))]) {
    const text = fs.readFileSync(file, 'utf8');
    seen += [...text.matchAll(STAT_CALL)].length;
    for (const call of plainStatCalls(text)) offenders.push(`${path.relative(ROOT, file)}:${call}`);
  }
  assert.deepEqual(offenders, [], 'a plain stat of stdio breaks module resolution in pnpm layouts (see exporters/log/writer.ts)');
  assert.ok(seen >= 1, 'the lint sees the fstat of exporters/log/writer.ts');
  // The lint itself: a plain call is caught, a bigint one and fs.promises are not.
  assert.equal(plainStatCalls('fs.fstatSync(2)').length, 1);
  assert.equal(plainStatCalls('fs.stat(p, (e, s) => {})').length, 1);
  assert.equal(plainStatCalls('fs.fstatSync(fd, { bigint: true })').length, 0);
  assert.equal(plainStatCalls('fs.fstatSync(fd,{bigint:!0})').length, 0);
  assert.equal(plainStatCalls('fs.fstatSync(fd,{bigint:!1})').length, 1);
  assert.equal(plainStatCalls('await fs.promises.stat(p)').length, 0);
});

test('runtime: with stdio a pipe and a socket and every output at work, nothing leaves a FIFO or socket in the stat buffer, and no loaded file of the agent or its dependencies has a plain stat call', async () => {
  const rx = await startReceiver();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-stat-'));
  try {
    const shapes = [
      { stdout: 'file', stderr: 'pipe', log: 'stderr' },
      { stdout: 'file', stderr: 'socket', log: 'stderr' },
      { stdout: 'pipe', stderr: 'socket', log: 'stdout' },
      { stdout: 'socket', stderr: 'pipe', log: 'stdout' },
    ];
    const loaded = new Set();
    for (const [i, { stdout, stderr, log }] of shapes.entries()) {
      const spyOut = path.join(out, `${i}.json`);
      const env = {
        STAT_SPY_OUT: spyOut,
        RESETWATCH_PORT: String(await freePort()),
        RESETWATCH_LOG: log,
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_METRIC_EXPORT_INTERVAL: '100',
        OTEL_BSP_SCHEDULE_DELAY: '20',
        OTEL_SERVICE_NAME: 'stat',
      };
      const r = await runShape({
        cwd: ROOT,
        stdout,
        stderr,
        env,
        args: ['--require', fixture('shapes/stat-spy.cjs'), '--require', 'resetwatch', fixture('shapes/stat-app.cjs')],
      });
      const label = `stdout ${stdout}, stderr ${stderr}`;
      assert.equal(r.status, 0, `${label}\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /stat-app: reset ECONNRESET metrics 200 resets 200/, label);
      assert.equal(r[log].split('\n').filter((l) => l.includes('"error.type"')).length, 1, `${label}: the reset line\n${r[log]}`);
      const spy = JSON.parse(fs.readFileSync(spyOut, 'utf8'));
      assert.ok(spy.calls > 0, `${label}: the spy saw the agent's stat calls`);
      assert.deepEqual(spy.flagged, [], `${label}: a stat left a FIFO or socket in the stat buffer`);
      for (const f of spy.loaded) loaded.add(f);
    }
    await rx.waitFor('spans', (s) => s.length > 0);
    const ours = [...loaded].filter((f) => f.startsWith(path.join(ROOT, 'dist')) || f.includes(`${path.sep}node_modules${path.sep}`));
    for (const dep of ['pino', 'prom-client', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-metrics']) {
      assert.ok(
        ours.some((f) => f.includes(`node_modules/${dep}/`)),
        `${dep} was loaded`,
      );
    }
    const offenders = ours.flatMap((f) => plainStatCalls(fs.readFileSync(f, 'utf8')).map((c) => `${path.relative(ROOT, f)}:${c}`));
    assert.deepEqual(
      offenders,
      [],
      'loaded files with a stat call that is not { bigint: true }: check that none can see stdio at preload or later',
    );
  } finally {
    await rx.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
});
