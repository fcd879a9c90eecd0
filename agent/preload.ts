// Was this load of the package the preload (`--require resetwatch`, `--import resetwatch`, in the
// command line or NODE_OPTIONS), or the app's own require/import? A preload installs the hooks
// when the app first loads node:net and starts the outputs in the first turn; an app's own load
// installs at once and starts the outputs one
// tick later, so that a start() right after it replaces the environment's settings before anything
// is bound or opened (agent/register.ts). Read from the flags, as Node's own option parser sees
// them: no file system access at preload time.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const FLAG = /^(--require|-r|--import|--loader|--experimental-loader)(?:=(.*))?$/;

/** NODE_OPTIONS split as Node splits it: on spaces, with double quotes grouping and `\` escaping. */
function splitOptions(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && quoted && i + 1 < text.length) {
      cur += text[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      any = true;
    } else if (ch === ' ' && !quoted) {
      if (any || cur !== '') out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
    }
  }
  if (any || cur !== '') out.push(cur);
  return out;
}

/** The package's root directory (dist/agent/ is two levels down). */
const ROOT = path.resolve(__dirname, '..', '..');

/** A preload flag's value that names this package: by name, or a path or file: URL inside it. */
function namesUs(value: string): boolean {
  if (value === 'resetwatch' || value.startsWith('resetwatch/')) return true;
  let file = value;
  try {
    if (value.startsWith('file:')) file = fileURLToPath(value);
  } catch {
    return false;
  }
  if (!path.isAbsolute(file) && !file.startsWith('.')) return false;
  const full = path.resolve(file);
  return full === ROOT || full.startsWith(ROOT + path.sep) || /[\\/]node_modules[\\/]resetwatch([\\/]|$)/.test(full);
}

/** True when a preload flag of this process names the package and the app's main module has not started. */
export function loadedAsPreload(mainStarted: boolean): boolean {
  if (mainStarted) return false;
  const args = [...process.execArgv, ...splitOptions(process.env.NODE_OPTIONS ?? '')];
  for (let i = 0; i < args.length; i++) {
    const m = FLAG.exec(args[i]);
    if (m === null) continue;
    const value = m[2] ?? args[++i];
    if (value !== undefined && namesUs(value)) return true;
  }
  return false;
}
