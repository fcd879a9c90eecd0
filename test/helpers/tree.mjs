// Process trees for the family tests: a command started with or without the agent in
// NODE_OPTIONS, its stdout read as JSON lines ({"ready": name, "pid": …} from tree-app.cjs), and
// a stop that signals it (its whole group when it has a session of its own).
import { spawn } from 'node:child_process';
import { ROOT } from './root.mjs';
import { cleanEnv } from './subprocess.mjs';

export const AGENT_OPTIONS = `--require ${ROOT}`;

/** Every tree started and not yet killed: `killTrees()` in afterEach, so a failing test leaves nothing running. */
const trees = [];

export function killTrees() {
  for (const { child, session } of trees.splice(0)) {
    try {
      process.kill(session ? -child.pid : child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/**
 * Starts `cmd args`. `session`: detached, so a process group and (setsid) a session of its own, and
 * so a family of its own. `ready(n)` resolves once n {"ready"} lines were printed; `stop(signal)`
 * signals it and resolves { code, signal, stdout, stderr }. Killed after 60 s whatever happens.
 */
export function startTree(cmd, args, { env = {}, cwd = ROOT, agent = true, session = true } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    detached: session,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv({ ...(agent ? { NODE_OPTIONS: AGENT_OPTIONS } : {}), ...env }),
  });
  trees.push({ child, session });
  let stdout = '';
  let stderr = '';
  const waiters = [];
  const check = () => {
    for (const w of waiters.slice())
      if (w.test()) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  child.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d;
    check();
  });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    check();
  });
  const signal = (sig) => {
    try {
      process.kill(session ? -child.pid : child.pid, sig);
    } catch {
      /* gone */
    }
  };
  const killer = setTimeout(() => signal('SIGKILL'), 60000);
  const closed = new Promise((resolve) =>
    child.on('close', (code, sig) => {
      clearTimeout(killer);
      resolve({ code, signal: sig, stdout, stderr });
    }),
  );
  const lines = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  const until = (test, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`)), 30000);
      waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      check();
    });
  return {
    child,
    lines,
    closed,
    stderr: () => stderr,
    /** Resolves once `pred(stderr)` holds. */
    stderrUntil: (pred, what) => until(() => pred(stderr), what),
    ready: (n = 1) => until(() => lines().filter((l) => l.ready).length >= n, `${n} ready lines`),
    /** Resolves with the {"exited": name} line once it is printed. */
    exited: (name) =>
      until(() => lines().some((l) => l.exited === name), `${name} to exit`).then(() => lines().find((l) => l.exited === name)),
    /** The {"ready": name} line, if printed. */
    readyLine: (name) => lines().find((l) => l.ready === name),
    pid: (name) => lines().find((l) => l.ready === name)?.pid,
    stop(sig = 'SIGTERM') {
      signal(sig);
      return closed;
    },
  };
}
