// When a connection last moved bytes (the event's `idleMs`, the pool hint). Node refreshes a
// socket's idle timer on every read and write through one method, net.Socket.prototype._unrefTimer:
// stream_base_commons calls it (through the `kUpdateTimer` getter, which returns it) on every read —
// data, EOF or error — and async write completion, net.js on every write and connect, and the http
// server for each chunk its parser consumes. Same on Node 20–26. Wrapping it costs one call and,
// per socket, one comparison and — only when the clock has moved — two number writes per chunk.
// The clock is performance.now() read at most once every 10 ms (one unref'd timer re-armed while
// sockets are busy, none while idle), like Node's own socket timeouts that read the loop's cached
// time; a chunk handled after the event loop was blocked can carry the time from before the block.
// Not wrapped in guard(): the body is a property read and two number writes, which cannot throw,
// and a guard per chunk would cost more than the observation.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SocketState } from '../internal-types';
import { kState } from '../symbols';
import { patch, unpatch } from './patch';

type Touched = net.Socket & { [kState]?: SocketState | null };

/** The coarse clock: valid while `fresh`; the timer marks it stale 10 ms after it was read. */
let clock = 0;
let fresh = false;
let expiry: NodeJS.Timeout | undefined;

function stale(): void {
  fresh = false;
}

function tick(): number {
  clock = performance.now();
  fresh = true;
  if (expiry === undefined) {
    expiry = setTimeout(stale, 10);
    expiry.unref();
  } else expiry.refresh();
  return clock;
}

export function enable(): void {
  patch(
    net.Socket.prototype,
    '_unrefTimer',
    (original) =>
      function _unrefTimer(this: Touched) {
        const s = this[kState];
        if (s) {
          const t = fresh ? clock : tick();
          if (s.active !== t) {
            s.activeBefore = s.active;
            s.active = t;
          }
        }
        return original.call(this);
      },
  );
}

export function disable(): void {
  unpatch(net.Socket.prototype, '_unrefTimer');
  if (expiry !== undefined) clearTimeout(expiry);
  expiry = undefined;
  fresh = false;
}
