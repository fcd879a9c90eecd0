// When a connection last moved bytes (the event's `idleMs`, the pool hint, "query in flight").
// Node refreshes a socket's idle timer on every read and every write, through two methods of
// net.Socket.prototype that are one and the same function: `[kUpdateTimer]` (stream_base_commons:
// every read — data, EOF or error — and every async write completion) and `_unrefTimer` (net.js:
// every write, connect; the http server calls it for each chunk its parser consumes). Both exist
// on Node 20–26. Wrapping them costs one call and, per socket, at most two field writes per chunk
// and none when the clock has not moved: the clock is performance.now() read at most once every
// 10 ms (one unref'd timer re-armed while sockets are busy, none while idle), like Node's own
// socket timeouts that use the loop's cached time. A chunk handled after the event loop was blocked
// can carry the time from before the block.
// Not wrapped in guard(): the body is a property read and two number writes, which cannot throw;
// a guard per chunk would cost more than the observation.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SocketState } from '../internal-types';
import { kState } from '../symbols';
import { patch, unpatch } from './patch';

type Touched = net.Socket & { [kState]?: SocketState | null };
type Method = (this: unknown, ...args: unknown[]) => unknown;

/** The symbol Node's stream_base_commons calls on each read (not exported by Node). */
const kUpdateTimer = Object.getOwnPropertySymbols(net.Socket.prototype).find((s) => s.description === 'kUpdateTimer');

/** The coarse clock: valid while `fresh`; the timer marks it stale 10 ms after it was read. */
let clock = 0;
let fresh = false;
let expiry: NodeJS.Timeout | undefined;

function stale(): void {
  fresh = false;
}

/** The agent's coarse time (performance.now() ms), reading the real clock at most every 10 ms. */
export function coarseNow(): number {
  if (fresh) return clock;
  clock = performance.now();
  fresh = true;
  if (expiry === undefined) {
    expiry = setTimeout(stale, 10);
    expiry.unref();
  } else expiry.refresh();
  return clock;
}

export function enable(): void {
  if (kUpdateTimer !== undefined) {
    patch(
      net.Socket.prototype,
      kUpdateTimer,
      (original: Method) =>
        function onRead(this: Touched) {
          const s = this[kState];
          if (s) {
            const t = fresh ? clock : coarseNow();
            if (s.read !== t) {
              s.readBefore = s.read;
              s.read = t;
            }
          }
          return original.call(this);
        },
    );
  }
  patch(
    net.Socket.prototype,
    '_unrefTimer',
    (original: Method) =>
      function onWrite(this: Touched) {
        const s = this[kState];
        if (s) {
          const t = fresh ? clock : coarseNow();
          if (s.sent !== t) {
            s.sentBefore = s.sent;
            s.sent = t;
          }
        }
        return original.call(this);
      },
  );
}

export function disable(): void {
  if (kUpdateTimer !== undefined) unpatch(net.Socket.prototype, kUpdateTimer);
  unpatch(net.Socket.prototype, '_unrefTimer');
  if (expiry !== undefined) clearTimeout(expiry);
  expiry = undefined;
  fresh = false;
}
