// The app's own listen() on the metrics endpoint's port: the app comes first. Without this an app
// that listens on that port (its own port given as RESETWATCH_PORT, or an app of its own on 9465)
// fails with EADDRINUSE whenever the endpoint bound first: `next start` listens ~1.5 s after the
// preload and exited 1 (the Next.js trial); `listen(port, 'localhost')` at startup binds after a
// DNS look-up, when the endpoint has bound in the first turn. Watched from the preload on (with a
// fixed port, in the main thread: agent/register.ts): an app's listen() on the port closes the
// endpoint if it listens, and keeps it from binding while that listen() is under way (./server.ts).
// A cluster primary binds for its round-robin workers through the same listen(). A listen() in
// another process of the family (a child, when the parent holds the endpoint) or in a worker
// thread is not seen: README "Limits".
import * as net from 'node:net';
import { guard } from '../../agent/guard';
import { patch, raiseStackLimit, restoreStackLimit, unpatch } from '../../agent/patch';
import { hrtimeBigint } from '../../agent/timers';

/**
 * How long an app's listen() counts as under way: a look-up of its host (glibc's resolver gives up
 * after 2 × 5 s). Only a listen() that failed, or one that listened and closed at once, holds the
 * endpoint back this long.
 */
const ASKING_NS = 12_000_000_000n;

let port = -1;
let host = '';
/**
 * The app's server that last asked for the port, when (monotonic), its bind's key then (Node's
 * `_connectionKey`, set at each bind and kept after close: a new one says this listen() bound, even
 * if the app closed the server since), and the last server seen holding the port.
 */
let asking: AppServer | undefined;
let askedAt = 0n;
let keyAtAsk: string | undefined;
let holder: AppServer | undefined;
/**
 * An app's server, read by its own fields: what Node's `listening` getter returns is `!!_handle`,
 * and a subclass's getter of its own would run the app's code (and may throw).
 */
type AppServer = net.Server & { _handle?: unknown; _connectionKey?: string };
const listening = (s: AppServer | undefined) => s !== undefined && s._handle != null;

/** The endpoint while it listens or binds: its server, and how it steps aside. */
let endpoint: { server: net.Server; stepAside: () => void } | undefined;
/** The endpoint's own servers: never the app asking. */
const own = new WeakSet<net.Server>();

/** From the hooks' install on: an app's listen() on `port` (any host that can clash with `endpointHost`) is seen. */
export function watchListens(endpointPort: number, endpointHost: string): () => void {
  port = endpointPort;
  host = endpointHost;
  patch(
    net.Server.prototype,
    'listen',
    (original) =>
      function listen(this: net.Server) {
        // biome-ignore lint/complexity/noArguments: passed on as they came (hooks/client.ts)
        const args = arguments as unknown as unknown[];
        if (port >= 0) guard('prometheus.stepAside', checkListen, this, args[0], args[1]);
        // The error of a port in use is made inside: with this frame, one more (hooks/client.ts).
        const limit = raiseStackLimit();
        try {
          return original.apply(this, args);
        } finally {
          restoreStackLimit(limit);
        }
      },
  );
  // An app's listen() under way is kept: a restart (start()) watches again at once.
  return () => {
    unpatch(net.Server.prototype, 'listen');
    port = -1;
    endpoint = undefined;
  };
}

/** One of the endpoint's servers (./server.ts), from its creation. */
export function ownServer(server: net.Server): void {
  own.add(server);
}

/** The endpoint binds or listens now: an app's listen() on its port closes it first (`stepAside`). */
export function holdPort(server: net.Server, stepAside: () => void): void {
  endpoint = { server, stepAside };
}

/** The endpoint `server` no longer listens. */
export function releasePort(server: net.Server): void {
  if (endpoint?.server === server) endpoint = undefined;
}

/** An app's listen() on the port is under way: the endpoint must not bind now. */
export function appAsking(): boolean {
  return asking !== undefined && !listening(asking) && asking._connectionKey === keyAtAsk && hrtimeBigint() - askedAt < ASKING_NS;
}

/** One of the app's own servers holds the port. */
export function appHolds(): boolean {
  return listening(asking) || listening(holder);
}

function checkListen(server: AppServer, first: unknown, second: unknown): void {
  // No server (a listen() called on anything else: Node throws its own error), ours, or one that
  // listens already (Node throws ERR_SERVER_ALREADY_LISTEN).
  if (typeof server !== 'object' || server === null || own.has(server) || listening(server)) return;
  let rawPort: unknown = first;
  let rawHost: unknown = typeof second === 'string' ? second : undefined;
  if (first !== null && typeof first === 'object') {
    const o = first as { port?: unknown; host?: unknown; path?: unknown };
    if (o.path != null) return; // a Unix-domain socket, a handle or an fd: no port of ours
    rawPort = o.port;
    rawHost = o.host;
  }
  // Node's own reading of a port: a number, or a string of one (' 9465', '0x24f9').
  if (typeof rawPort === 'string' ? rawPort.trim() === '' || Number(rawPort) !== port : rawPort !== port) return;
  if (!clashes(typeof rawHost === 'string' ? rawHost : '')) return;
  if (listening(asking)) holder = asking;
  asking = server;
  askedAt = hrtimeBigint();
  keyAtAsk = asking._connectionKey;
  const current = endpoint;
  if (current === undefined) return;
  endpoint = undefined;
  current.stepAside();
}

/** Two specific, different IP addresses never clash; anything else (a wildcard, a name) may. */
function clashes(appHost: string): boolean {
  const wildcard = (h: string) => h === '' || h === '0.0.0.0' || h === '::';
  if (wildcard(appHost) || wildcard(host) || net.isIP(appHost) === 0 || net.isIP(host) === 0) return true;
  return appHost === host;
}
