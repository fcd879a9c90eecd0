// Server sockets: net.server.socket fires for every connection accepted by net, http and http2
// servers (and the raw socket under a TLS server, which hooks/tls.ts has already claimed).
import * as dc from 'node:diagnostics_channel';
import type * as net from 'node:net';
import { now } from '../clock';
import { SocketState, type NodeSocketInternals } from '../internal-types';
import { guard } from '../guard';
import type { Config } from '../config';
import { watch, isClaimed } from '../sockets';

const CHANNEL = 'net.server.socket';

let readPeer = false;

export function enable(config: Config): void {
  // Reading the client's address costs a getpeername syscall (~1 µs) per connection, and after an
  // RST it can no longer be read: so only on request (RESETWATCH_SERVER_PEERS).
  readPeer = config.serverPeers;
  dc.subscribe(CHANNEL, onServerSocket);
}

export function disable(): void {
  dc.unsubscribe(CHANNEL, onServerSocket);
}

function onServerSocket(message: unknown): void {
  guard('server.accept', accept, (message as { socket: net.Socket & NodeSocketInternals }).socket);
}

function accept(socket: net.Socket & NodeSocketInternals): void {
  if (isClaimed(socket)) return; // claimed by a TLSSocket, or already watched
  if (socket._server?._pipeName !== undefined) return; // Unix-domain socket: not watched (README).
  watch(socket, new SocketState('server', now(), false));
  if (readPeer) void socket.remoteAddress; // cached by net in socket._peername
}
