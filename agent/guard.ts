// Every piece of agent code that runs on the host's stack goes through `guard`: a failure is
// counted and reported once per site, never thrown into the app (contrib's safeExecuteInTheMiddle).
import { diag } from './diag';
import { stats } from './stats';

let faults = new Set<string>();
const reported = new Set<string>();

/** `all` means every site that runs on the app's stack, not install/start: those are named one by one. */
const LIFECYCLE = /^(enable|disable|start|stop)\./;

/** Test-only fault injection (RESETWATCH_FAULT_INJECT): named sites, or `all`, throw on entry. */
export function setFaultInjection(spec: string): void {
  faults = new Set(
    spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** Counts a failure and reports it, once per site. Never throws (report). */
export function reportFailure(site: string, err: unknown): void {
  stats.agentErrors++;
  report(site, err);
}

/**
 * One line per site. Near the stack's limit (the app deep in recursion as it opens a socket) the
 * report overflows as the failure did, and the RangeError escaped the guard into the app (trial of
 * runtime flags, `--stack-size`): caught here and by the guard. A report that threw is tried again
 * at the site's next failure; one diag() dropped (it drops a line it cannot write) is not.
 */
function report(site: string, err: unknown): void {
  if (reported.has(site)) return;
  try {
    const message = err instanceof Error ? err.message : String(err);
    diag('error', `internal error in ${site} (the app is unaffected): ${message}`);
    reported.add(site);
  } catch {
    // Nothing here may reach the app.
  }
}

/** Run `fn`, swallowing and counting any failure. Returns undefined when it failed. */
export function guard<A extends unknown[], R>(site: string, fn: (...args: A) => R, ...args: A): R | undefined {
  try {
    if (faults.size !== 0 && (faults.has(site) || (faults.has('all') && !LIFECYCLE.test(site)))) {
      throw new Error(`injected fault in ${site}`);
    }
    return fn(...args);
  } catch (err) {
    stats.agentErrors++; // counted without a call: there may be no stack left for one
    try {
      report(site, err);
    } catch {
      // No stack left even for that call (report says when).
    }
    return undefined;
  }
}
