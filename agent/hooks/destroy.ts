// Just before a watched socket's handle closes (the original _destroy), which every socket's end
// goes through, error or not:
// - An HTTP request in flight when the connection ends without an error: a reset only if the peer
//   hung up (classify.ts onPeerHangup). Here rather than in a 'close' listener: one listener less
//   per socket, and the request's state is still intact.
// - Addresses: remoteAddress and localAddress are gone once the handle closes. Reading them for
//   every socket would cost syscalls per connection, so only for a socket destroyed with an error
//   or with an HTTP request in flight — the ones that may become reset events.
// - Which connection an error belongs to: the first socket destroyed with it (classify.ts
//   claimError), so the same error passed on to another socket (a proxy, a pipeline) is not
//   that socket's reset. A socket taken over by TLS leaves it to the TLSSocket.
// - Idle pooled HTTP client sockets: newer Node versions (22.2x, 24, 26) guard free sockets in the
//   http Agent's pool and destroy them on any read, an RST included, without an error. The kernel
//   still knows: after an RST the connection is gone (getpeername fails with ENOTCONN), after a FIN
//   or an app-initiated close it is not. One syscall, only for idle pooled sockets being destroyed.
// - HTTP/2: a socket an Http2Session owns, ending without an error. A peer FIN with streams in
//   flight ends them all without an error to the app (classify.ts onPeerHangup). One property read.
// - Database client connections whose server's FIN came right after a query was sent
//   (classify.ts onQueryHangup).
// A socket that ends with none of these (most) costs a few property reads here: no guard() call,
// and classify.ts is not loaded for it.
import * as net from 'node:net';
import { type NodeSocketInternals, type SocketState, type Sock, BURST_AFTER_WRITE } from '../internal-types';
import { stateOf, isClaimed, classify } from '../sockets';
import { sessionOf } from '../http2';
import { guard } from '../guard';
import { patch, unpatch } from './patch';

// classify.ts loads with the first socket that ends (../sockets.ts classify()), inside the guard.
const claimError = (err: unknown, state: SocketState | undefined) => classify().claimError(err, state);
const snapshot = (socket: Sock, state: SocketState, err: Error | null) => classify().snapshot(socket, state, err);
const onPeerHangup = (socket: Sock, state: SocketState) => classify().onPeerHangup(socket, state);
const onIdleDestroy = (socket: Sock, state: SocketState) => classify().onIdleDestroy(socket, state);
const onQuietEnd = (socket: Sock, state: SocketState) => classify().onQuietEnd(socket, state);

export function enable(): void {
  // Node always calls _destroy(err, cb): two named parameters, no rest array per socket.
  patch(
    net.Socket.prototype,
    '_destroy',
    (original) =>
      function _destroy(this: net.Socket & NodeSocketInternals, err: Error | null, cb: unknown) {
        const state = stateOf(this);
        if (err != null && (state !== undefined || !isClaimed(this))) guard('socket.claim', claimError, err, state);
        if (state && !state.done) {
          if (err != null || this._httpMessage != null || state.http?.inflight !== undefined) {
            guard('socket.destroy', snapshot, this, state, err);
            if (err == null && this._httpMessage != null) guard('socket.close', onPeerHangup, this, state);
          } else if (state.direction === 'client' && state.http !== undefined) {
            guard('socket.destroy', onIdleDestroy, this, state);
          } else if ((state.activity & BURST_AFTER_WRITE) !== 0 || sessionOf(this) !== undefined) {
            // What onQuietEnd looks at, read here: most sockets end with neither (no call, and
            // classify.ts is not loaded for them).
            guard('socket.close', onQuietEnd, this, state);
          }
        }
        return original.call(this, err, cb);
      },
  );
}

export function disable(): void {
  unpatch(net.Socket.prototype, '_destroy');
}
