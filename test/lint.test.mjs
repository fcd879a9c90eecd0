// The linter (Biome, configured in biome.jsonc) over the agent's TypeScript, the tests, the
// benchmarks and the demo: any diagnostic, warnings included, fails `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './helpers/root.mjs';

const require = createRequire(import.meta.url);

test('biome ci: no lint or format findings', () => {
  const bin = path.join(path.dirname(require.resolve('@biomejs/biome/package.json')), 'bin', 'biome');
  const r = spawnSync(process.execPath, [bin, 'ci', '--error-on-warnings', '--colors=off', '--max-diagnostics=10'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(r.error, undefined, String(r.error));
  // Kept short: the test runner parses a failure's message, and a long one makes it crawl.
  assert.equal(r.status, 0, `biome ci failed (fix with \`npx biome check --write\`):\n${`${r.stdout}${r.stderr}`.slice(0, 6000)}`);
  assert.match(`${r.stdout}${r.stderr}`, /Checked \d+ files?/, 'biome checked no files');
});
