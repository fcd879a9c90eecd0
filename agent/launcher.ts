// Package-manager launchers (npm, npx, yarn, pnpm, corepack) only start the app's script and wait
// for it. With NODE_OPTIONS="--require resetwatch" they load the agent too: there it stays dormant
// (nothing hooked, nothing bound, nothing printed), because their own sockets (registry fetches,
// update checks) are not the service's and their start-up cost would be paid on every script run.
// The app they start loads the agent as usual. Recognised by the script Node runs (process.argv[1]).
// PM2's command-line clients (`pm2 start`, `pm2 list`, `pm2 reload`, `pm2-dev`) are too: they
// only talk to PM2's daemon, which starts the apps; held by them, the metrics port was taken from
// the daemon (a cluster's primary) while it started. `pm2 --no-daemon` is the daemon: not a launcher.
import * as path from 'node:path';

/** Script paths of launchers, matched on the path's tail with '/' separators. */
const LAUNCHERS: [RegExp, string][] = [
  [/\/npm\/bin\/npm-cli\.js$/, 'npm'],
  [/\/npm\/bin\/npx-cli\.js$/, 'npx'],
  [/\/yarn\/bin\/yarn\.c?js$/, 'yarn'],
  // The official node:* images: /opt/yarn-v1.22.22/bin/yarn.js.
  [/\/yarn-v[^/]*\/bin\/yarn\.c?js$/, 'yarn'],
  [/\/\.yarn\/releases\/yarn-[^/]*\.c?js$/, 'yarn'],
  // Yarn Berry installed from npm (`npm i -g @yarnpkg/cli-dist`, as corepack-less images do).
  [/\/@yarnpkg\/cli-dist\/bin\/yarn\.c?js$/, 'yarn'],
  [/\/pnpm\/bin\/pnpm\.c?js$/, 'pnpm'],
  [/\/pnpm\/bin\/pnpx\.c?js$/, 'pnpm'],
  [/\/pnpm\/dist\/pnpm\.c?js$/, 'pnpm'],
  [/\/corepack\/dist\/(corepack|npm|npx|pnpm|pnpx|yarn|yarnpkg)\.js$/, 'corepack'],
  [/\/pm2\/bin\/pm2(-dev)?$/, 'pm2'],
  [/\/pm2\/lib\/binaries\/(CLI|DevCLI)\.js$/, 'pm2'],
  // Started through a bin link (/usr/bin/npm → …/npm-cli.js): argv[1] is the link's own path, and
  // resolving it would mean a stat call at preload time (it can change how pnpm layouts resolve).
  [/\/(npm|npx|yarn|yarnpkg|pnpm|pnpx|corepack|pm2|pm2-dev)$/, 'link'],
];

/** `pm2 --no-daemon` (not pm2-dev): the flag before any `--`, after which PM2 passes arguments to the app. */
export function pm2NoDaemon(script: string, args: readonly string[]): boolean {
  if (/pm2-dev$|DevCLI\.js$/.test(script)) return false;
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--no-daemon');
}

/** The launcher `script` (process.argv[1]) belongs to, or undefined for anything else. `args`: the rest of argv. */
export function launcherOf(script: string | undefined, args: readonly string[] = []): string | undefined {
  if (typeof script !== 'string' || script === '') return undefined;
  const p = script.split(path.sep).join('/');
  for (const [re, name] of LAUNCHERS) {
    const m = re.exec(p);
    if (m === null) continue;
    const launcher = name === 'link' ? (m[1] === 'pm2-dev' ? 'pm2' : m[1]) : name;
    return launcher === 'pm2' && pm2NoDaemon(p, args) ? undefined : launcher;
  }
  return undefined;
}
