// The layout holds: no import cycle anywhere, the core (agent/) never imports an output, outputs
// never import each other or a hook, the OpenTelemetry output never loads prom-client, and the
// dashboards read only the contract (rules in .dependency-cruiser.cjs, checked over the compiled
// agent in dist/ and the JavaScript of the tests, benchmarks and demo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/root.mjs';

/** The compiled file of every TypeScript source (a dist/ left from an older layout may hold more). */
function compiledSources() {
  const out = [];
  for (const top of ['agent', 'exporters', 'dashboards']) {
    for (const e of readdirSync(path.join(ROOT, top), { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || e.name.endsWith('.d.ts') || !/\.m?ts$/.test(e.name)) continue;
      const src = path.relative(ROOT, path.join(e.parentPath ?? e.path, e.name));
      const js = path.join('dist', src.replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs'));
      assert.ok(existsSync(path.join(ROOT, js)), `${js} missing: run \`npm run build\` first`);
      out.push(js);
    }
  }
  return out;
}

test('dependency-cruiser: no cycles, core and outputs apart', () => {
  const files = compiledSources();
  assert.ok(files.length > 40, `only ${files.length} compiled sources`);
  const bin = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
  const r = spawnSync(
    process.execPath,
    [bin, '--config', '.dependency-cruiser.cjs', '--output-type', 'err-long', ...files, 'test', 'bench'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120000,
    },
  );
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.status, 0, `import rules broken:\n${`${r.stdout}${r.stderr}`.slice(0, 6000)}`);
  const cruised = /(\d+) modules, (\d+) dependencies cruised/.exec(`${r.stdout}${r.stderr}`);
  assert.ok(cruised && Number(cruised[1]) > 50, `dependency-cruiser looked at too little:\n${r.stdout}${r.stderr}`);
});

test('the repository root is computed in one helper (test/helpers/root.mjs)', () => {
  const offenders = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(mjs|cjs|js)$/.test(e.name) && p !== path.join(ROOT, 'test/helpers/root.mjs')) {
        if (/(const|let)\s+ROOT\s*=/.test(readFileSync(p, 'utf8'))) offenders.push(path.relative(ROOT, p));
      }
    }
  };
  walk(path.join(ROOT, 'test'));
  assert.deepEqual(offenders, [], 'define ROOT once: import { ROOT } from test/helpers/root.mjs');
});

test('the connection counts are read only through readConnections() (agent/stats.ts), so none goes down', () => {
  // agent/sockets.ts takes a count back only while no reader has read it since (uncount()); a
  // reader that went around readConnections() could serve a count that is taken back later.
  const allowed = new Set(['agent/stats.ts', 'agent/sockets.ts']);
  const offenders = [];
  for (const top of ['agent', 'exporters']) {
    for (const e of readdirSync(path.join(ROOT, top), { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || !/\.m?ts$/.test(e.name)) continue;
      const file = path.relative(ROOT, path.join(e.parentPath ?? e.path, e.name));
      if (!allowed.has(file) && /\bstats\s*\.\s*connections\b/.test(readFileSync(path.join(ROOT, file), 'utf8'))) offenders.push(file);
    }
  }
  assert.deepEqual(offenders, [], 'read the counts with readConnections()');
});
