// The package is lean and honest (docs/dependencies.md):
// - the `npm pack` tarball installed with `--omit=dev` into an empty folder stays within the size
//   budget, holds one copy of each OpenTelemetry package, and its OTLP export works from there
//   (no devDependency hides a missing runtime one);
// - every runtime dependency is loaded by the shipped code, and every bare import or require in the
//   repository names a package package.json declares: agent/ and exporters/ (checked as compiled
//   into dist/, their .d.ts included) only `dependencies`, dashboards/, bench/ and test/ any section.
//   Fixture apps that run inside a test-made install are checked against that install's manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { cruise } from 'dependency-cruiser';
import { startReceiver } from './helpers/otlp-receiver.mjs';
import { ROOT } from './helpers/root.mjs';
import { VERSIONS as SHAPES_VERSIONS } from './helpers/shapes.mjs';

const BUDGET_BYTES = 35 * 1024 * 1024;
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** npm's own traffic goes to the registry only. */
const NPM_ENV = {
  ...process.env,
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
};

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, env: NPM_ENV, encoding: 'utf8', timeout: 300000 });
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Bytes under `dir` as `du -sb` counts them: apparent sizes of files, directories and links. */
function apparentSize(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += fs.lstatSync(p).size;
    if (e.isDirectory()) total += apparentSize(p);
  }
  return total + (dir.endsWith('node_modules') ? fs.lstatSync(dir).size : 0);
}

/** Every installed package: { name, version, dir }, nested copies included. */
function installedPackages(nodeModules) {
  const out = [];
  const visit = (nm) => {
    if (!fs.existsSync(nm)) return;
    for (const e of fs.readdirSync(nm)) {
      if (e.startsWith('.')) continue;
      const dirs = e.startsWith('@') ? fs.readdirSync(path.join(nm, e)).map((s) => path.join(nm, e, s)) : [path.join(nm, e)];
      for (const dir of dirs) {
        const manifest = path.join(dir, 'package.json');
        if (!fs.existsSync(manifest)) continue;
        const { name, version } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
        out.push({ name, version, dir });
        visit(path.join(dir, 'node_modules'));
      }
    }
  };
  visit(nodeModules);
  return out;
}

