// Replaces a prototype method with a wrapper that keeps the original's name and length, and puts
// the original back on unpatch (only if nobody patched over us since).
//
// Wrapping over another agent's shimmer wrapper (OpenTelemetry's instrumentations use shimmer) must
// not hide it: such an instrumentation patches again when a module reaches it a second time (an ESM
// app's `import 'node:net'` after a CommonJS `require`), first unwrapping what it finds if it looks
// wrapped (`__wrapped`). Over a plain wrapper of ours it would wrap twice and make every span twice.
// So our wrapper answers for the shimmer wrapper under it: unwrapping it drops that layer and keeps ours.
//
// A wrapper is one more frame in the stack of an error made inside the original (a thrown
// ERR_SOCKET_BAD_PORT, the EADDRINUSE a listen() makes at once): the wrappers of connect() and
// listen(), where such errors are made, raise Error.stackTraceLimit by one around the original, so
// that the app's frames all stay (Node keeps 10 by default); ours is the one line more (README).
import { kOriginal } from './symbols';

/** The method as found: callable on anything. */
type Original = ((this: unknown, ...args: unknown[]) => unknown) & { [kOriginal]?: Original };
/** Our wrapper, typed by its hook for the object it is installed on. */
type Wrapper = (this: never, ...args: never[]) => unknown;
/** A shimmer wrapper (another agent's) as it marks itself. */
type Shimmed = Original & { __wrapped?: boolean; __original?: Original; __unwrap?: () => void };

export function patch<T extends object>(proto: T, name: string | symbol, makeWrapper: (original: Original) => Wrapper): void {
  const original = (proto as Record<string | symbol, unknown>)[name] as Original;
  if (typeof original !== 'function' || original[kOriginal]) return;
  const wrapper = makeWrapper(original);
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  Object.defineProperty(wrapper, kOriginal, { value: original });
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  const shimmed = original as Shimmed;
  if (shimmed.__wrapped === true && typeof shimmed.__original === 'function' && typeof shimmed.__unwrap === 'function') {
    const under = shimmed.__original;
    Object.defineProperty(wrapper, '__wrapped', { value: true, configurable: true });
    Object.defineProperty(wrapper, '__original', { value: under, configurable: true });
    Object.defineProperty(wrapper, '__unwrap', {
      configurable: true,
      value: () => {
        if ((proto as Record<string | symbol, unknown>)[name] !== wrapper) return;
        Object.defineProperty(proto, name, { ...desc, value: under });
        patch(proto, name, makeWrapper);
      },
    });
  }
  Object.defineProperty(proto, name, { ...desc, value: wrapper });
}

export function unpatch<T extends object>(proto: T, name: string | symbol): void {
  const current = (proto as Record<string | symbol, unknown>)[name] as Original;
  if (typeof current !== 'function' || !current[kOriginal]) return;
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  Object.defineProperty(proto, name, { ...desc, value: current[kOriginal] });
}

/**
 * Error.stackTraceLimit raised by one for a wrapper's frame (above): the value to put back, or
 * undefined where it is not raised: not a number, below Node's default of 10, or not settable (a
 * frozen Error: nothing is thrown). A lower limit keeps only the innermost frames, Node's own, and
 * raised it would show one more of them, never there without the agent (a re-trial: limit 0 got
 * `at lookupAndConnect`).
 */
export function raiseStackLimit(): number | undefined {
  try {
    const limit = Error.stackTraceLimit;
    if (typeof limit !== 'number' || !(limit >= 10)) return undefined;
    Error.stackTraceLimit = limit + 1;
    return limit;
  } catch {
    return undefined;
  }
}

/** Puts back what raiseStackLimit() raised, unless the app set a limit of its own meanwhile. */
export function restoreStackLimit(limit: number | undefined): void {
  if (limit === undefined) return;
  try {
    if (Error.stackTraceLimit === limit + 1) Error.stackTraceLimit = limit;
  } catch {
    /* frozen since: left as it is */
  }
}
