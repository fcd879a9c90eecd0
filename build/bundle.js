// The package's runtime files: tsc's per-module output (dist/) bundled by esbuild into four files
// that load in turn, so that a process compiles only the code it runs (startup figures in
// docs/benchmarks.md). The source stays one module per concern; this split is build output only.
//
// - dist/agent/index.js, the entry: what every load runs, the agent switched off included (the
//   API, the config, the preload and launcher checks). RESETWATCH_DISABLED, npm/npx/yarn/pnpm and
//   corepack (agent/launcher.ts) compile nothing else.
// - dist/agent/chunk-hooks.js: what an agent that is on runs when the app first loads node:net (the
//   hooks, the outputs' list, the bind of the Prometheus family's name; agent/register.ts), loaded
//   by the entry's first require of one of them.
// - dist/agent/chunk-outputs.js: what starts in the event loop's first turn or later (the
//   outputs, the endpoint, classification of a reset), loaded by the first require of one of them.
// - dist/agent/chunk-family.js: the Prometheus family's election and protocol, loaded where the
//   family starts: in the first turn, or at once in a process whose preload found the family's
//   name taken (a member joins before it can have a reset, without compiling the outputs).
//
// The entry loads the others with Node's own `.js` loader as it was when the entry loaded (COMPILED,
// below: a loader registered since, such as tsx's, parsed them again, ~50 ms per process).
//
// One instance of every module: each module is bundled into exactly one file (the first whose
// roots reach it, in the order above); another file's require of it becomes a stub that asks the
// entry's link for it by id, and the link loads the file that holds it once. So state (the bus,
// stats, the config) is never duplicated. Packages and Node built-ins stay outside, as before.
//
// Minified: whitespace and syntax only. Identifiers keep their names, so functions keep their
// `name` (the API's exports: promise 1) and an internal error stays readable.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(DIST, 'agent');

/** Each output file and the modules (tsc output, relative to dist/, no extension) it starts from. */
const CHUNKS = [
  { file: 'index.js', roots: ['agent/index'] },
  {
    file: 'chunk-hooks.js',
    roots: [
      'agent/hooks/client',
      'agent/hooks/server',
      'agent/hooks/tls',
      'agent/hooks/destroy',
      'agent/hooks/http',
      'agent/hooks/undici',
      'agent/hooks/activity',
      'exporters/index',
      'exporters/shared/labels',
      'exporters/prometheus/index',
      'exporters/prometheus/family-name',
      'exporters/prometheus/step-aside',
      'exporters/prometheus/threads',
      'exporters/prometheus/cluster-crashes',
    ],
  },
  {
    file: 'chunk-outputs.js',
    roots: [
      'agent/classify',
      'exporters/log/index',
      'exporters/otel/index',
      'exporters/otel/private',
      'exporters/prometheus/collect',
      'exporters/prometheus/server',
      'exporters/prometheus/recent',
      'exporters/prometheus/sample',
      'exporters/prometheus/record',
      'exporters/prometheus/family-validate',
    ],
  },
  { file: 'chunk-family.js', roots: ['exporters/prometheus/family'] },
];

const idOf = (file) => path.relative(DIST, file).replace(/\\/g, '/').replace(/\.js$/, '');
const fileOf = (id) => path.join(DIST, `${id}.js`);

/** A relative or absolute require of tsc output, as Node resolves it: x.js, then x/index.js. */
function resolveLocal(spec, dir) {
  const p = path.resolve(dir, spec);
  for (const f of [p, `${p}.js`, path.join(p, 'index.js')]) if (fs.existsSync(f) && fs.statSync(f).isFile()) return f;
  return undefined;
}

/**
 * `import * as net from 'node:net'` compiles to `__importStar(require("node:net"))`: a copy of the
 * module with a getter per export (~0.03 ms and a closure per export, for each of the ~16 such
 * imports at preload; their garbage cost a scavenge). For a Node built-in the module itself reads
 * the same: the code only reads its exports. Then every built-in's require becomes BUILTIN's call.
 */
