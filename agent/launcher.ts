// Package-manager launchers (npm, npx, yarn, pnpm, corepack) only start the app's script and wait
// for it. With NODE_OPTIONS="--require resetwatch" they load the agent too: there it stays dormant
// (nothing hooked, nothing bound, nothing printed), because their own sockets (registry fetches,
// update checks) are not the service's and their start-up cost would be paid on every script run.
// The app they start loads the agent as usual. Recognised by the script Node runs (process.argv[1]).
import * as path from 'node:path';

/** Script paths of launchers, matched on the path's tail with '/' separators. */
const LAUNCHERS: [RegExp, string][] = [
  [/\/npm\/bin\/npm-cli\.js$/, 'npm'],
  [/\/npm\/bin\/npx-cli\.js$/, 'npx'],
  [/\/yarn\/bin\/yarn\.c?js$/, 'yarn'],
  // The official node:* images: /opt/yarn-v1.22.22/bin/yarn.js.
  [/\/yarn-v[^/]*\/bin\/yarn\.c?js$/, 'yarn'],
  [/\/\.yarn\/releases\/yarn-[^/]*\.c?js$/, 'yarn'],
  [/\/pnpm\/bin\/pnpm\.c?js$/, 'pnpm'],
  [/\/pnpm\/bin\/pnpx\.c?js$/, 'pnpm'],
  [/\/pnpm\/dist\/pnpm\.c?js$/, 'pnpm'],
  [/\/corepack\/dist\/(corepack|npm|npx|pnpm|pnpx|yarn|yarnpkg)\.js$/, 'corepack'],
  // Started through a bin link (/usr/bin/npm → …/npm-cli.js): argv[1] is the link's own path, and
  // resolving it would mean a stat call at preload time (it can change how pnpm layouts resolve).
  [/\/(npm|npx|yarn|yarnpkg|pnpm|pnpx|corepack)$/, 'link'],
];

/** The launcher `script` (process.argv[1]) belongs to, or undefined for anything else. */
export function launcherOf(script: string | undefined): string | undefined {
  if (typeof script !== 'string' || script === '') return undefined;
  const p = script.split(path.sep).join('/');
  for (const [re, name] of LAUNCHERS) {
    const m = re.exec(p);
    if (m !== null) return name === 'link' ? m[1] : name;
  }
  return undefined;
}
