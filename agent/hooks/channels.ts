// Subscribing a set of diagnostics_channel handlers, and unsubscribing them again.
import * as dc from 'node:diagnostics_channel';

/** Each handler knows its channel's message shape; `never` admits any of them here. */
export type Handlers = Record<string, (message: never) => void>;

export function subscribeAll(handlers: Handlers): void {
  for (const [name, fn] of Object.entries(handlers)) dc.subscribe(name, fn as unknown as dc.ChannelListener);
}

export function unsubscribeAll(handlers: Handlers): void {
  for (const [name, fn] of Object.entries(handlers)) dc.unsubscribe(name, fn as unknown as dc.ChannelListener);
}
