// TLS sockets: a TLSSocket built on an existing socket (every TLS server connection, and clients
// given `socket:`) takes over that socket's handle, so resets surface on the TLSSocket only.
// TLSSocket.prototype._init runs once in every TLSSocket's constructor: there we move the watch
// from the raw socket to the TLSSocket. Client TLSSockets that dial themselves are watched by
// hooks/client.ts when they call connect().
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { SocketState, type NodeSocketInternals } from '../internal-types';
import { guard } from '../guard';
import type { Config } from '../config';
import { watch, stateOf, supersede } from '../sockets';
import { patch, unpatch } from './patch';

let readPeer = false;

export function enable(config: Config): void {
  readPeer = config.serverPeers;
  patch(
    tls.TLSSocket.prototype,
    '_init',
    (original) =>
      function _init(this: tls.TLSSocket, ...args: unknown[]) {
        const result = original.apply(this, args);
        guard('tls.init', onTlsInit, this, args[1]);
        return result;
      },
  );
}

export function disable(): void {
  unpatch(tls.TLSSocket.prototype, '_init');
}

function onTlsInit(socket: tls.TLSSocket & NodeSocketInternals, wrap: unknown): void {
  if (stateOf(socket) !== undefined) return; // reinitialised handle: already watched
  const raw = wrap !== null && typeof wrap === 'object' ? wrap : undefined;
  const rawState = raw ? supersede(raw) : undefined;
  if (socket._tlsOptions?.isServer) {
    // The raw socket was accepted this very tick (net.server.socket fires after us).
    watch(socket, new SocketState('server', performance.now(), true));
    if (readPeer) void socket.remoteAddress;
  } else if (rawState) {
    // Client TLS over a socket the app connected itself: same connection, now encrypted.
    watch(socket, new SocketState('client', rawState.start, true, rawState.dial));
  }
}
