// The process family's name (./family.ts), and holding it from a preload on. A process whose
// event loop has not turned yet (execFileSync at startup, a long synchronous start) must already
// hold the name: a child that runs and exits meanwhile connects to it, and what it hands over
// waits in this socket's backlog and buffers until this process turns and leads. Only the bind
// happens before the first turn, when the preload installs (the app's first load of node:net, which
// child_process loads too: agent/register.ts); the election's outcome and the family's protocol (./family.ts, loaded then)
// follow in the event loop's first turn, so `node -e 1` compiles none of it.
//
// The bind goes through net.Server#_listen2 (Node's "legacy alias" of its setupListenHandle, on
// Node 20 to 26), not listen(): listen() requires node:cluster for every server, which loads
// child_process and dgram (~1 ms at each start, docs/benchmarks.md); this socket is never a cluster
// worker's (those never hold a name). Where _listen2 is missing or throws before binding: listen().
// That fallback is mostly dead on Node 20 to 26: listen() itself ends in _listen2, so what made it
// throw here most likely throws there too (then the name is not held, and the family binds later).
// Also listen() where something subscribes to Node's tracing:net.server.listen channel: listen()
// publishes its asyncStart, _listen2 only the asyncEnd, and another agent must not see an end
// without a start.
import { channel } from 'node:diagnostics_channel';
import * as net from 'node:net';
import { readFileSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { pm2NoDaemon } from '../../agent/launcher';
import type { Config } from '../../agent/config';
import { builtinLoaded } from '../../agent/builtins';
import { guard } from '../../agent/guard';

/**
 * The family's name: one per user, PID namespace, session, metrics token, host:port (and protocol
 * version) in the network namespace. npm start, nodemon, cluster and spawned children share their
 * session; each systemd service has its own, so unrelated services on one host never merge.
 * Containers that share a network namespace (a pod's containers, `hostNetwork`, `docker --network
 * host`) each have a PID namespace of their own, in which the session id is the same in all of them
 * (1 under runc, which makes the container's first process a session leader; 0 where the leader is
 * outside the namespace): the namespace keeps them apart. PM2 starts its daemon and each fork-mode
 * app in a session of its own: their family is PM2's home instead of the session (pm2Home()). The
 * token is in the name as a digest, so processes with another token (or none) never share an
 * endpoint: a leader without the token can never serve a token-protected process's resets.
 */
export function familyName(host: string, port: number, token = ''): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const ns = pidNamespace();
  const pm2 = pm2Home();
  const sid = pm2 === undefined ? sessionId() : undefined;
  const scope = pm2 !== undefined ? `/pm2${digest(pm2)}` : sid !== undefined ? `/s${sid}` : '';
  const t = token === '' ? '' : `/t${digest(token)}`;
  return `\0resetwatch/2/u${uid}${ns === undefined ? '' : `/p${ns}`}${scope}${t}/${host}:${port}`;
}

const digest = (s: string) => sha256().update(s).digest('hex').slice(0, 16);

/**
 * The PM2 home directory this process runs under, when PM2 runs it: the daemon (its script
 * lib/Daemon.js, PM2_HOME set by the client that spawned it), an app or an app's child (PM2 sets
 * `pm_id` and PM2_HOME in each app's environment), or pm2-runtime (the daemon in the foreground, as
 * in containers) and `pm2 --no-daemon`, which take PM2_HOME or ~/.pm2 as PM2 does. PM2
 * spawns the daemon and its fork-mode apps detached, each a session of its own, so the session
 * cannot gather them (PM2's cluster workers are the daemon's cluster workers: ./cluster.ts).
 */
export function pm2Home(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv): string | undefined {
  const home = env.PM2_HOME;
  const script = typeof argv[1] === 'string' ? argv[1].split(path.sep).join('/') : '';
  if (typeof home === 'string' && home !== '' && (env.pm_id !== undefined || /\/pm2\/lib\/Daemon\.js$/.test(script)))
    return path.resolve(home);
  const foreground =
    /\/pm2-(runtime|docker)$/.test(script) ||
    /\/pm2\/lib\/binaries\/Runtime4Docker\.js$/.test(script) ||
    ((/\/pm2$/.test(script) || /\/pm2\/lib\/binaries\/CLI\.js$/.test(script)) && pm2NoDaemon(script, argv.slice(2)));
  if (!foreground) return undefined;
  return path.resolve(
    typeof home === 'string' && home !== ''
      ? home
      : path.join(env.HOME || (require('node:os') as typeof import('node:os')).homedir(), '.pm2'),
  );
}

/** node:crypto, loaded only for a metrics token or PM2: every process joins a family, and crypto costs ~1.5 ms to load. */
function sha256(): import('node:crypto').Hash {
  return (require('node:crypto') as typeof import('node:crypto')).createHash('sha256');
}

/** The session id: field 6 of /proc/self/stat, read as a file only (see test/shapes-stat); undefined when /proc is unreadable. */
function sessionId(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const sid = Number(fields[3]);
    return Number.isSafeInteger(sid) && sid >= 0 ? sid : undefined;
  } catch {
    return undefined;
  }
}

