import { setTimeout, clearTimeout, setImmediate, clearImmediate, hrtimeBigint } from './timers';

// Runs a function in the event loop's next turn (its first, when called before the loop runs)
// without holding the loop open: whichever comes first of an unref'd setImmediate (the check phase
// right after the poll phase's next I/O) and an unref'd 0 ms timer (the poll phase waits for due
// timers, unref'd ones too, but not for an unref'd immediate: alone, that would wait for an idle
// app's next I/O). A process done before its loop turns again (`node -e 1`) runs neither. Returns
// the cancel.
export function inNextTurn(fn: () => void): () => void {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    clearImmediate(immediate);
    clearTimeout(timer);
    fn();
  };
  const immediate = setImmediate(run);
  const timer = setTimeout(run, 0);
  immediate.unref();
  timer.unref();
  return () => {
    done = true;
    clearImmediate(immediate);
    clearTimeout(timer);
  };
}

interface Internals {
  _getActiveHandles?: () => unknown[];
  _getActiveRequests?: () => unknown[];
}

/**
 * Whether anything of the app's keeps the event loop alive: a ref'd timer or immediate, a ref'd
 * handle (server, socket, child process, watcher) other than stdio, an I/O request in flight.
 * Node lists only ref'd handles, and the agent's own (the family's name and sockets, the
 * endpoint) are all unref'd, so they never count; stdout, stderr and a stdin not being read are
 * listed ref'd yet keep nothing alive. Undefined where Node's private lists are missing.
 */
export function appKeepsLoopAlive(): boolean | undefined {
  try {
    return keepsAlive();
  } catch {
    return undefined; // an app that replaced Node's private lists: start as before
  }
}

function keepsAlive(): boolean | undefined {
  const p = process as Internals;
  if (typeof p._getActiveHandles !== 'function' || typeof p._getActiveRequests !== 'function') return undefined;
  if (typeof process.getActiveResourcesInfo !== 'function') return undefined;
  const info = process.getActiveResourcesInfo();
  if (info.includes('Timeout') || info.includes('Immediate')) return true;
  if (p._getActiveRequests().length > 0) return true;
  for (const h of p._getActiveHandles() as { fd?: number }[]) {
    if (h === null || typeof h !== 'object') return true;
    // Only an own data property: dgram's `_handle` is a deprecated getter on its prototype, and
    // reading it prints DEP0112 (throws under --throw-deprecation).
    const own = Object.getOwnPropertyDescriptor(h, '_handle');
    if (own === undefined) {
      // A bare handle, closed and waiting for its close callback: the preload's bind of the
      // family's name, refused because another process holds it (Node closes what it could not bind).
      if (bareClosing(h)) continue;
      return true; // a Timeout (older Nodes list ref'd ones here), a Worker, a dgram socket
    }
    // A net.Server (own `_connections`) counts even on fd 0 (socket activation, inetd); not by
    // instanceof, which would load node:net in a process that has not.
    if (!('value' in own) || typeof (h as { _connections?: unknown })._connections === 'number') return true;
    const handle = own.value as { fd?: number; reading?: boolean } | null;
    const fd = handle?.fd;
    if (!(fd === 1 || fd === 2 || (fd === 0 && handle?.reading !== true))) return true;
  }
  return false;
}

/** A handle listed without an own `_handle`: the preload's refused bind of the family's name (Node closes what it could not bind). */
function bareClosing(h: { fd?: number }): boolean {
  return Object.getOwnPropertyDescriptor(h, '_handle') === undefined && !hasAccessor(h, '_handle') && h.fd === -1;
}

/** Whether `name` is an accessor somewhere on `o`'s prototype chain (never called). */
function hasAccessor(o: object, name: string): boolean {
  for (let p = Object.getPrototypeOf(o); p !== null; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (d !== undefined) return !('value' in d);
  }
  return false;
}

/** When a member whose app looked idle at its first turn joins anyway. */
const LOOK_AGAIN_MS = 1;

/**
 * Runs `fn` 1 ms on at once if the app shows it holds the loop (it connects, or listens, and may
 * exit on that connection's reset: a turn later loses most such resets), else in the loop's next
 * turn, which comes only if the loop lives on past this timers pass (work in Node's thread pool,
 * crypto.subtle, zlib or an addon holds it without showing in Node's lists of handles and
 * requests). A process that is done exits meanwhile, and `fn` never runs (10 ms instead of 1 lost
 * a reset made in between). Returns the cancel.
 * The 1 ms is counted on the clock, not on libuv's loop time: that time is cached at the start of
 * the loop's iteration, so a first turn that came late armed a timer already due, which fired
 * ~0.1 ms on (`node -e 1` joined, one run in fifteen on the loaded 2-core test machine).
 * Nor is a timer that fires proof enough: libuv runs due timers at the end of every loop
 * iteration, before it looks whether anything is alive, and the preload's refused bind of the
 * family's name keeps the first iteration going until that socket has closed: `node -e 1`
 * descheduled there (4 to 8 ms seen under load) joined, one run in a hundred to two hundred.
 */
export function whenAppBusy(fn: () => void): () => void {
  // Not performance.now(): its first use loads perf_hooks, which held the loop past the 1 ms.
  const since = hrtimeBigint();
  let look: NodeJS.Timeout | undefined;
  let cancelTurn: (() => void) | undefined;
  const arm = (ms: number) => {
    look = setTimeout(check, ms);
    look.unref();
  };
  const check = () => {
    // Armed on a stale loop time: again, from the time just updated (setTimeout rounds a delay
    // below 1 ms up to 1, so not due in this pass).
    const ms = LOOK_AGAIN_MS - Number(hrtimeBigint() - since) / 1e6;
    if (ms > 0) arm(ms);
    // Keep this branch: deferring a visibly busy app too lost 15 of 20 resets (review of s9-simplify).
    else if (appKeepsLoopAlive() === true) fn();
    else cancelTurn = inNextTurn(fn);
  };
  arm(LOOK_AGAIN_MS);
  return () => {
    clearTimeout(look);
    cancelTurn?.();
  };
}
