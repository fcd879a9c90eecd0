// TLS sockets: a TLSSocket built on an existing socket (every TLS server connection, and clients
// given `socket:`) takes over that socket's handle, so resets surface on the TLSSocket only.
// TLSSocket.prototype._init runs once in every TLSSocket's constructor: there we move the watch
// from the raw socket to the TLSSocket. Client TLSSockets that dial themselves are watched by
// hooks/client.ts when they call connect().
// node:tls (and the part of node:crypto it loads, ~2 ms) is never loaded by the agent: _init is
// patched when the app's process loads it, by whatever path (tls, https, http2, undici's TLS dial,
// an ESM import: agent/builtins.ts whenLoaded), before any TLSSocket can be built; at once where it
// is loaded already (another preload, an app's own require('resetwatch') after its TLS server
// listens, a restart by start()) or where Node's list of loaded modules cannot be watched. A
// process that never loads node:tls (a plain HTTP service) never pays for it.
import type * as tls from 'node:tls';
import type * as net from 'node:net';
import { SocketState, SocketExtras, ADOPTED, plainBeforeTls, type NodeSocketInternals } from '../internal-types';
import { guard } from '../guard';
import type { Config } from '../config';
import { watch, adopt, stateOf, supersede } from '../sockets';
import { handedOver } from './server';
import { now } from '../clock';
import { builtinLoaded, whenLoaded } from '../builtins';
import { patch, unpatch } from '../patch';
import type { AddressInternals } from '../addresses';
import { carryOver as tunnelCarryOver } from '../tunnel';

let readPeer = false;
let installed: typeof tls.TLSSocket.prototype | undefined;
/** node:tls was loaded by an earlier install: enabling again costs nothing, so it installs at once. */
let loadedBefore = false;
/** Stops waiting for node:tls to load. */
let cancelWait: (() => void) | undefined;

export function enable(config: Config): void {
  readPeer = config.serverPeers;
  if (loadedBefore || builtinLoaded('tls') !== false) guard('tls.install', install);
  else {
    // Runs inside the require that loaded node:tls, which is complete by then (agent/builtins.ts).
    cancelWait = whenLoaded(['tls'], () => guard('tls.install', install));
    if (cancelWait === undefined) guard('tls.install', install);
  }
}

export function disable(): void {
  cancelWait?.();
  cancelWait = undefined;
  if (installed !== undefined) unpatch(installed, '_init');
  installed = undefined;
}

/** Patches TLSSocket#_init (node:tls is loaded when this runs, or costs its load now). */
function install(): void {
  if (installed !== undefined) return;
  cancelWait = undefined;
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
  // Counted already: the raw socket's count stayed (sockets.ts supersede), or it was never counted here.
  const counted = rawState !== undefined && (rawState.activity & ADOPTED) !== 0;
  // The direction is the connection's TCP role (README: client = this process dialled), whichever
  // end of TLS this process plays over it: a TLS server over a socket it dialled (a reverse
  // tunnel) is a client connection, a TLS client over one it accepted a server connection (found
  // by a trial of passed and inherited sockets: the latter was not watched at all).
  if (rawState?.direction === 'client') {
    // Over a socket the app connected itself: same connection, now encrypted (its dial carried
    // over; HTTP state and addresses are the TLSSocket's own).
    const d = rawState.dial;
    const state = new SocketState('client', rawState.start, true, d && new SocketExtras(d.host, d.port, d.context));
    carryOver(state, rawState, raw as net.Socket);
    tunnelCarryOver(raw as object, socket);
    if (counted) adopt(socket, state);
    else watch(socket, state);
    return;
  }
  const accepted = raw !== undefined && (raw as { _server?: unknown })._server != null;
  const handed = rawState === undefined && raw !== undefined && handedOver(raw);
  if (socket._tlsOptions?.isServer || rawState !== undefined || accepted || handed) {
    // The raw socket was accepted this very tick (net.server.socket fires after us; watched
    // already if the app peeked at it first: a one-port HTTP/HTTPS server), or handed over by
    // another process, which counted it (a sticky balancer's: hooks/server.ts).
    // Watched already (a STARTTLS server, a one-port server that peeked): the connection's own start.
    const state = new SocketState('server', rawState?.start ?? now(), true);
    if (rawState !== undefined) carryOver(state, rawState, raw as net.Socket);
    if (counted || handed) adopt(socket, state);
    else watch(socket, state);
    if (readPeer) void socket.remoteAddress;
  }
}

/**
 * STARTTLS (TLS over a connection that spoke plain first; a proxy's CONNECT tunnel alike): one
 * connection, so its last activity, the plain bytes it moved and the peer the app read carry over
 * to the TLSSocket, whose counters and address cache start empty (a trial of nodemailer: a reset
 * in the handshake read 0 bytes and idle since the connect, after an SMTP dialogue). Bytes still
 * buffered unread are no application bytes: a one-port server's peeked ClientHello, which the
 * TLSSocket reads again (Node's initRead, after this).
 */
function carryOver(state: SocketState, rawState: SocketState, raw: net.Socket): void {
  const read = raw.bytesRead - raw.readableLength;
  const written = raw.bytesWritten;
  // The last activity, where bytes moved (a peeked ClientHello's read is none: idle from the
  // start, as on any TLS server). Both marks: the handshake's reads and writes touch neither
  // (TLSWrap's, not the app's), and a read that meets a reset is left out by taking the mark
  // before the latest. `readSince` and the read/write flags start afresh: they describe the TLS
  // stream's own messages (a request's start).
  if (read > 0 || written > 0) state.active = state.activeBefore = rawState.active;
  // Only what Node cached (no syscall): the TLSSocket's own cache is empty, and after an RST the
  // kernel no longer knows the peer.
  const peer = (raw as AddressInternals)._peername;
  if (read > 0 || written > 0 || peer != null)
    plainBeforeTls.set(state, { read: Math.max(0, read), written, peerAddress: peer?.address, peerPort: peer?.port });
}
