// When a connection last moved bytes (the event's `idleMs`, the pool hint). Node refreshes a
// socket's idle timer on every read and write through one method, net.Socket.prototype._unrefTimer:
// stream_base_commons calls it (through the `kUpdateTimer` getter, which returns it) on every read —
// data, EOF or error — and async write completion, net.js on every write and connect, and the http
// server for each chunk its parser consumes. Same on Node 20–26. Wrapping it costs one call and,
// per chunk, a few property reads and at most three small-integer writes (flags on a change of
// direction, the two marks when the clock moved); the first write after reads (once per
// exchange) also reads performance.now().
// The clock is performance.now() read at most once every 10 ms (one unref'd timer re-armed while
// sockets are busy, none while idle), like Node's own socket timeouts that read the loop's cached
// time; a chunk handled after the event loop was blocked can carry the time from before the block
// (the first write after reads checks: the wait for its answer is measured from its mark).
// Reads and writes call the same method; a write is told by the Writable's own `writing` flag (set
// around `_write`, so also while an async write completes). The flags in `activity` say how the
// quiet time ended (classify.ts, hints.ts): `burstAfterWrite` says whether the peer's latest burst
// of reads (reads less than 250 ms apart: e.g. an error message, then its FIN) began after a write
// of this side had waited unanswered for more than 50 ms: a query in flight when the server closed
// (a client's wait counts from the first write since it last read: a command pipelined behind a
// blocked one does not hide it).
// A read sooner after the write is its answer (a FIN after an answered command is an orderly
// close), and reads that begin after this side ended its writing answer its own close. This side
// may end within the burst (a pool closing the connection on the server's FATAL with a Terminate):
// the burst goes on, marked `endedHere`, so that the RST the server answers the Terminate with is
// the cut-off query, while a FIN then is no event (it looks the same as the server's answer to an
// app's own end() right after a slow query). A burst of the peer's that has ended is forgotten at
// this side's next write or read.
// The flags also count the reads since this side's last write (none, one, more), and `readSince`
// keeps the mark of the first: for an HTTP server between responses, whether a request was
// arriving when the connection ended, and since when a request in progress began (classify.ts).
// So the http hook needs no diagnostics-channel message per server request. This costs one
// small-integer write at each of the first two reads after a write (and a look at the response
// riding the socket), none after. A read also notes whether it came in the clock step of the
// touch before it (SAME_STEP: an end of input read in the same poll as the last bytes; a write
// of the flags only when that changes).
// `activity` also holds bits this hook never changes (direction, TLS, done, the start's
// microseconds: internal-types.ts): every write here keeps `f & ~TOUCHES`.
// A socket met here with no slot yet may be a connection another process handed to this one
// (child_process send()): hooks/server.ts decides (adopt), once per TCP socket.
// Not wrapped in guard(): the body reads properties and writes small integers, which cannot throw,
// and a guard per chunk would cost more than the observation.
import * as net from 'node:net';
import * as coarse from '../clock';
import { setTimeout, clearTimeout } from '../timers';
import * as flags from '../internal-types';
import * as symbols from '../symbols';
import type { SocketState } from '../internal-types';
import { patch, unpatch } from '../patch';

// Module-level copies of what the wrapper uses from other modules: tsc's CommonJS reads an import
// through its module object at every use, a load V8 cannot fold away; a module-level const it
// can (callgrind, a wrapper-sized function: ~3 instructions per use, ~10 uses per call).
const { CLOCK_MASK, clockMs, WROTE_LAST, BURST_AFTER_WRITE, ENDED_HERE, READ_ONCE, READ_AGAIN, READS, TOUCHES, SERVER, SAME_STEP } = flags;
const { now } = coarse;
// The socket's slot as stored (null: superseded, false: passed over), without sockets.ts stateOf's conversion.
const slotOf = symbols.socketState.get;
const kOriginal: typeof symbols.kOriginal = symbols.kOriginal;

type Touched = net.Socket & {
  _writableState?: { writing?: boolean; ending?: boolean };
  _httpMessage?: { writableEnded?: boolean } | null;
};

/** Reads closer than this are one burst (a server's error message, then its FIN after its process exits). */
const BURST_MS = 250;
/** A write answered sooner than this was answered, not waiting: nothing was in flight (a redis command, a quick query). */
const ANSWERED_MS = 50;
/** A clock this stale at a write (a late timer, a blocked event loop) could make its prompt answer look waited for. */
const STALE_MS = 40;

/**
 * Node's own setTimeout (../timers.ts): a fake timer that never fires would freeze the clock for the
 * rest of the process.
 */
const realSetTimeout = setTimeout;
const realClearTimeout = clearTimeout;

/** The coarse clock: valid while `fresh`; the timer marks it stale 10 ms after it was read. */
const CLOCK_STEP_MS = 10;
let clock = 0;
let fresh = false;
let expiry: NodeJS.Timeout | undefined;

function stale(): void {
  fresh = false;
}

function tick(): number {
  clock = clockMs(now());
  fresh = true;
  if (expiry === undefined) {
    expiry = realSetTimeout(stale, CLOCK_STEP_MS);
    expiry.unref();
  } else expiry.refresh();
  return clock;
}

