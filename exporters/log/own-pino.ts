// resetwatch's own pino, out of reach of other agents' instrumentation of the app's pino.
// APM agents hook `require('pino')` (OpenTelemetry's instrumentation-pino, dd-trace, …) and hand
// out a wrapped factory whose loggers get the active span's ids or a `dd` object mixed into every
// line, and a second stream that forwards every line as one of the app's log records. resetwatch's
// lines are the agent's own output, with its own trace ids (docs/logs.md): so it compiles pino's
// entry module privately, as a module object of its own that is never in require.cache and that no
// require hook sees. pino's internal files are shared with the app's copy: an agent that hooks one of
// those, or listens to pino's own asJson channel (New Relic does both), still sees our lines
// (docs/logs.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Module from 'node:module';

type Pino = typeof import('pino');
type ModuleInternals = typeof Module & { _nodeModulePaths(dir: string): string[] };
type ModuleInstance = Module & { _compile(source: string, filename: string): void };

let pino: Pino | undefined;

export function ownPino(): Pino {
  if (pino !== undefined) return pino;
  try {
    // In an app's bundle (esbuild, webpack, ncc) pino is a module of the bundle, with no file of its
    // own to resolve: the bundle's copy, below.
    const file = require.resolve('pino');
    if (typeof file !== 'string') throw new TypeError('pino is bundled');
    const M = Module as ModuleInternals;
    const m = new M(file, module) as ModuleInstance;
    m.filename = file;
    m.paths = M._nodeModulePaths(path.dirname(file));
    m._compile(fs.readFileSync(file, 'utf8'), file);
    pino = m.exports as Pino;
  } catch {
    pino = require('pino') as Pino; // a loader or a bundle that cannot do this: the shared copy, as before
  }
  return pino;
}
