// Replaces a prototype method with a wrapper that keeps the original's name and length, and puts
// the original back on unpatch (only if nobody patched over us since).
import { kOriginal } from '../symbols';

type AnyFn = (this: any, ...args: any[]) => any;

export function patch<T extends object>(proto: T, name: string, makeWrapper: (original: AnyFn) => AnyFn): void {
  const original = (proto as Record<string, unknown>)[name] as AnyFn;
  if (typeof original !== 'function' || (original as any)[kOriginal]) return;
  const wrapper = makeWrapper(original);
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  Object.defineProperty(wrapper, kOriginal, { value: original });
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  Object.defineProperty(proto, name, { ...desc, value: wrapper });
}

export function unpatch<T extends object>(proto: T, name: string): void {
  const current = (proto as Record<string, unknown>)[name] as any;
  if (typeof current !== 'function' || !current[kOriginal]) return;
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  Object.defineProperty(proto, name, { ...desc, value: current[kOriginal] });
}
