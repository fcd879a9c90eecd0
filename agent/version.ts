// The package version, read once from package.json: the instrumentation scope of our tracer and
// meter, and the `version` label of resetwatch_info. Never throws: 'unknown' when unreadable.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { diag } from './diag';

function read(): string {
  try {
    // dist/agent/version.js → package.json at the package root.
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version.slice(0, 64) : 'unknown';
  } catch {
    diag('debug', 'could not read the package version');
    return 'unknown';
  }
}

export const VERSION: string = read();