function builtinsAsIs(source) {
  return source.replace(/__importStar\((require\("node:[\w/]+"\))\)/g, '$1').replace(/\brequire\((["'])node:/g, `${BUILTIN}($1node:`);
}

/**
 * Node's built-ins are loaded past require hooks (every file defines this, BUILTIN_SOURCE): Node's
 * own loader, Module._load, below the `require()` and `process.getBuiltinModule()` that
 * require-in-the-middle (OpenTelemetry, Sentry) and dd-trace wrap (a hook registered with
 * `module.registerHooks` still sees them). A hook that saw the agent's require of a built-in the
 * app never required instrumented it for the app: an app that required only node:http got
 * OpenTelemetry's `tcp.connect` spans with resetwatch loaded after it (a trial beside APM agents).
 * Module._load returns the module require() would (the same exports object, which a neighbour
 * patches in place when the app requires it). Module is taken by a literal require: in a bundle an app
 * made of the agent (webpack, ncc, rollup), a require of a variable throws (a trial of bundlers).
 */
const BUILTIN = '__resetwatchBuiltin';
const BUILTIN_SOURCE = `var ${BUILTIN} = ((load) => (id) => load(id, null, false))(require('node:module')._load);`;

const LINK = 'resetwatch-link';
const js = JSON.stringify;

/**
 * How the entry loads the other files: compiled by Node's own loader for `.js` as it was when the
 * entry loaded, so that a loader registered since (tsx's, @babel/register's) does not parse ~250 KB
 * of code that needs none of it (a trial of TypeScript loaders: ~50 ms of tsx's parser per process
 * under `node -r tsx/cjs`, every process of a tree). Where a file is not beside the entry (an app
 * that bundled the agent: its bundler followed the require() beside this call), require() loads it.
 */
const COMPILED = `const Module = require('node:module');
const path = require('node:path');
// Taken by the entry's first line (BANNER): this link itself runs only when a file is first wanted.
const compileJs = typeof __resetwatchCompileJs === 'function' ? __resetwatchCompileJs : undefined;
function compiled(file) {
  const filename = path.join(__dirname, file);
  const cached = Module._cache[filename];
  if (cached !== undefined) return cached.exports;
  if (typeof compileJs !== 'function') return undefined;
  const m = new Module(filename);
  m.filename = filename;
  m.paths = Module._nodeModulePaths(__dirname);
  Module._cache[filename] = m;
  try {
    compileJs(m, filename);
  } catch (err) {
    delete Module._cache[filename];
    if (err?.code === 'ENOENT') return undefined;
    throw err;
  }
  m.loaded = true;
  return m.exports;
}`;

/**
 * The entry's first line: Node's loader for `.js` files as it is when the entry loads (after the
 * strict-mode directive, which must stay first for the file to be strict).
 */
const BANNER = `'use strict';\nvar __resetwatchCompileJs = require('node:module')._extensions['.js'];`;

/**
 * The link: in the entry it holds the entry's modules and loads the other files on demand; in
 * another file it forwards to the entry's link, which the entry hands over when it loads the file.
 */
function linkSource(k, where) {
  if (k !== 0) return 'let entry;\nexports.connect = (link) => { entry = link; };\nexports.get = (id) => entry.get(id);\n';
  const own = Object.keys(where).filter((id) => where[id] === 0);
  const files = CHUNKS.map((c, i) => (i === 0 ? 'undefined' : `() => compiled(${js(`./${c.file}`)}) ?? require(${js(`./${c.file}`)})`));
  return `const own = {\n${own.map((id) => `  ${js(id)}: () => require(${js(fileOf(id))}),`).join('\n')}\n};
${COMPILED}
const files = [${files.join(', ')}];
const where = ${js(Object.fromEntries(Object.entries(where).filter(([, i]) => i !== 0)))};
const loaded = [];
exports.get = (id) => {
  const own_ = own[id];
  if (own_ !== undefined) return own_();
  const i = where[id];
  if (loaded[i] === undefined) {
    loaded[i] = files[i]();
    loaded[i].connect(exports);
  }
  return loaded[i].modules[id]();
};
`;
}

/** A non-entry file's entry: its modules by id, and how the entry connects it. */
function chunkEntrySource(k, where) {
  const mine = Object.keys(where).filter((id) => where[id] === k);
  return `exports.connect = require(${js(LINK)}).connect;\nexports.modules = {\n${mine.map((id) => `  ${js(id)}: () => require(${js(fileOf(id))}),`).join('\n')}\n};\n`;
}

/**
 * Builds file k. `where` (module id → file index) decides what is bundled here and what is a stub;
 * while it is being worked out (`final` false), modules reached here that no earlier file holds and
 * that are no later file's root are this file's.
 */
async function buildChunk(k, where, final) {
  const laterRoots = new Set(CHUNKS.slice(k + 1).flatMap((c) => c.roots));
  const mine = (id) =>
    final ? where[id] === k : where[id] === undefined ? !laterRoots.has(id) || CHUNKS[k].roots.includes(id) : where[id] === k;
  const plugin = {
    name: 'resetwatch-chunks',
    setup(build) {
      build.onResolve({ filter: /^\.\/chunk-[\w-]+\.js$/ }, (a) =>
        a.namespace === 'resetwatch' ? { path: a.path, external: true } : undefined,
      );
      build.onResolve({ filter: new RegExp(`^${LINK}$`) }, () => ({ path: LINK, namespace: 'resetwatch' }));
      build.onResolve({ filter: /^(\.|\/)/ }, (a) => {
        const file = resolveLocal(a.path, a.resolveDir || DIST);
        if (file === undefined || !file.startsWith(DIST + path.sep)) return undefined;
        const id = idOf(file);
        return mine(id) ? { path: file } : { path: id, namespace: 'resetwatch-stub' };
      });
      build.onLoad({ filter: /.*/, namespace: 'resetwatch-stub' }, (a) => ({
        contents: `module.exports = require(${js(LINK)}).get(${js(a.path)});\n`,
        resolveDir: OUT,
        loader: 'js',
      }));
      build.onLoad({ filter: /.*/, namespace: 'resetwatch' }, (a) => ({
        contents: a.path === LINK ? linkSource(k, where) : chunkEntrySource(k, where),
        resolveDir: OUT,
        loader: 'js',
      }));
      build.onResolve({ filter: /^resetwatch-chunk$/ }, () => ({ path: 'resetwatch-chunk', namespace: 'resetwatch' }));
      build.onLoad({ filter: /\.js$/, namespace: 'file' }, (a) => ({
        contents: builtinsAsIs(fs.readFileSync(a.path, 'utf8')),
        resolveDir: path.dirname(a.path),
        loader: 'js',
      }));
    },
  };
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    // The entry starts from its root; another file from a virtual entry listing its modules.
    entryPoints: [k === 0 ? fileOf(CHUNKS[0].roots[0]) : 'resetwatch-chunk'],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    minifyWhitespace: final,
    minifySyntax: final,
    outfile: path.join(OUT, CHUNKS[k].file),
    banner: { js: k === 0 ? `${BANNER}\n${BUILTIN_SOURCE}` : BUILTIN_SOURCE },
    allowOverwrite: true,
    write: final,
    metafile: true,
    logLevel: 'warning',
    plugins: [plugin],
  });
  return Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes(':'))
    .map((f) => idOf(path.resolve(ROOT, f)));
}

async function main() {
  // Which file holds each module: the first whose roots reach it.
  const where = {};
  for (let k = 0; k < CHUNKS.length; k++) {
    if (k > 0) for (const id of CHUNKS[k].roots) if (where[id] === undefined) where[id] = k;
    for (const id of await buildChunk(k, where, false)) if (where[id] === undefined || where[id] === k) where[id] = k;
    for (const id of CHUNKS[k].roots) {
      if (where[id] !== k) throw new Error(`${id} is reached from ${CHUNKS[where[id]].file} before ${CHUNKS[k].file}: move it there`);
    }
  }
  for (let k = CHUNKS.length - 1; k >= 0; k--) await buildChunk(k, where, true);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