test('npm pack, installed with --omit=dev: within the budget, one copy of each OpenTelemetry package, OTLP export works', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-pack-'));
  try {
    // dist/ is fresh: test/run.js builds before running tests.
    npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], ROOT);
    const [tgz] = fs.readdirSync(tmp).filter((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'npm pack made a tarball');
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'empty-app', version: '1.0.0', private: true }));
    npm(['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', path.join(tmp, tgz)], app);

    const nm = path.join(app, 'node_modules');
    const bytes = apparentSize(nm);
    const packages = installedPackages(nm);
    const mib = (bytes / 1024 / 1024).toFixed(1);
    t.diagnostic(`production install: ${packages.length} packages (resetwatch included), ${bytes} bytes (${mib} MiB)`);
    assert.ok(bytes <= BUDGET_BYTES, `production install is ${mib} MiB, over the ${BUDGET_BYTES / 1024 / 1024} MiB budget`);

    const otel = new Map();
    for (const p of packages.filter((p) => p.name.startsWith('@opentelemetry/'))) {
      otel.set(p.name, [...(otel.get(p.name) ?? []), `${p.version} in ${path.relative(app, p.dir)}`]);
    }
    const twice = [...otel].filter(([, copies]) => copies.length > 1);
    assert.deepEqual(twice, [], 'each OpenTelemetry package exists once');
    for (const dev of ['@opentelemetry/sdk-node', '@grpc/grpc-js', 'protobufjs']) {
      assert.ok(!packages.some((p) => p.name === dev), `${dev} is not installed in production`);
    }

    // The exports map: each condition's types match its format, and exist in the tarball.
    const installed = JSON.parse(fs.readFileSync(path.join(nm, 'resetwatch/package.json'), 'utf8'));
    const entry = installed.exports['.'];
    assert.match(entry.import.types, /\.d\.mts$/);
    assert.match(entry.import.default, /\.mjs$/);
    assert.match(entry.require.types, /\.d\.ts$/);
    assert.match(entry.require.default, /\.js$/);
    for (const f of [entry.import.types, entry.import.default, entry.require.types, entry.require.default, 'LICENSE', 'CHANGELOG.md']) {
      assert.ok(fs.existsSync(path.join(nm, 'resetwatch', f)), `${f} is in the tarball`);
    }

    // The private OTLP path loads from the production install alone: one reset, one span.
    const rx = await startReceiver();
    try {
      const r = await runNode(app, ['--require', 'resetwatch', '-e', RESET_ONCE], {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        RESETWATCH_PORT: 'off',
        RESETWATCH_LOG: 'off',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no line from the agent');
      assert.equal(rx.spans.filter((s) => s.name === 'connection reset').length, 1, `one reset span (${rx.requests.length} requests)`);
    } finally {
      await rx.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

/** A loopback server that resets the connection it accepts; the client's error is handled. */
const RESET_ONCE = `
const net = require('node:net');
const server = net.createServer((s) => s.resetAndDestroy()).listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('error', () => server.close());
});`;

function runNode(cwd, args, env) {
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('RESETWATCH_') && k !== 'NODE_OPTIONS'),
    );
    const child = spawn(process.execPath, args, { cwd, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// --- imports against declarations ---

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageOf = (spec) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');
const isBare = (spec) => !spec.startsWith('.') && !spec.startsWith('/') && !isBuiltin(spec);
const names = (...sections) => new Set(sections.flatMap((s) => Object.keys(s ?? {})));

/**
 * Which packages a file may import, by where it lives (paths relative to the checked root):
 * shipped code only runtime dependencies; fixtures run inside a test-made install that install's.
 */
function allowedFor(file, pkg, root) {
  if (/^dist\/(agent|exporters)\//.test(file)) return names(pkg.dependencies);
  const own = [pkg.name];
  if (file.startsWith('test/fixtures/neighbours/')) {
    const neighbours = JSON.parse(fs.readFileSync(path.join(root, 'test/neighbours/package.json'), 'utf8'));
    return new Set([...own, ...names(neighbours.dependencies)]);
  }
  // The app test/helpers/shapes.mjs installs: its dependency debug, pinned there.
  if (file.startsWith('test/fixtures/shapes/')) return new Set([...own, ...Object.keys(SHAPES_VERSIONS).filter((n) => n === 'debug')]);
  return new Set([...own, ...names(pkg.dependencies, pkg.devDependencies, pkg.peerDependencies, pkg.optionalDependencies)]);
}

/** Type imports of generated declaration files (tsc writes them in these two forms only). */
function declarationImports(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\(\s*)(['"])([^'"]+)\1/g)].map((m) => m[2]);
}

/** Bare imports under `root` not covered by `pkg`: ["<file> → <specifier>", …], and how much was looked at. */
async function undeclaredImports(root, pkg, targets) {
  const { output } = await cruise(targets, {
    baseDir: root,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|fixtures/tls|fixtures/otel-tls)/' },
    moduleSystems: ['cjs', 'es6'],
  });
  const found = [];
  let files = 0;
  for (const m of output.modules) {
    if (m.source.includes('node_modules') || m.coreModule || m.couldNotResolve) continue;
    files++;
    const allowed = allowedFor(m.source, pkg, root);
    for (const d of m.dependencies) {
      if (isBare(d.module) && !allowed.has(packageOf(d.module))) found.push(`${m.source} → ${d.module}`);
    }
  }
  for (const top of ['dist/agent', 'dist/exporters']) {
    const dir = path.join(root, top);
    if (!fs.existsSync(dir)) continue;
    for (const e of fs.readdirSync(dir, { recursive: true })) {
      if (!/\.d\.m?ts$/.test(e)) continue;
      const rel = path.posix.join(top, e.split(path.sep).join('/'));
      files++;
      for (const spec of declarationImports(path.join(dir, e))) {
        if (isBare(spec) && !names(pkg.dependencies).has(packageOf(spec))) found.push(`${rel} → ${spec}`);
      }
    }
  }
  return { found: found.sort(), files };
}

test('every bare import names a declared package (shipped code: runtime dependencies only)', async () => {
  for (const d of ['dist/agent', 'dist/exporters', 'dist/dashboards']) {
    assert.ok(fs.existsSync(path.join(ROOT, d)), `${d} missing: run \`npm run build\` first`);
  }
  const { found, files } = await undeclaredImports(ROOT, PKG, ['dist/agent', 'dist/exporters', 'dist/dashboards', 'test', 'bench']);
  assert.ok(files > 150, `looked at only ${files} files`);
  assert.deepEqual(found, [], 'declare these packages in package.json (agent/ and exporters/: in dependencies)');
});

test('every runtime dependency is loaded by the shipped code', async () => {
  const { output } = await cruise(['dist/agent', 'dist/exporters'], {
    baseDir: ROOT,
    doNotFollow: { path: 'node_modules' },
    moduleSystems: ['cjs', 'es6'],
  });
  const used = new Set(
    output.modules
      .flatMap((m) => m.dependencies.map((d) => d.module))
      .filter(isBare)
      .map(packageOf),
  );
  const unused = Object.keys(PKG.dependencies).filter((d) => !used.has(d));
  assert.deepEqual(unused, [], 'runtime dependencies nothing requires: remove them or make them devDependencies');
});

test('the import check fails on undeclared imports (negative case on temp files)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resetwatch-imports-'));
  try {
    const write = (rel, text) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    };
    const pkg = { name: 'me', dependencies: { 'prom-client': '1', '@opentelemetry/api': '1' }, devDependencies: { typescript: '1' } };
    write(
      'dist/agent/bad.js',
      [
        "require('node:fs'); require('fs'); require('./local');",
        "require('prom-client/lib/registry'); require('@opentelemetry/api');",
        "require('typescript');", // a devDependency in shipped code
        "require('left-pad');", // declared nowhere
        "import('@opentelemetry/core/build/src/index.js');", // a subpath of an undeclared package
      ].join('\n'),
    );
    write('dist/agent/local.js', 'module.exports = 1;\n');
    write('dist/exporters/bad.d.ts', "import type { Tracer } from '@opentelemetry/sdk-trace-base';\nexport declare const t: Tracer;\n");
    write('test/ok.mjs', "import 'typescript'; import 'me'; import 'node:path';\n");
    write('test/bad.mjs', "import { x } from 'acorn';\nexport { x };\n");
    const { found } = await undeclaredImports(root, pkg, ['dist', 'test']);
    assert.deepEqual(found, [
      'dist/agent/bad.js → @opentelemetry/core/build/src/index.js',
      'dist/agent/bad.js → left-pad',
      'dist/agent/bad.js → typescript',
      'dist/exporters/bad.d.ts → @opentelemetry/sdk-trace-base',
      'test/bad.mjs → acorn',
    ]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
