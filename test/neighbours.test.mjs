// resetwatch next to other agents: test/neighbours/suite.mjs. The neighbours are installed first
// (from the npm registry, into ~/.cache/resetwatch/neighbours); then, as root, the suite runs in a
// network namespace of its own with only loopback up, apps and stand-in receivers alike, so no
// neighbour can reach anything else whatever its settings. Without root it runs here, where the
// environment it sets (every neighbour pointed at loopback, probes and telemetry off) is the guard.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { neighboursDir } from './helpers/neighbours.mjs';

const suite = fileURLToPath(new URL('./neighbours/suite.mjs', import.meta.url));
neighboursDir();
if (process.getuid?.() === 0 && process.env.RESETWATCH_NEIGHBOURS_NETNS !== '1') {
  // stdio inherited: the suite's report is this file's report to the test runner.
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.execArgv, suite], {
    stdio: 'inherit',
    env: { ...process.env, RESETWATCH_NEIGHBOURS_NETNS: '1' },
  });
  if (r.error) throw r.error;
  process.exitCode = r.status ?? 1;
} else {
  await import(suite);
}
