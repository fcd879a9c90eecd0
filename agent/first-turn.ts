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
