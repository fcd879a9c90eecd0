'use strict';
// Startup CPU of a short-lived process family member (docs/benchmarks.md "A member's start"):
// `node -e 1` with no agent (A), with the agent alone (its family's name free: a port no one
// holds), and as a member of a live family (a root under the agent, in this session, holds the
// name and serves). Interleaved: each round runs every variant `runs` times in a bash loop, in an
// order that rotates, and reads the children's user+sys CPU from bash's `times`. Run it in a
// session of its own (setsid) so that no other family of this session takes part:
//
//   setsid node bench/member-startup.js [--rounds=20] [--runs=10] [--agent=dist/agent/index.js] [--base=<other build's dist/agent/index.js>]
//
// With --base, the same variants for that build too, with a root of its own (each build's
// members join a root of the same build).
const { spawn, spawnSync } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
};
const rounds = Number(opt('rounds', 20));
const runs = Number(opt('runs', 10));
const builds = [['new', path.resolve(opt('agent', 'dist/agent/index.js'))]];
if (opt('base', undefined) !== undefined) builds.push(['base', path.resolve(opt('base'))]);

const base = { ...process.env };
for (const k of Object.keys(base)) if (k.startsWith('RESETWATCH_') || k.startsWith('OTEL_') || k === 'NODE_OPTIONS') delete base[k];
base.RESETWATCH_LOG = 'off';

const quote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
const portBase = 20000 + (process.pid % 20000);

function root(agent, port) {
  const child = spawn(process.execPath, ['--require', agent, '-e', 'setInterval(() => {}, 1000)'], {
    env: { ...base, RESETWATCH_PORT: String(port) },
    stdio: 'ignore',
  });
  const ready = new Promise((resolve) => {
    const poll = () =>
      http
        .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', () => setTimeout(poll, 50));
    poll();
  });
  return { child, ready };
}

function once(v) {
  const argv = [process.execPath, ...(v.agent === undefined ? [] : ['--require', v.agent]), '-e', '1'];
  const script = `for ((i=0;i<${runs};i++)); do ${argv.map(quote).join(' ')} >/dev/null || exit $?; done; times`;
  const r = spawnSync('bash', ['-c', script], { env: { ...base, ...v.env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${v.name}: exit ${r.status}: ${r.stderr.slice(-400)}`);
  const secs = (t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return Number(m[1]) * 60 + Number(m[2]);
  };
  const [user, sys] = r.stdout.trim().split('\n').pop().trim().split(/\s+/).map(secs);
  return ((user + sys) * 1000) / runs;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const variants = [{ name: 'A (no agent)', env: {} }];
  const roots = [];
  builds.forEach(([name, agent], i) => {
    const familyPort = portBase + 2 * i;
    roots.push(root(agent, familyPort));
    variants.push({ name: `${name} alone`, agent, env: { RESETWATCH_PORT: String(familyPort + 1) } });
    variants.push({ name: `${name} member`, agent, env: { RESETWATCH_PORT: String(familyPort) } });
  });
  await Promise.all(roots.map((r) => r.ready));
  const cpu = variants.map(() => []);
  for (const v of variants) once(v); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      cpu[i].push(once(variants[i]));
    }
  }
  for (const r of roots) r.child.kill();
  const a = median(cpu[0]);
  console.log(
    `node ${process.version}, ${rounds} rounds × ${runs} runs, CPU ms per run (user+sys), median [min–max]; Δ against A by round`,
  );
  variants.forEach((v, i) => {
    const deltas = cpu[i].map((c, r) => c - cpu[0][r]);
    const fmt = (x) => x.toFixed(1);
    console.log(
      `${v.name.padEnd(14)} ${fmt(median(cpu[i]))} [${fmt(Math.min(...cpu[i]))}–${fmt(Math.max(...cpu[i]))}]` +
        (i === 0
          ? ''
          : `  Δ ${fmt(median(deltas))} [${fmt(Math.min(...deltas))}–${fmt(Math.max(...deltas))}], ${(median(cpu[i]) / a).toFixed(2)}×`),
    );
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
