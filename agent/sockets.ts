// Per-socket observation, shared by the client, server and TLS hooks: a state object under a
// Symbol and one errorMonitor listener (never an 'error' listener: an unhandled error still crashes
// the app exactly as before), a plain function shared by every socket, so watching allocates only
// the state object. The end of a connection without an error is seen by hooks/destroy.ts.
import { errorMonitor } from 'node:events';
import type * as net from 'node:net';
import { SocketState, type NodeSocketInternals } from './internal-types';
import { kState } from './symbols';
import { stats } from './stats';
import { guard } from './guard';
import { onSocketError } from './classify';

type Watched = net.Socket & NodeSocketInternals & { [kState]?: SocketState | null };

/** Marks a raw socket whose handle a TLSSocket took over: its own events are not the connection's. */
export const SUPERSEDED = null;

export function watch(socket: Watched, state: SocketState): void {
  socket[kState] = state;
  stats.connections[state.direction][state.tls ? 'tls' : 'plain']++;
  socket.on(errorMonitor, errorListener);
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

/** Stops watching a socket (the metrics endpoint's own connections). */
export function unwatch(socket: Watched): void {
  socket.removeListener(errorMonitor, errorListener);
  delete socket[kState];
}