/** The PID namespace's inode (`/proc/self/ns/pid` links to `pid:[4026531836]`); undefined when /proc is unreadable. */
function pidNamespace(): string | undefined {
  try {
    return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/** The name bound before the family exists: its server, the bind's outcome, what it accepted meanwhile. */
export interface HeldName {
  readonly name: string;
  readonly server: net.Server;
  /** The bind's error, once Node has emitted it (in the tick after the bind). */
  error: (Error & { code?: string }) | undefined;
  /** Connections accepted before the family took over (at most MAX_EARLY), unref'd. */
  readonly early: net.Socket[];
  /** The family's accept, once it took over. */
  accept: ((socket: net.Socket) => void) | undefined;
  /** Called with the bind's error while the name is still held (not yet taken by a family). */
  failed: () => void;
}

/** Connections a held name keeps for the family; beyond, closed (the member retries). */
const MAX_EARLY = 256;

let held: HeldName | undefined;

/**
 * Binds the family's name now, where a family can exist (Linux, a fixed port) and this process is
 * no cluster worker (clusterWorker()). `failed` is called
 * when the bind's error comes (in the tick after the bind: the name is another process's, or
 * abstract sockets are refused) while the name is still held here. A name held already (by the
 * preload) is kept and passes to this caller. Returns the release, which does nothing once the
 * name has passed on (to a family, or to a later caller).
 */
export function holdFamilyName(config: Config, failed: () => void): () => void {
  if (process.platform !== 'linux' || typeof config.port !== 'number' || config.port === 0) return () => {};
  if (clusterWorker()) return () => {};
  const name = familyName(config.host, config.port, config.metricsToken);
  let h = held;
  if (h !== undefined && h.name === name) {
    h.failed = failed; // held already (by the preload): kept, not bound again, and this caller's now
  } else {
    h = hold(name, failed);
  }
  const mine = h;
  return () => {
    if (held === mine && mine.failed === failed) releaseFamilyName();
  };
}

/**
 * Whether this process is a cluster worker, without loading node:cluster where it is not one. Not
 * NODE_UNIQUE_ID: Node deletes it before preloads run (Node 20 to 26). In a worker Node loads
 * cluster before any preload, so a process with an IPC channel and no cluster loaded is no worker.
 */
export function clusterWorker(): boolean {
  if (typeof process.send !== 'function' || builtinLoaded('cluster') === false) return false;
  return (require('node:cluster') as typeof import('node:cluster')).isWorker === true;
}

function hold(name: string, failed: () => void): HeldName {
  releaseFamilyName();
  const h: HeldName = {
    name,
    server: net.createServer((socket) =>
      guard('family.early', () => {
        if (h.accept !== undefined) return h.accept(socket);
        socket.unref();
        socket.on('error', () => {
          /* 'close' follows */
        });
        if (h.early.length < MAX_EARLY) h.early.push(socket);
        else socket.destroy();
      }),
    ),
    error: undefined,
    early: [],
    accept: undefined,
    failed,
  };
  h.server.on('error', (err: Error) => {
    h.error = err;
    if (held === h) guard('family.held', h.failed);
  });
  // Unref'd before the bind (Node's setupListenHandle honours it): whatever throws on the way, this
  // server never keeps the process alive; closed on a throw, it never holds the name unread.
  h.server.unref();
  try {
    bind(h.server, h.name);
  } catch (err) {
    h.server.close();
    throw err;
  }
  held = h;
  return h;
}

/** What _listen2 publishes to when the bind completes (net.js loads diagnostics_channel already). */
const LISTEN_TRACED = channel('tracing:net.server.listen:asyncEnd');

type Listen2 = (address: string, port: number, addressType: number, backlog: number) => void;

/**
 * Whether the bind goes through listen(), which requires node:cluster (and it node:child_process):
 * where _listen2 is missing, or something subscribes to Node's listen tracing.
 */
export function bindNeedsListen(): boolean {
  return typeof (net.Server.prototype as { _listen2?: unknown })._listen2 !== 'function' || LISTEN_TRACED.hasSubscribers;
}

/** What listen({ path }) does in a primary, minus cluster: the name (a Unix-domain server's mark, which the server hook skips), then the bind. */
function bind(server: net.Server, name: string): void {
  (server as net.Server & { _pipeName?: string })._pipeName = name;
  if (!listen2(server, name, -1, -1)) server.listen({ path: name });
}

/**
 * Binds `server` the way listen() ends, through Node's _listen2 (no cluster, no dns.lookup); false
 * where it cannot (bindNeedsListen(), or another shape of the private method): listen() then.
 * `addressType` -1 with `port` -1 for a Unix-domain name, else 4 or 6.
 */
export function listen2(server: net.Server, address: string, port: number, addressType: number): boolean {
  const s = server as net.Server & { _listen2?: Listen2 };
  if (bindNeedsListen() || typeof s._listen2 !== 'function') return false;
  try {
    s._listen2(address, port, addressType, 511);
    return true;
  } catch {
    // Bound, and something wrapping the method threw after (Node keeps _listen2 for wrappers):
    // bound all the same. Else another shape of the private method: listen().
    return server.listening;
  }
}

/** The held name, handed to the family that starts with it (undefined for another name, or none). */
export function takeFamilyName(name: string): HeldName | undefined {
  const h = held;
  held = undefined;
  if (h !== undefined && h.name === name) return h;
  if (h !== undefined) close(h);
  return undefined;
}

/** Closes a name still held (the agent stopped, or restarted with other settings, before its family started). */
export function releaseFamilyName(): void {
  const h = held;
  held = undefined;
  if (h !== undefined) close(h);
}

function close(h: HeldName): void {
  h.server.close();
  for (const socket of h.early.splice(0)) socket.destroy();
}
