// Other agents ("neighbours") for test/neighbours.test.mjs: installed from the pinned manifest in
// test/neighbours/ (package.json + package-lock.json) into a cache outside the repository,
// ~/.cache/resetwatch/neighbours/<hash of the manifest> (RESETWATCH_NEIGHBOURS_CACHE moves it), the
// way test/matrix.js caches Node binaries: a changed manifest installs afresh. Also the loopback
// receivers that stand in for each vendor's backend, and the environment that keeps every neighbour
// on loopback.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { ROOT } from './subprocess.mjs';

const MANIFEST = path.join(ROOT, 'test/neighbours');
const CACHE = process.env.RESETWATCH_NEIGHBOURS_CACHE || path.join(os.homedir(), '.cache', 'resetwatch', 'neighbours');

/** Installs the neighbours when the manifest changed (or was never installed); returns the install directory. */
export function neighboursDir() {
  const files = ['package.json', 'package-lock.json'].map((f) => readFileSync(path.join(MANIFEST, f)));
  const hash = createHash('sha256').update(Buffer.concat(files)).digest('hex').slice(0, 16);
  const dir = path.join(CACHE, hash);
  if (existsSync(path.join(dir, '.installed'))) return dir;
  // Install beside it and rename into place: a concurrent or interrupted install never leaves a
  // half-filled directory behind the marker.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) cpSync(path.join(MANIFEST, f), path.join(tmp, f));
  // No install scripts: the agents' optional native add-ons are not needed here. Legacy peers: the
  // OpenTelemetry SDK 1.x beside API 1.10 (its peer range ends below; what it uses is in 1.10).
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--legacy-peer-deps', '--loglevel=error'], {
    cwd: tmp,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  writeFileSync(path.join(tmp, '.installed'), new Date().toISOString());
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (!existsSync(path.join(dir, '.installed'))) throw err;
    rmSync(tmp, { recursive: true, force: true }); // another run finished first
  }
  return dir;
}

/**
 * A directory inside the install with a copy of the fixture app, so that the app's own
 * `require('pino')` and the neighbours resolve from the install (node_modules one level up).
 */
export function appDir(dir) {
  // Copies left by runs that were killed before cleaning up.
  for (const name of readdirSync(dir)) {
    const pid = /^app-(\d+)$/.exec(name)?.[1];
    if (pid !== undefined && !alive(Number(pid))) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
  const app = path.join(dir, `app-${process.pid}`);
  rmSync(app, { recursive: true, force: true });
  cpSync(path.join(ROOT, 'test/fixtures/neighbours'), app, { recursive: true });
  cpSync(path.join(ROOT, 'test/fixtures/tls'), path.join(app, 'tls'), { recursive: true }); // tls-paths.cjs
  return app;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Absolute path of `specifier` as resolved from the install (CommonJS conditions). */
export function resolveIn(dir, specifier) {
  return createRequire(path.join(dir, 'package.json')).resolve(specifier);
}

/**
 * A loopback HTTP server that records every request (method, path, headers, body, gunzipped, and
 * `at`, when it arrived) and answers 200 with `answer(req)` (default `{}`): the stand-in for a
 * vendor's intake. `tls: { key, cert }` serves HTTPS instead (`rx.url` https://127.0.0.1:port);
 * `port` binds that port instead of any free one.
 */
export async function startIntake(answer = () => '{}', { tls, port = 0 } = {}) {
  const rx = { requests: [], url: '', port: 0 };
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const enc = req.headers['content-encoding'];
      try {
        if (enc === 'gzip') body = zlib.gunzipSync(body);
        else if (enc === 'deflate') body = zlib.inflateSync(body);
        else if (enc === 'br') body = zlib.brotliDecompressSync(body);
      } catch {
        /* kept as sent */
      }
      rx.requests.push({ method: req.method, path: req.url, headers: req.headers, body, at: Date.now() });
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer(req));
    });
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  server.on('connection', (s) => s.on('error', () => {}));
  if (tls) server.on('secureConnection', (s) => s.on('error', () => {}));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  rx.port = server.address().port;
  rx.url = `${tls ? 'https' : 'http'}://127.0.0.1:${rx.port}`;
  rx.close = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return rx;
}
