'use strict';
// The peers of variants D and E (bench/peers/package.json + package-lock.json, pinned), installed
// into a cache outside the repository, ~/.cache/resetwatch/bench-peers/<hash of the manifest>, the
// way test/helpers/neighbours.mjs caches the neighbours (that helper is ESM and tied to the test
// manifest; this is its CommonJS twin for the bench): a changed manifest installs afresh.
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MANIFEST = path.join(__dirname, '..', 'peers');
const CACHE = process.env.RESETWATCH_BENCH_PEERS_CACHE || path.join(os.homedir(), '.cache', 'resetwatch', 'bench-peers');
const FILES = ['package.json', 'package-lock.json'];

/** Installs the peers when the manifest changed (or was never installed); returns the install directory. */
function peersDir() {
  const hash = createHash('sha256')
    .update(Buffer.concat(FILES.map((f) => fs.readFileSync(path.join(MANIFEST, f)))))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(CACHE, hash);
  if (fs.existsSync(path.join(dir, '.installed'))) return dir;
  console.log(`installing the bench peers into ${dir} …`);
  // Beside it, then renamed into place: an interrupted install never leaves a marked half-install.
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  for (const f of FILES) fs.cpSync(path.join(MANIFEST, f), path.join(tmp, f));
  // No install scripts: the peers' optional native add-ons are not what is measured.
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
    cwd: tmp,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  fs.writeFileSync(path.join(tmp, '.installed'), new Date().toISOString());
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    if (!fs.existsSync(path.join(dir, '.installed'))) throw err;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

module.exports = { peersDir };
