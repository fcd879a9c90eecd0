// Private state lives under Symbols or private fields, never string properties on the host's objects.
import type { Context } from '@opentelemetry/api';
import type { RequestMark, SocketState } from './internal-types';

/** Marks a function as our wrapper and keeps the original, so disable() can restore it. */
export const kOriginal = Symbol('resetwatch.original');
/** The process-wide agent instance: loading the package twice installs once. */
export const kAgent = Symbol.for('resetwatch.agent');
/** On the agent: its own copy's prometheusRegistry(), for a copy of the package loaded in another vm context. */
export const kRegistry = Symbol.for('resetwatch.registry');
/** On the agent: whether it watches a socket (its private slot, which nothing else can see); for tests and support. */
export const kWatched = Symbol.for('resetwatch.watched');
/** Where @opentelemetry/api 1.x keeps its global registry (providers, context manager, propagator). */
export const kOtelGlobal = Symbol.for('opentelemetry.js.api.1');

/** A base class whose constructor returns the object it is given: a subclass's private field is then stamped on that object. */
export class Stamp {
  constructor(o: object) {
    // biome-ignore lint/correctness/noConstructorReturn: stamping a private field on a host object is the point
    return o as Stamp;
  }
}

/** A private slot on host objects (./sockets.ts: the per-socket watch state). */
export interface Slot<T> {
  get(o: object): T | undefined;
  has(o: object): boolean;
  set(o: object, v: T): void;
}

/**
 * A slot kept in a private class field stamped on the host's object: invisible to util.inspect,
 * console.log, crash dumps, spreads and Reflect.ownKeys, as without the agent, and set by V8's own
 * store path: ~15 ns, where a non-enumerable Symbol property (Object.defineProperty) cost ~140 ns
 * hot and ~1.5 µs per reset at 1,000/s (docs/benchmarks.md "Twenty-fourth pass"). A read is a
 * private-brand check and a load (~3 ns against a Symbol property's ~1.5). Each call makes a new
 * private name: one slot per call.
 */
export function privateSlot<T>(): Slot<T> {
  class Field extends Stamp {
    #value: T;
    constructor(o: object, v: T) {
      super(o);
      this.#value = v;
    }
    static get(o: object): T | undefined {
      return #value in o ? (o as Field).#value : undefined;
    }
    static has(o: object): boolean {
      return #value in o;
    }
    static set(o: object, v: T): void {
      if (#value in o) (o as Field).#value = v;
      else new Field(o, v);
    }
  }
  return Field;
}

/** Per-socket watch state (internal-types SocketState; null: superseded or disowned; false: passed over, ./sockets.ts). */
export const socketState: Slot<SocketState | null | false> = privateSlot<SocketState | null | false>();
/** Per-request start time and context, on a ClientRequest or an undici request (internal-types RequestMark). */
export const requestMark: Slot<RequestMark> = privateSlot<RequestMark>();
/** The context active where an HTTP request was created (Node ≥ 22.12), until it is sent. */
export const createdContext: Slot<Context | undefined> = privateSlot<Context | undefined>();
