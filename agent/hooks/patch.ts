// Replaces a prototype method with a wrapper that keeps the original's name and length, and puts
// the original back on unpatch (only if nobody patched over us since).
import { kOriginal } from '../symbols';

/** The method as found: callable on anything. */
type Original = ((this: unknown, ...args: unknown[]) => unknown) & { [kOriginal]?: Original };
/** Our wrapper, typed by its hook for the object it is installed on. */
type Wrapper = (this: never, ...args: never[]) => unknown;

export function patch<T extends object>(proto: T, name: string, makeWrapper: (original: Original) => Wrapper): void {
  const original = (proto as Record<string, unknown>)[name] as Original;
  if (typeof original !== 'function' || original[kOriginal]) return;
  const wrapper = makeWrapper(original);
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  Object.defineProperty(wrapper, kOriginal, { value: original });
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  Object.defineProperty(proto, name, { ...desc, value: wrapper });
}

export function unpatch<T extends object>(proto: T, name: string): void {
  const current = (proto as Record<string, unknown>)[name] as Original;
  if (typeof current !== 'function' || !current[kOriginal]) return;
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  Object.defineProperty(proto, name, { ...desc, value: current[kOriginal] });
}
