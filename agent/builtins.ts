// Which Node built-ins are loaded already, and when one loads: the agent loads its own at a moment
// of its choosing.

/**
 * Whether a Node built-in is loaded in this thread (Node's list of loaded modules); undefined where
 * the list is missing.
 */
export function builtinLoaded(name: string): boolean | undefined {
  return (process as { moduleLoadList?: string[] }).moduleLoadList?.includes(`NativeModule ${name}`);
}

// Taken at load: the watch runs inside Node's loader, where an app's later replacement of these
// must not reach.
const reflectSet = Reflect.set;
const setPrototypeOf = Object.setPrototypeOf;
const getPrototypeOf = Object.getPrototypeOf;

/**
 * Calls `fn` once, as soon as one of the built-ins `names` has loaded. Node records each built-in it
 * loads by pushing `NativeModule <id>` onto process.moduleLoadList right after the module's code ran
 * and before whoever required it gets it back: a CommonJS require, an ESM import, Node's own
 * requires (http loading net, fetch loading undici), process.getBuiltinModule alike (Node 20 to 26).
 * The push is seen through the list's prototype: for as long as it waits, a proxy sits between the
 * list and Array.prototype and hears each new entry (an array's new index is set through its
 * prototype chain); the list gets Array.prototype back before `fn` runs. `fn` runs inside that
 * require, so it must not require a built-in that may be loading then (one that loads `names`).
 * `fn` must not throw (it runs inside the app's require). Returns the cancel, or undefined where
 * the list is not there to watch (the caller does not wait).
 */
export function whenLoaded(names: readonly string[], fn: () => void): (() => void) | undefined {
  const list = (process as { moduleLoadList?: unknown }).moduleLoadList;
  if (!Array.isArray(list) || Object.getPrototypeOf(list) !== Array.prototype || !Object.isExtensible(list)) return undefined;
  const wanted = new Set(names.map((n) => `NativeModule ${n}`));
  let waiting = true;
  const cancel = () => {
    if (!waiting) return;
    waiting = false;
    if (getPrototypeOf(list) === watcher) setPrototypeOf(list, Array.prototype);
  };
  const watcher: object = new Proxy(Object.create(Array.prototype) as object, {
    set(target, key, value, receiver) {
      const done = reflectSet(target, key, value, receiver); // onto the list itself, as a push does
      if (waiting && wanted.has(value as string)) {
        cancel();
        fn();
      }
      return done;
    },
  });
  setPrototypeOf(list, watcher);
  return cancel;
}
