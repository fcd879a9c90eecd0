// Per-socket observation, shared by the client, server and TLS hooks: a state object under a
// Symbol, one errorMonitor listener (never an 'error' listener: an unhandled error still crashes
// the app exactly as before) and one 'close' listener. Both are plain functions shared by every
// socket, so watching allocates only the state object.
import { errorMonitor } from 'node:events';
import type * as net from 'node:net';
import { SocketState, type NodeSocketInternals } from '../internal-types';
import { kState } from '../symbols';
import { stats } from '../stats';
import { guard } from '../guard';
import { onSocketError, onSocketClose } from '../classify';

type Watched = net.Socket & NodeSocketInternals & { [kState]?: SocketState | null };

/** Marks a raw socket whose handle a TLSSocket took over: its own events are not the connection's. */
export const SUPERSEDED = null;

export function watch(socket: Watched, state: SocketState): void {
  socket[kState] = state;
  stats.connections[state.direction][state.tls ? 'tls' : 'plain']++;
  socket.on(errorMonitor, errorListener);
  socket.on('close', closeListener);
}

export function stateOf(socket: object): SocketState | null | undefined {
  return (socket as Watched)[kState];
}

export function supersede(socket: object): void {
  (socket as Watched)[kState] = SUPERSEDED;
}

function errorListener(this: Watched, err: Error): void {
  const state = this[kState];
  if (state && !state.done) guard('socket.error', onSocketError, this, state, err);
}

function closeListener(this: Watched, hadError: boolean): void {
  const state = this[kState];
  if (state && !state.done) guard('socket.close', onSocketClose, this, state, hadError);
}

/** Removes the listeners from a socket (used by disable() and the cleanup test). */
export function unwatch(socket: Watched): void {
  socket.removeListener(errorMonitor, errorListener);
  socket.removeListener('close', closeListener);
  delete socket[kState];
}
