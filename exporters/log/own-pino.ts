// resetwatch's own pino, out of reach of other agents' instrumentation of the app's pino.
// APM agents hook `require('pino')` (OpenTelemetry's instrumentation-pino, dd-trace, …) and hand
// out a wrapped factory whose loggers get the active span's ids or a `dd` object mixed into every
// line, and a second stream that forwards every line as one of the app's log records; others rewrite
// pino's files as Node compiles them (New Relic, through @apm-js-collab/tracing-hooks' wrapper of
// Module.prototype._compile: a `nr_asJson` channel in pino/lib/tools.js that forwards every line),
// or listen to pino's own `tracing:pino_asJson` channel (Sentry's pinoIntegration). resetwatch's
// lines are the agent's own output, with its own trace ids (docs/logs.md). So every JavaScript file
// of pino's own package is compiled here, by vm.compileFunction, into module objects of our own:
// never in require.cache, never through a require hook or Module.prototype._compile, and pino's
// tracing channel under a name of ours. pino's dependencies (sonic-boom, …) are shared with the app:
// nothing instruments them for logs. Written by hand, not a library's: it is a small loader for one
// package, and no library loads a package privately (measured: the trial of 2026-12-06 with New
// Relic 13.20 forwarded every line of ours until pino's files were compiled here).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

type Pino = typeof import('pino');
type Loaded = { exports: unknown };

let pino: Pino | undefined;

export function ownPino(): Pino {
  if (pino !== undefined) return pino;
  try {
    // In an app's bundle (esbuild, webpack, ncc) pino is a module of the bundle, with no file of its
    // own to resolve: the bundle's copy, below.
    const entry = require.resolve('pino');
    if (typeof entry !== 'string') throw new TypeError('pino is bundled');
    pino = privately(entry) as Pino;
  } catch {
    pino = require('pino') as Pino; // a loader or a bundle that cannot do this: the shared copy, as before
  }
  return pino;
}

/** Loads the package whose entry is `entry` (at the package's root), its own files compiled here. */
function privately(entry: string): unknown {
  // Loaded here, at the first reset line, not with the outputs (node:vm is not loaded otherwise).
  const vm = require('node:vm') as typeof import('node:vm');
  const dc = require('node:diagnostics_channel') as typeof import('node:diagnostics_channel');
  // pino's tracing channel (`tracing:pino_asJson`) under our own name, which nobody subscribes to.
  const channels = {
    ...dc,
    tracingChannel: (name: unknown) => dc.tracingChannel((typeof name === 'string' ? `resetwatch:${name}` : name) as string),
  };
  const root = path.dirname(entry);
  const own = (file: string) =>
    file.startsWith(root + path.sep) && file.endsWith('.js') && !file.includes(`${path.sep}node_modules${path.sep}`, root.length);
  const loaded = new Map<string, Loaded>();
  const load = (file: string): unknown => {
    const done = loaded.get(file);
    if (done !== undefined) return done.exports;
    const module: Loaded = { exports: {} };
    loaded.set(file, module); // before it runs: a cycle gets the exports so far, as require() gives
    const shared = createRequire(file);
    const req = Object.assign(
      (spec: string): unknown => {
        if (spec === 'node:diagnostics_channel' || spec === 'diagnostics_channel') return channels;
        const resolved = shared.resolve(spec);
        return own(resolved) ? load(resolved) : shared(spec);
      },
      { resolve: shared.resolve, cache: shared.cache, main: shared.main },
    );
    const params = ['exports', 'require', 'module', '__filename', '__dirname'];
    const body = vm.compileFunction(fs.readFileSync(file, 'utf8'), params, { filename: file });
    body.call(module.exports, module.exports, req, module, file, path.dirname(file));
    return module.exports;
  };
  return load(entry);
}
