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
// - libuv before 1.52 (Node 20, 22) reports the peer's last bytes and its RST, read in one poll,
//   as an end of input (classify.ts resetBehindEnd). Node's HTTP client and undici destroy their
//   socket at that end of input, and their hooks ask the kernel then. Any other socket (a raw TCP
//   client or server's, a database client's, a WebSocket on either side) ends its own writing after
//   it: once this side's FIN is answered the kernel has forgotten the peer either way, so the
//   kernel is asked in _final, just before that FIN goes out (classify.ts noteResetBehindEnd), and
//   only for a connection that is not HTTP/1's (hidesReset) whose peer ended first after bytes
//   read since this side last wrote, that end read in the clock step of those bytes. A local close
//   (end() before any end of input) costs a property read there.
// - A TLS server socket whose client's end of input came during the handshake, on every libuv: a
//   busy server that reads ClientHello bytes and the RST behind them in one poll gets an end of
//   input (Node 20 and 22 for any bytes, 24 and later for a whole ClientHello), and the app
//   'tlsClientError' ECONNRESET "socket hang up", as for a FIN. Asked in _final too
//   (classify.ts noteHandshakeReset).
// - end(): a bit on the socket's flags, for a socket that is errored already too (end() does nothing
//   then): amqplib answers a broker's Close and ends its socket in one go, and at a broker's
//   shutdown the answer's write meets the broker's RST first (classify.ts answersOwnClose).
// A socket that ends with none of these (most) costs a few property reads here: no guard() call,
// and classify.ts is not loaded for it.
import * as net from 'node:net';
import type { NodeSocketInternals, SocketState, Sock } from '../internal-types';
import * as flags from '../internal-types';
import { stateOf, isClaimed, classify, listenForError, listenAtDestroy } from '../sockets';
import { kOriginal, socketState } from '../symbols';
import { sessionOf } from '../http2';
import { guard } from '../guard';
import { patch, unpatch } from '../patch';
// Loaded with the hooks, not with classify.ts: it takes fs.readSync before the app can wrap it.
import { endMayHideReset } from '../next-read';

// classify.ts loads with the first socket that ends (../sockets.ts classify()), inside the guard.
const claimError = (err: unknown, state: SocketState | undefined) => classify().claimError(err, state);
const snapshot = (socket: Sock, state: SocketState, err: Error | null) => classify().snapshot(socket, state, err);
const onPeerHangup = (socket: Sock, state: SocketState) => classify().onPeerHangup(socket, state);
const onIdleDestroy = (socket: Sock, state: SocketState) => classify().onIdleDestroy(socket, state);
const onQuietEnd = (socket: Sock, state: SocketState) => classify().onQuietEnd(socket, state);
const noteResetBehindEnd = (socket: Sock, state: SocketState) => classify().noteResetBehindEnd(socket, state);
const noteHandshakeReset = (socket: Sock, state: SocketState) => classify().noteHandshakeReset(socket, state);

// Module-level copies of the imported flags (hooks/activity.ts says why).
const { BURST_AFTER_WRITE, RESET_BEHIND_END, SERVER, TLS, DONE, END_CALLED } = flags;
// The socket's slot as stored (null: superseded, false: passed over), without sockets.ts stateOf's conversion.
const slotOf = socketState.get;

type Ending = net.Socket & {
  _readableState?: { ended?: boolean };
  _writableState?: { ending?: boolean };
  _secureEstablished?: boolean;
  parser?: unknown;
};

/**
 * A client, or a server's connection that is not HTTP's (raw TCP; TLS once its handshake is done)
 * or no longer is (upgraded from HTTP/1, a WebSocket: its parser freed), with no event yet, bytes
 * read since its last write, then the peer's end of input read in the clock step of the bytes
 * before it, on a libuv that hides an RST there. Flags first: most sockets stop at a bit test.
 */
const hidesReset = (socket: Ending, f: number) =>
  (f & DONE) === 0 &&
  endMayHideReset(f) &&
  socket._readableState?.ended === true &&
  ((f & SERVER) === 0 ||
    socket.parser === null ||
    (socket.parser === undefined && ((f & TLS) === 0 || socket._secureEstablished === true)));

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
          if (err != null) guard('socket.destroy', listenForError, this, state); // Node emits it next (sockets.ts)
          // An end of input _final found to be an RST (a WebSocket's too, whose upgrade request undici keeps in flight).
          if (err == null && (state.activity & RESET_BEHIND_END) !== 0) guard('socket.close', onQuietEnd, this, state);
          else if (err != null || this._httpMessage != null || state.http?.inflight !== undefined) {
            guard('socket.destroy', snapshot, this, state, err);
            if (err == null && this._httpMessage != null) guard('socket.close', onPeerHangup, this, state);
          } else if (state.direction === 'client' && state.http !== undefined) {
            guard('socket.destroy', onIdleDestroy, this, state);
          } else {
            // A client that destroys its socket at the peer's end of input without ending it (the
            // mariadb connector) is asked here what _final asks of one that ends it.
            if (hidesReset(this, state.activity) && (this as Ending)._writableState?.ending !== true)
              guard('socket.end', noteResetBehindEnd, this, state);
            // What onQuietEnd looks at, read here: most sockets end with neither (no call, and
            // classify.ts is not loaded for them).
            if ((state.activity & (BURST_AFTER_WRITE | RESET_BEHIND_END)) !== 0 || sessionOf(this) !== undefined)
              guard('socket.close', onQuietEnd, this, state);
          }
        }
        return original.call(this, err, cb);
      },
  );
  // Installed (ours, under whatever wrapped it since): plain sockets' errorMonitor listeners come from here.
  listenAtDestroy((net.Socket.prototype as unknown as { _destroy?: { [kOriginal]?: unknown } })._destroy?.[kOriginal] !== undefined);
  patch(
    net.Socket.prototype,
    '_final',
    (original) =>
      function _final(this: Ending, cb: unknown) {
        const state = stateOf(this);
        const f = state?.activity ?? DONE;
        // A client whose peer's end of input may hide an RST (hidesReset); or a TLS server socket
        // whose client's end of input came during the handshake (ClientHello bytes and the RST
        // behind them, read in one poll: a busy server). Flags first: most sockets stop at a bit test.
        if (hidesReset(this, f)) guard('socket.end', noteResetBehindEnd, this, state as SocketState);
        else if ((f & (SERVER | TLS | DONE)) === (SERVER | TLS) && this._secureEstablished !== true && this._readableState?.ended === true)
          guard('socket.end', noteHandshakeReset, this, state as SocketState);
        return original.call(this, cb);
      },
  );
  // Node's own end(data, encoding, callback) passes all three on as well.
  patch(
    net.Socket.prototype,
    'end',
    (original) =>
      function end(this: net.Socket, data: unknown, encoding: unknown, callback: unknown) {
        const s = slotOf(this);
        if (s) s.activity |= END_CALLED;
        return original.call(this, data, encoding, callback);
      },
  );
}

export function disable(): void {
  listenAtDestroy(false);
  unpatch(net.Socket.prototype, '_destroy');
  unpatch(net.Socket.prototype, '_final');
  unpatch(net.Socket.prototype, 'end');
}
