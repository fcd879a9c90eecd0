// A child process that speaks JSON lines, for tests that drive an app step by step and read what
// it saw (its own errors, the agent's events) as it happens.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { cleanEnv, ROOT } from './subprocess.mjs';

/** Starts `node ...args` (no agent unless `args` load it) in the repository, in a clean environment plus `env`. */
export function nodeJson(args, env = {}) {
  return new JsonLines(spawn(process.execPath, args, { cwd: ROOT, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] }));
}

/**
 * A child process that speaks JSON lines: `send(obj)` writes one to its stdin, `next(pred)` resolves
 * with the first line from its stdout matching `pred` (already seen or still to come). A line that is
 * not JSON, or the child exiting, fails every waiter with its stderr.
 */
export class JsonLines {
  constructor(child) {
    this.child = child;
    this.lines = [];
    this.stderr = '';
    this.waiters = [];
    this.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      this.stderr += d;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        this.fail(new Error(`not a JSON line from the child: ${line}\nstderr: ${this.stderr}`));
        return;
      }
      this.lines.push(msg);
      for (const w of this.waiters.slice())
        if (w.pred(msg)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(msg);
        }
    });
    this.exited.then(({ code, signal }) => this.fail(new Error(`the child exited (${code ?? signal}); stderr: ${this.stderr}`)));
  }

  send(obj) {
    this.child.stdin.write(`${JSON.stringify(obj)}\n`);
  }

  next(pred, ms = 10000) {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i === -1) return;
        this.waiters.splice(i, 1);
        reject(new Error(`no matching line within ${ms} ms; saw ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`));
      }, ms).unref();
    });
  }

  fail(err) {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
