// Two network namespaces joined by a veth pair, for resets a kernel makes: a firewall's REJECT,
// lost conntrack state, `ss -K`. `client` (10.77.0.1) and `server` (10.77.0.2) exist only inside
// the namespaces, so nothing here can reach another host and parallel runs never clash (names
// carry this process's pid and a counter). Needs root; without namespaces the test fails with a
// clear message, it never skips.
import { execFileSync, spawn } from 'node:child_process';

import { JsonLines } from './json-lines.mjs';
import { cleanEnv, ROOT } from './subprocess.mjs';

let seq = 0;
const live = new Set();
// A test run killed mid-way still removes its namespaces.
process.on('exit', () => {
  for (const pair of live) pair.closeSync();
});

/** Runs a command, throws with its stderr when it fails; returns stdout. */
export function sh(cmd, ...args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${String(err.stderr || err.message).trim()}`);
  }
}

/** Creates the pair of namespaces; `close()` (call it in `after`) removes them and their processes. */
export function netPair() {
  const base = `rw${process.pid.toString(36)}n${++seq}`;
  const pair = new NetPair(base);
  live.add(pair);
  return pair;
}

class NetPair {
  constructor(base) {
    this.client = { ns: `${base}c`, addr: '10.77.0.1' };
    this.server = { ns: `${base}s`, addr: '10.77.0.2' };
    this.procs = new Set();
    try {
      sh('ip', 'netns', 'add', this.client.ns);
    } catch (err) {
      throw new Error(`network namespaces are unavailable, these tests need root and a kernel with network namespaces (${err.message})`);
    }
    sh('ip', 'netns', 'add', this.server.ns);
    sh('ip', 'link', 'add', 'veth0', 'netns', this.client.ns, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', this.server.ns);
    for (const side of [this.client, this.server]) {
      sh('ip', '-n', side.ns, 'addr', 'add', `${side.addr}/30`, 'dev', 'veth0');
      sh('ip', '-n', side.ns, 'link', 'set', 'veth0', 'up');
      sh('ip', '-n', side.ns, 'link', 'set', 'lo', 'up');
    }
  }

  /** Runs a command inside a namespace (`side`: this.client or this.server). */
  exec(side, cmd, ...args) {
    return sh('ip', 'netns', 'exec', side.ns, cmd, ...args);
  }

  /**
   * Starts `node ...args` inside a namespace, in a clean environment plus `env` (the agent only if
   * `args` load it). Its stdout is read as JSON lines (see JsonLines).
   */
  node(side, args, env = {}) {
    const child = spawn('ip', ['netns', 'exec', side.ns, process.execPath, ...args], {
      cwd: ROOT,
      env: cleanEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const proc = new JsonLines(child);
    this.procs.add(proc);
    return proc;
  }

  async close() {
    for (const p of this.procs) await p.stop();
    this.closeSync();
  }

  closeSync() {
    for (const p of this.procs) p.child.kill('SIGKILL');
    for (const side of [this.client, this.server])
      try {
        sh('ip', 'netns', 'del', side.ns);
      } catch {
        /* already gone */
      }
    live.delete(this);
  }
}
