// The in-process event bus: hooks publish reset events, exporters and users subscribe.
// A throwing subscriber is reported by the guard and never reaches the app or other subscribers.
import { guard } from './guard';
import { stats } from './stats';
import type { ResetEvent, ResetListener } from './types';

const listeners: ResetListener[] = [];

/** Subscribe to reset events. Returns the function that unsubscribes. */
export function onReset(listener: ResetListener): () => void {
  if (typeof listener !== 'function') throw new TypeError('onReset expects a function');
  listeners.push(listener);
  return () => {
    const i = listeners.indexOf(listener);
    if (i !== -1) listeners.splice(i, 1);
  };
}

export function publish(event: ResetEvent): void {
  stats.resets++;
  // Copy: a subscriber may unsubscribe while we iterate.
  for (const listener of listeners.slice()) guard('subscriber', listener, event);
}

export function subscriberCount(): number {
  return listeners.length;
}
