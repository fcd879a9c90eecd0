// Addresses: when a socket is destroyed Node closes its handle, after which remoteAddress and
// localAddress are gone. Reading them for every socket would cost two syscalls per connection, so
// we read them only for a watched socket destroyed with an error or with an HTTP request in
// flight — the ones that may become reset events — just before the original _destroy runs.
import * as net from 'node:net';
import type { NodeSocketInternals } from '../internal-types';
import { kState } from '../symbols';
import { guard } from '../guard';
import { snapshot } from '../classify';
import { patch, unpatch } from './patch';

export function enable(): void {
  patch(net.Socket.prototype, '_destroy', (original) => function _destroy(this: net.Socket & NodeSocketInternals, ...args: unknown[]) {
    const state = (this as { [kState]?: import('../internal-types').SocketState | null })[kState];
    if (state && !state.done && (args[0] != null || this._httpMessage != null || state.inflight !== undefined)) {
      guard('socket.destroy', snapshot, this, state);
    }
    return original.apply(this, args);
  });
}

export function disable(): void {
  unpatch(net.Socket.prototype, '_destroy');
}
