'use strict';
// Interleaved startup rounds: `node [--require <agent>] <script>` for several variants, each
// round running every variant `runs` times in a bash loop and reading the children's CPU from
// bash's `times` (as the bench's startup scenario does), wall time around the loop. The order of
// the variants rotates from round to round. Reported: medians of CPU and wall ms per run, and the
// median (and range) of the per-round ratios against the first variant.
//
//   node bench/startup-ab.js [--rounds=8] [--runs=10] [--cpu=0] [--app=path.js] \
//     A=- B=dist/agent/index.js:RESETWATCH_PORT=19465 Bd=dist/agent/index.js:RESETWATCH_DISABLED=1
//
// A variant is name=agent[:K=V[:K=V…]]; agent `-` is no agent. Without --app the script is `-e 1`.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
};
const rounds = Number(opt('rounds', 8));
const runs = Number(opt('runs', 10));
const cpu = opt('cpu', undefined);
const app = opt('app', undefined);
const variants = args
  .filter((a) => !a.startsWith('--'))
  .map((spec) => {
    const [name, rest] = spec.split(/=(.*)/s);
    const [agent, ...envs] = rest.split(':');
    const env = Object.fromEntries(envs.map((e) => e.split(/=(.*)/s)));
    return { name, agent: agent === '-' ? undefined : path.resolve(agent), env };
  });
if (variants.length < 2) throw new Error('name at least two variants');

const quote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
const base = { ...process.env };
for (const k of Object.keys(base)) if (k.startsWith('RESETWATCH_') || k.startsWith('OTEL_') || k === 'NODE_OPTIONS') delete base[k];
const logFile = path.join(os.tmpdir(), `startup-ab-${process.pid}.log`);

function once(v) {
  const argv = [process.execPath, ...(v.agent === undefined ? [] : ['--require', v.agent]), ...(app === undefined ? ['-e', '1'] : [app])];
  const cmd = (cpu === undefined ? [] : ['taskset', '-c', cpu]).concat(argv).map(quote).join(' ');
  const script = `for ((i=0;i<${runs};i++)); do ${cmd} >/dev/null || exit $?; done; times`;
  const env = { ...base, ...(v.agent === undefined ? {} : { RESETWATCH_LOG: logFile }), ...v.env };
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', script], { env, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6 / runs;
  if (r.status !== 0) throw new Error(`${v.name}: exit ${r.status}: ${r.stderr.slice(-400)}`);
  const secs = (t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return Number(m[1]) * 60 + Number(m[2]);
  };
  const [user, sys] = r.stdout.trim().split('\n').pop().trim().split(/\s+/).map(secs);
  return { cpu: ((user + sys) * 1000) / runs, wall };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = variants.map(() => []);
const load0 = os.loadavg()[0];
for (const v of variants) once(v); // warm the page cache
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < variants.length; k++) {
    const i = (k + r) % variants.length;
    results[i][r] = once(variants[i]);
  }
}
const load1 = os.loadavg()[0];
const fmt = (x, d = 2) => x.toFixed(d);
console.log(`${rounds} rounds × ${runs} runs, ${app ?? '-e 1'}, node ${process.version}, load ${fmt(load0)} → ${fmt(load1)}`);
for (let i = 0; i < variants.length; i++) {
  const cpuRatios = results[i].map((x, r) => x.cpu / results[0][r].cpu);
  const wallRatios = results[i].map((x, r) => x.wall / results[0][r].wall);
  const cpuMs = median(results[i].map((x) => x.cpu));
  const wallMs = median(results[i].map((x) => x.wall));
  const dCpu = median(results[i].map((x, r) => x.cpu - results[0][r].cpu));
  const dWall = median(results[i].map((x, r) => x.wall - results[0][r].wall));
  console.log(
    `${variants[i].name.padEnd(8)} cpu ${fmt(cpuMs, 1)} ms (${fmt(median(cpuRatios), 3)}×, ${fmt(Math.min(...cpuRatios), 3)}–${fmt(Math.max(...cpuRatios), 3)}, ${dCpu >= 0 ? '+' : ''}${fmt(dCpu, 1)})` +
      `  wall ${fmt(wallMs, 1)} ms (${fmt(median(wallRatios), 3)}×, ${fmt(Math.min(...wallRatios), 3)}–${fmt(Math.max(...wallRatios), 3)}, ${dWall >= 0 ? '+' : ''}${fmt(dWall, 1)})`,
  );
}