/**
 * Whether the clock still reads `mark` and is fresh: the stale timer has not run since (within
 * 10 ms while the loop turns; longer only while it is blocked). classify.ts noteResetBehindEnd:
 * an end of input read in this step, not one the app ends its side long after.
 */
export function inStep(mark: number): boolean {
  return fresh && clock === mark;
}

/**
 * Set by hooks/server.ts while it is installed: given a socket met here with no slot yet, returns
 * its new state if it is a connection handed to this process by another (server.ts adopt).
 */
let adopter: ((socket: net.Socket) => SocketState | undefined) | undefined;

export function adoptWith(fn: typeof adopter): void {
  adopter = fn;
}

/** True while the hook is installed: the flags and marks above are then kept up to date. */
export let counting = false;

/** Node's own _unrefTimer, under the wrapper, while the hook is installed. */
let unwrapped: (() => void) | undefined;

/**
 * One of resetwatch's own sockets (sockets.ts disown()) calls Node's _unrefTimer itself, not the
 * wrapper, which would only find it unwatched. The wrapper's property loads then see the shapes
 * of the app's sockets alone: the OTLP sender's client socket passing through them at the first
 * export made them megamorphic, and the app's requests paid for it for good (callgrind, keep-alive:
 * ~0.55k instructions per request; docs/benchmarks.md "Keep-alive with OTLP on").
 */
export function bypass(socket: object): void {
  if (unwrapped !== undefined) (socket as { _unrefTimer?: () => void })._unrefTimer = unwrapped;
}

export function enable(): void {
  counting = true;
  patch(
    net.Socket.prototype,
    '_unrefTimer',
    (original) =>
      function _unrefTimer(this: Touched) {
        let s = slotOf(this);
        if (s === undefined && adopter !== undefined) s = adopter(this);
        if (s) {
          const t = fresh ? clock : tick();
          const f = s.activity;
          const w = this._writableState;
          if (w?.writing === true) {
            // The first write after reads. A burst of the peer's that has ended is forgotten. One
            // made while a blocked event loop kept the clock from moving carries the time from before
            // the block, so the wait for its answer cannot be told: it is not marked (its answer
            // starts no burst), and the next write checks again. The reads since the last write
            // count from none again either way.
            if ((f & WROTE_LAST) === 0) {
              if (((clockMs(now()) - t) & CLOCK_MASK) < STALE_MS) {
                s.activity = ((((t - s.active) & CLOCK_MASK) > BURST_MS ? f & ~TOUCHES : f) & ~READS) | WROTE_LAST;
                // A client's answer is waited for since its first write, not since a command sent
                // behind it (ioredis pipelines a PING behind a blocked BLPOP): readSince holds that
                // mark until the next read (a server's keeps when its request began).
                if ((f & SERVER) === 0) s.readSince = t;
              } else if ((f & READS) !== 0) s.activity = f & ~READS;
            }
          } else {
            let g = f;
            if ((f & WROTE_LAST) !== 0) {
              // The first read after a write (a client's readSince is the first write's mark): once this side has ended
              // its writing, the peer answers that close (a burst already going goes on, marked);
              // otherwise it answers (promptly) or cuts off (after a wait) what this side sent.
              if (w?.ending === true) g = (f & (BURST_AFTER_WRITE | ~TOUCHES)) | ENDED_HERE;
              else {
                const asked = (f & SERVER) === 0 ? s.readSince : s.active;
                g = (f & ~TOUCHES) | (((t - asked) & CLOCK_MASK) > ANSWERED_MS ? BURST_AFTER_WRITE : 0);
              }
            } else if ((f & TOUCHES & ~READS) !== 0 && ((t - s.active) & CLOCK_MASK) > BURST_MS) {
              // Reads after a quiet spell (the last touch was a read): the peer speaks unprompted.
              g = f & (READS | ~TOUCHES);
            }
            // The first two reads since the last write are counted, the first one's mark kept. Not
            // an http server's touch for what its parser consumed when a handler has already
            // answered it (Node touches after the request's handler ran: its response is written).
            // Past two, nothing more is looked at until the next write.
            if ((g & READ_AGAIN) === 0) {
              const m = this._httpMessage;
              if (m == null || (f & SERVER) === 0 || m.writableEnded !== true) {
                if ((g & READ_ONCE) === 0) {
                  g |= READ_ONCE;
                  s.readSince = t;
                } else g |= READ_AGAIN;
              } else if ((g & READ_ONCE) === 0) s.readSince = t; // still when that request began
            }
            // Whether this read came in the clock step of the touch before it (an end of input
            // read in the same poll as the last bytes does).
            g = s.active === t ? g | SAME_STEP : g & ~SAME_STEP;
            if (g !== f) s.activity = g;
          }
          if (s.active !== t) {
            s.activeBefore = s.active;
            s.active = t;
          }
        }
        return original.call(this);
      },
  );
  // The wrapper in place (ours: patch() keeps the function it wrapped under kOriginal).
  const installed = (net.Socket.prototype as unknown as { _unrefTimer?: { [kOriginal]?: () => void } })._unrefTimer;
  unwrapped = installed?.[kOriginal];
}

export function disable(): void {
  counting = false;
  unwrapped = undefined;
  unpatch(net.Socket.prototype, '_unrefTimer');
  if (expiry !== undefined) realClearTimeout(expiry);
  expiry = undefined;
  fresh = false;
}
