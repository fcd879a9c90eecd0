// When a connection last moved bytes (the event's `idleMs`, the pool hint). Node refreshes a
// socket's idle timer on every read and write through one method, net.Socket.prototype._unrefTimer:
// stream_base_commons calls it (through the `kUpdateTimer` getter, which returns it) on every read —
// data, EOF or error — and async write completion, net.js on every write and connect, and the http
// server for each chunk its parser consumes. Same on Node 20–26. Wrapping it costs one call and,
// per chunk, a clock read (performance.now(), ~50 ns), a few property reads and at most four
// small-integer writes (the touch's time; flags on a change of direction; the two marks when the
// clock's step moved).
// Two times per touch: the exact whole millisecond (`touched`), and the coarse clock's step (the
// marks): a step begins at a touch 10 ms or more after the step before began, and holds until
// then. Whether two touches came "in one step" (SAME_STEP, inStep, the reads since the last write)
// is asked of their exact times, less than 10 ms apart: two reads of one poll always are. The
// clock was kept by an unref'd 10 ms timer before: that timer woke the event loop up to 100 times
// a second while sockets were busy, ~3 µs of CPU per reset at 1,000 resets/s (docs/benchmarks.md
// "Thirteenth pass"), and after a blocked event loop the clock carried the time from before it.
// Reads and writes call the same method; a write is told by the Writable's own `writing` flag (set
// around `_write`, so also while an async write completes). The flags in `activity` say how the
// quiet time ended (classify.ts, hints.ts): `burstAfterWrite` says whether the peer's latest burst
// of reads (reads less than 250 ms apart: e.g. an error message, then its FIN) began after a write
// of this side had waited unanswered for more than 50 ms: a query in flight when the server closed.
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
// riding the socket), none after. A read also notes whether it came within a clock step of the
// touch before it (SAME_STEP: an end of input read in the same poll as the last bytes; a write
// of the flags only when that changes).
// `activity` also holds bits this hook never changes (direction, TLS, done, the start's
// microseconds: internal-types.ts): every write here keeps `f & ~TOUCHES`.
// Not wrapped in guard(): the body reads properties and writes small integers, which cannot throw,
// and a guard per chunk would cost more than the observation.
import * as net from 'node:net';
import * as coarse from '../clock';
import type { SocketState } from '../internal-types';
import * as flags from '../internal-types';
import * as symbols from '../symbols';
import { patch, unpatch } from './patch';

// Module-level copies of what the wrapper uses from other modules: tsc's CommonJS reads an import
// through its module object at every use, a load V8 cannot fold away; a module-level const it
// can (callgrind, a wrapper-sized function: ~3 instructions per use, ~10 uses per call).
const {
  CLOCK_MASK,
  CLOCK_STEP_MS,
  clockMs,
  WROTE_LAST,
  BURST_AFTER_WRITE,
  ENDED_HERE,
  READ_ONCE,
  READ_AGAIN,
  READS,
  TOUCHES,
  SERVER,
  SAME_STEP,
} = flags;
const { now } = coarse;
const kState: typeof symbols.kState = symbols.kState;
const kOriginal: typeof symbols.kOriginal = symbols.kOriginal;

type Touched = net.Socket & {
  [kState]?: SocketState | null;
  _writableState?: { writing?: boolean; ending?: boolean };
  _httpMessage?: { writableEnded?: boolean } | null;
};

/** Reads closer than this are one burst (a server's error message, then its FIN after its process exits). */
const BURST_MS = 250;
/** A write answered sooner than this was answered, not waiting: nothing was in flight (a redis command, a quick query). */
const ANSWERED_MS = 50;
/** Where the current step began (whole ms): a touch 10 ms or more later begins the next. */
let step = 0;

/**
 * Whether a socket's last touch came less than a step ago: classify.ts noteResetBehindEnd, an end
 * of input read just now, not one the app ends its side long after.
 */
export function inStep(state: SocketState): boolean {
  return ((clockMs(now()) - state.touched) & CLOCK_MASK) < CLOCK_STEP_MS;
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
        const s = this[kState];
        if (s) {
          const ms = clockMs(now());
          if (((ms - step) & CLOCK_MASK) >= CLOCK_STEP_MS) step = ms;
          const t = step;
          const f = s.activity;
          const w = this._writableState;
          if (w?.writing === true) {
            // The first write after reads. A burst of the peer's that has ended is forgotten; the
            // reads since the last write count from none again.
            if ((f & WROTE_LAST) === 0) s.activity = ((((t - s.active) & CLOCK_MASK) > BURST_MS ? f & ~TOUCHES : f) & ~READS) | WROTE_LAST;
          } else {
            let g = f;
            if ((f & WROTE_LAST) !== 0) {
              // The first read after a write (s.active is the write's mark): once this side has ended
              // its writing, the peer answers that close (a burst already going goes on, marked);
              // otherwise it answers (promptly) or cuts off (after a wait) what this side sent.
              if (w?.ending === true) g = (f & (BURST_AFTER_WRITE | ~TOUCHES)) | ENDED_HERE;
              else g = (f & ~TOUCHES) | (((t - s.active) & CLOCK_MASK) > ANSWERED_MS ? BURST_AFTER_WRITE : 0);
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
                  s.readSince = ms;
                } else g |= READ_AGAIN;
              } else if ((g & READ_ONCE) === 0) s.readSince = ms; // still when that request began
            }
            // Whether this read came within a step of the touch before it (an end of input read
            // in the same poll as the last bytes always does).
            g = ((ms - s.touched) & CLOCK_MASK) < CLOCK_STEP_MS ? g | SAME_STEP : g & ~SAME_STEP;
            if (g !== f) s.activity = g;
          }
          s.touched = ms;
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
}
