// TLS sockets: a TLSSocket built on an existing socket (every TLS server connection, and clients
// given `socket:`) takes over that socket's handle, so resets surface on the TLSSocket only.
// TLSSocket.prototype._init runs once in every TLSSocket's constructor: there we move the watch
// from the raw socket to the TLSSocket. Client TLSSockets that dial themselves are watched by
// hooks/client.ts when they call connect().
// node:tls (and the part of node:crypto it loads, ~2 ms) is loaded, and _init patched, when the
// process first listens (net.Server#listen: TLS, HTTPS and HTTP/2 servers alike, before their
// first TCP connection) or first watches a socket (a dial: before any TLSSocket can wrap it), not at
// preload: a process done before either never pays for it. Node tells nothing when a built-in
// loads (https, http2 and undici load tls internally), so these two moments stand in for it. A
// process with an IPC channel (forked: a cluster worker, a sticky-session worker) installs at
// once: its sockets can arrive as handles from the parent, with neither a listen nor a dial here.
// So does an agent enabled where node:tls is loaded already (a restart by start(), an app's own
// require('resetwatch') after its TLS server listens, another preload that loaded it): the next
// listen or dial may never come, and loading costs nothing then.
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { SocketState, SocketExtras, ADOPTED, type NodeSocketInternals } from '../internal-types';
import { guard } from '../guard';
import type { Config } from '../config';
import { watch, adopt, stateOf, supersede, atFirstWatch } from '../sockets';
import { handedOver } from './server';
import { now } from '../clock';
import { builtinLoaded } from '../builtins';
import { patch, unpatch } from './patch';

let readPeer = false;
let installed: typeof tls.TLSSocket.prototype | undefined;
/** node:tls was loaded by an earlier install: enabling again costs nothing, so it installs at once. */
let loadedBefore = false;

export function enable(config: Config): void {
  readPeer = config.serverPeers;
  patch(
    net.Server.prototype,
    'listen',
    (original) =>
      function listen(this: net.Server, ...args: unknown[]) {
        if (installed === undefined && !onPath(args[0])) guard('tls.install', install);
        return original.apply(this, args);
      },
  );
  atFirstWatch(() => guard('tls.install', install));
  if (loadedBefore || process.channel !== undefined || builtinLoaded('tls') === true) guard('tls.install', install);
}

export function disable(): void {
  atFirstWatch(undefined);
  unpatch(net.Server.prototype, 'listen');
  if (installed !== undefined) unpatch(installed, '_init');
  installed = undefined;
}

/** listen(path) or listen({ path }): a Unix-domain socket (resetwatch's own family socket is one), never watched. */
function onPath(first: unknown): boolean {
  if (typeof first === 'string') return !/^\d+$/.test(first);
  return first !== null && typeof first === 'object' && typeof (first as { path?: unknown }).path === 'string';
}

/** Loads node:tls and patches TLSSocket#_init; the listen wrapper has done its job then. */
function install(): void {
  if (installed !== undefined) return;
  atFirstWatch(undefined);
  unpatch(net.Server.prototype, 'listen');
  const proto = (require('node:tls') as typeof tls).TLSSocket.prototype;
  installed = proto;
  loadedBefore = true;
  patch(
    proto,
    '_init',
    (original) =>
      function _init(this: tls.TLSSocket, ...args: unknown[]) {
        const result = original.apply(this, args);
        guard('tls.init', onTlsInit, this, args[1]);
        return result;
      },
  );
}

function onTlsInit(socket: tls.TLSSocket & NodeSocketInternals, wrap: unknown): void {
  if (stateOf(socket) !== undefined) return; // reinitialised handle: already watched
  const raw = wrap !== null && typeof wrap === 'object' ? wrap : undefined;
  const rawState = raw ? supersede(raw) : undefined;
  if (socket._tlsOptions?.isServer) {
    // The raw socket was accepted this very tick (net.server.socket fires after us), or handed
    // over by another process, which counted it (a sticky balancer's: hooks/server.ts).
    const state = new SocketState('server', now(), true);
    if (rawState !== undefined ? (rawState.activity & ADOPTED) !== 0 : raw !== undefined && handedOver(raw)) adopt(socket, state);
    else watch(socket, state);
    if (readPeer) void socket.remoteAddress;
  } else if (rawState) {
    // Client TLS over a socket the app connected itself: same connection, now encrypted (its
    // dial carried over; HTTP state and addresses are the TLSSocket's own).
    const d = rawState.dial;
    watch(socket, new SocketState('client', rawState.start, true, d && new SocketExtras(d.host, d.port, d.context)));
  }
}
