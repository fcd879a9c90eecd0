// Server sockets: net.server.socket fires for every connection accepted by net, http and http2
// servers (and the raw socket under a TLS server, which hooks/tls.ts has already claimed). A
// connection accepted by another process and handed to this one over IPC (child_process send():
// sticky sessions) is built around its handle with no channel message: it is adopted at its first
// read or write instead (adopt, called by hooks/activity.ts).
import { AsyncResource } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import type * as net from 'node:net';
import { now } from '../clock';
import { SocketState, type NodeSocketInternals } from '../internal-types';
import { guard } from '../guard';
import type { Config } from '../config';
import { watch, isClaimed, pass, adopt as adoptState, acceptedAfterAll } from '../sockets';
import { adoptWith } from './activity';

const CHANNEL = 'net.server.socket';

let readPeer = false;
/** An async id taken when the hooks were installed (adopt). */
let hooksAt = Number.POSITIVE_INFINITY;

export function enable(config: Config): void {
  // Reading the client's address costs a getpeername syscall (~1 µs) per connection, and after an
  // RST it can no longer be read: so only on request (RESETWATCH_SERVER_PEERS).
  readPeer = config.serverPeers;
  dc.subscribe(CHANNEL, onServerSocket);
  // The async id the next resource would get: any handle created from now on has a larger one.
  hooksAt = new AsyncResource('RESETWATCH', { requireManualDestroy: true }).asyncId();
  adoptWith(adopt);
}

export function disable(): void {
  dc.unsubscribe(CHANNEL, onServerSocket);
  adoptWith(undefined);
}

function onServerSocket(message: unknown): void {
  guard('server.accept', accept, (message as { socket: Met }).socket);
}

function accept(socket: Met): void {
  if (isClaimed(socket)) {
    acceptedAfterAll(socket); // adopted at a greeting the app wrote in its 'connection' listener
    return; // claimed by a TLSSocket, or already watched
  }
  // Unix-domain socket: not watched (README). A server listening on a handed-over descriptor
  // (socket activation's listen({ fd }), listen(handle), a server sent to a child process) has no
  // _pipeName: its handle is a Pipe, without TCP's setNoDelay (net.js tells them apart so too).
  // No handle: the app's 'connection' listener (before this message) sent it to another process.
  const handle = socket._handle;
  if (socket._server?._pipeName !== undefined || (handle != null && typeof handle.setNoDelay !== 'function')) return;
  watch(socket, new SocketState('server', now(), false));
  if (readPeer) void socket.remoteAddress; // cached by net in socket._peername
}

type Met = net.Socket & NodeSocketInternals & { _handle?: { fd?: number; getAsyncId?: () => number; setNoDelay?: unknown } | null };

/**
 * A socket the activity hook meets with no slot, at a read or write. A TCP connection built around
 * a handle after the hooks were installed, that this process neither accepted (net.server.socket)
 * nor dialled (a dial is met inside connect(), before it has a descriptor), was handed to it by
 * another process: a sticky-session balancer (@socket.io/sticky, sticky-session, the child_process
 * docs' example). These hand over accepted connections, so it is watched as a server's from here
 * on, its age counted from now, and not counted as opened: the process that accepted it counted it
 * (README). Any other socket met here (stdio, pipes, TTYs, Unix-domain sockets, a dial while the
 * client hook is off, a connection from before the agent started) is marked and never looked at
 * again: once per socket, never per chunk.
 */
function adopt(socket: Met): SocketState | undefined {
  return guard('server.adopt', adoptHanded, socket);
}

function adoptHanded(socket: Met): SocketState | undefined {
  if (socket._handle == null) return undefined; // not connected yet: looked at again at its next read or write
  if (newTcpHandle(socket)) {
    const state = new SocketState('server', now(), false);
    adoptState(socket, state);
    if (readPeer) void socket.remoteAddress;
    return state;
  }
  pass(socket);
  return undefined;
}

/** A TCP connection's handle with a descriptor, created after the hooks were installed. */
function newTcpHandle(socket: Met): boolean {
  const h = socket._handle;
  // Handles get increasing async ids: one created before the hooks were is not one handed here since.
  return h?.constructor?.name === 'TCP' && (h.fd as number) > 2 && (h.getAsyncId?.() ?? 0) > hooksAt;
}

/**
 * The raw socket under a TLS server's new TLSSocket (hooks/tls.ts), when no server of this process
 * accepted it (net sets `_server` before it emits 'connection'): a connection handed over by
 * another process (a sticky balancer in front of an HTTPS server), which that process counted.
 */
export function handedOver(raw: object): boolean {
  const socket = raw as Met;
  return socket._server == null && newTcpHandle(socket);
}
