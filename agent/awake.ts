// Chores the agent does now and then (looking for an app's late OpenTelemetry SDK) ride on the
// wake-ups the process has anyway: a scrape of the metrics endpoint, an OTLP export. Waking an
// idle process costs ~1–2 ms of CPU on a VM however little the timer does (cold caches; the
// look-up itself is microseconds), and the idle app's budget is 0.2 ms per second
// (docs/benchmarks.md "Seventeenth pass"). The chore's own timer stays as the latest time: an app
// that nothing scrapes is still looked at on time.
import { reportFailure } from './guard';
import { setTimeout, clearTimeout, NodeDate } from './timers';

interface Chore {
  run: () => void;
  /** From when (NodeDate.now(): ./clock would load perf_hooks at start) a wake-up runs the chore. */
  from: number;
  timer: NodeJS.Timeout;
}

const chores = new Set<Chore>();

/**
 * Runs `run` once, `ms` from now at the latest (an unref'd timer), or at the first wake-up of the
 * process (awake()) once `ms / 2` have passed. Returns the cancel.
 */
export function choreWithin(where: string, ms: number, run: () => void): () => void {
  const chore: Chore = {
    run: () => {
      cancel();
      // Not guard(): the chore guards its own work (and its fault injection), then schedules its
      // next run; this only keeps a throw out of the scrape or export that woke it.
      try {
        run();
      } catch (err) {
        reportFailure(where, err);
      }
    },
    from: NodeDate.now() + ms / 2,
    timer: setTimeout(() => chore.run(), ms),
  };
  chore.timer.unref();
  chores.add(chore);
  const cancel = () => {
    clearTimeout(chore.timer);
    chores.delete(chore);
  };
  return cancel;
}

/** The process is awake for work of its own (a scrape, an export): due chores run now. */
export function awake(): void {
  if (chores.size === 0) return;
  const t = NodeDate.now();
  for (const c of [...chores]) if (t >= c.from) c.run();
}
