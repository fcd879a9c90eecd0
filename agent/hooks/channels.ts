// Subscribing a set of diagnostics_channel handlers, and unsubscribing them again.
import * as dc from 'node:diagnostics_channel';

export type Handlers = Record<string, (message: any) => void>;

export function subscribeAll(handlers: Handlers): void {
  for (const [name, fn] of Object.entries(handlers)) dc.subscribe(name, fn);
}

export function unsubscribeAll(handlers: Handlers): void {
  for (const [name, fn] of Object.entries(handlers)) dc.unsubscribe(name, fn);
}
