// Runs a function in the event loop's first turn without holding the loop open: whichever comes
// first of an unref'd setImmediate (the check phase right after the poll phase's first I/O) and an
// unref'd 0 ms timer (the poll phase waits for due timers, unref'd ones too, but not for an unref'd
// immediate: alone, that would wait for an idle app's first I/O). A process done before its loop
// turns (`node -e 1`) runs neither. Returns the cancel.
export function inFirstTurn(fn: () => void): () => void {
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
  const p = process as Internals;
  if (typeof p._getActiveHandles !== 'function' || typeof p._getActiveRequests !== 'function') return undefined;
  if (typeof process.getActiveResourcesInfo !== 'function') return undefined;
  const info = process.getActiveResourcesInfo();
  if (info.includes('Timeout') || info.includes('Immediate')) return true;
  if (p._getActiveRequests().length > 0) return true;
  for (const h of p._getActiveHandles() as { _handle?: { fd?: number; reading?: boolean } | null; fd?: number }[]) {
    if (h === null || typeof h !== 'object') return true;
    // A bare handle, closed and waiting for its close callback: the preload's bind of the family's
    // name, refused because another process holds it (Node closes the handle it could not bind).
    if (!('_handle' in h) && h.fd === -1) continue;
    if (!('_handle' in h)) return true; // a Timeout (older Nodes list ref'd ones here), a Worker, a dgram socket
    const fd = h._handle?.fd;
    if (!(fd === 1 || fd === 2 || (fd === 0 && h._handle?.reading !== true))) return true;
  }
  return false;
}

/** How often an idle app is looked at again, and when the outputs start whatever it does. */
const LOOK_AGAIN_MS = 10;
const START_ANYWAY_MS = 1000;

/**
 * Runs `fn` once the app keeps the event loop alive: looks every 10 ms, and runs it after 1 s
 * regardless (a long-running app is never left unexported). All timers unref'd: a process that is
 * done exits meanwhile, and `fn` never runs. Returns the cancel.
 */
export function whenAppBusy(fn: () => void): () => void {
  let look: NodeJS.Timeout | undefined;
  const cancel = () => {
    clearTimeout(look);
    clearTimeout(anyway);
  };
  const run = () => {
    cancel();
    fn();
  };
  const again = () => {
    if (appKeepsLoopAlive() !== false) return run();
    look = setTimeout(again, LOOK_AGAIN_MS);
    look.unref();
  };
  const anyway = setTimeout(run, START_ANYWAY_MS);
  anyway.unref();
  look = setTimeout(again, LOOK_AGAIN_MS);
  look.unref();
  return cancel;
}
