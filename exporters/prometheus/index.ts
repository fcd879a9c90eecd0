// Prometheus exporter (prom-client): metrics on a private Registry (./metrics.ts), recorded per
// reset (./record.ts), served by its own endpoint (./server.ts). Metric names and labels are a
// public contract: agent/contract.ts, docs/prometheus.md.
//
// Who serves what:
// - with a fixed port, the processes started under the same settings (a process tree under one
//   NODE_OPTIONS) form a family: one of them binds the endpoint and serves the sum of all
//   (./family.ts, ./replica.ts); with RESETWATCH_PORT=0 each process binds its own free port;
// - cluster workers never bind: the primary asks them for their metrics at scrape time and serves
//   the sum (./cluster.ts);
// - worker threads never bind: they forward each reset to their process's main thread, which
//   records it as its own (./threads.ts).
import { never, subscribe } from '../../agent/bus';
import type { Config } from '../../agent/config';
import type { Family } from './family';
import { forwardToMainThread, receiveFromThreads } from './threads';
import { constantLabels } from '../shared/labels';
import { guard } from '../../agent/guard';
import { inNextTurn } from '../../agent/first-turn';
import { clusterWorker, holdFamilyName, releaseFamilyName } from './family-name';
import { connectionCounts, quietSnapshot } from './quiet';
import type { Exporter } from '../types';

// ---- loaded when first needed: the recording (./record.ts), the heavy half (./collect.ts) ----

type Recording = typeof import('./record');
type Collect = typeof import('./collect');
let recorder: Recording | undefined;
let collect: Collect | undefined;
/** The settings and family of the running start(), applied to ./record.ts and ./collect.ts when they load. */
let settings: Config | undefined;
let joined: Family | undefined;

function apply(r: Recording): void {
  if (settings !== undefined) r.configure(settings);
  r.setFamily(joined);
}

/**
 * The per-reset entry of ./record.ts, taken once: the bundle re-exports it through a getter, and
 * a reset then costs one call here instead of a getter and a call for each step.
 */
let recordEvent: Recording['recordEvent'] | undefined;

/** Counting resets (no prom-client, ./tallies.ts): at the first reset, this thread's or a worker's. */
function recording(): Recording {
  if (recorder === undefined) {
    recorder = require('./record') as Recording;
    apply(recorder);
    recordEvent = recorder.recordEvent;
  }
  return recorder;
}

/** prom-client and the metrics: at the first scrape, family or cluster exchange or `registry` access. */
function loaded(): Collect {
  if (collect === undefined) {
    recording();
    collect = require('./collect') as Collect;
    // For apps that render `registry` themselves; our endpoint adds them in render().
    collect.registry.setDefaultLabels({ ...constantLabels() });
  }
  return collect;
}

/** resetwatch's own registry, for apps that serve their own /metrics (loads prom-client). */
export declare const registry: import('prom-client').Registry;
Object.defineProperty(exports, 'registry', {
  enumerable: true,
  get: () => loaded().registry,
});

export function exposition(openMetrics: boolean): Promise<string> {
  return loaded().exposition(openMetrics);
}

export function recentResets(limit: number): ReturnType<Collect['recentResets']> {
  return loaded().recentResets(limit);
}

// ---- lifecycle ----

export const prometheusExporter: Exporter = {
  name: 'prometheus',
  start({ config, isMainThread, turned }) {
    settings = config;
    joined = undefined;
    if (recorder !== undefined) apply(recorder);
    if (collect !== undefined) collect.registry.setDefaultLabels({ ...constantLabels() });
    const keep = config.recent > 0; // recent resets for /resets
    if (!isMainThread) {
      // Worker threads never bind: each reset goes to the main thread (./threads.ts), as a sample
      // built without prom-client (./sample.ts), loaded at the thread's first reset and kept.
      let build: { toSample: typeof import('./sample').toSample; toRecord: typeof import('./recent').toRecord } | undefined;
      return forwardToMainThread((e) => {
        build ??= {
          toSample: (require('./sample') as typeof import('./sample')).toSample,
          toRecord: (require('./recent') as typeof import('./recent')).toRecord,
        };
        return { sample: build.toSample(e, config.serverPeers), record: keep ? build.toRecord(e) : undefined };
      });
    }
    const stops: (() => void)[] = [];
    // Counters never show this end's address; /resets shows it where the log, a span or an app's
    // subscriber had it read (agent/bus.ts needsLocal).
    stops.push(subscribe((e) => (recordEvent ?? recording().recordEvent)(e, keep), never));
    stops.push(receiveFromThreads((m) => recording().record(m.sample, m.record)));
    if (turned) {
      // Already in the event loop's first turn (a preload's other outputs start there): the
      // endpoint, or the family election, now. The endpoint itself (./server) is loaded only when
      // this process wins the election.
      listen(config, stops);
    } else if (typeof config.port === 'number' && config.port !== 0) {
      // A fixed port, before the first turn (a preload's output started ahead by a top-level
      // `registry` read or Worker; the app's own load of the package, or its start(), before its
      // loop turned): the family's name is bound now (or kept, if the preload bound it), so that a
      // child that runs and exits before this process turns hands its resets over. The family
      // itself follows: at once where the name is another process's (this one joins it as early
      // as it can: a short-lived member's resets must reach the leader before it exits), else in
      // the first turn (./family-name.ts). Unref'd.
      let cancel = () => {};
      const join = () => {
        cancel();
        guard('start.prometheus.listen', listen, config, stops);
      };
      stops.push(holdFamilyName(config, join));
      cancel = inNextTurn(join);
      stops.push(() => cancel());
    } else {
      // Its own endpoint binds in the event loop's first turn, not in the preload: a process that
      // is done before its loop turns (`node -e`, most command-line tools) never loads ./server
      // nor binds a port no one could have scraped. Unref'd: it never keeps a process alive.
      stops.push(inNextTurn(() => guard('start.prometheus.listen', listen, config, stops)));
    }
    return () => {
      for (const stop of stops.splice(0).reverse()) stop();
    };
  },
};

/**
 * Binds the endpoint, joins the family, or answers the cluster primary, as the settings say. A
 * family's name still held once that is done (a cluster worker, a throw on the way) is released:
 * nothing would ever read its connections, and a sibling would join that silent holder.
 */
function listen(config: Config, stops: (() => void)[]): void {
  try {
    serveOrJoin(config, stops);
  } finally {
    releaseFamilyName();
  }
}

function serveOrJoin(config: Config, stops: (() => void)[]): void {
  const bind = (takeover: boolean) => {
    const { startMetricsServer } = require('./server') as typeof import('./server');
    return startMetricsServer(config, { exposition, recentResets }, takeover);
  };
  // The family's winner binds at once: the election runs in the event loop's first turn or later
  // (a preload only holds the family's name), so a process done before its loop turns (`node -e
  // 1`) still never loads ./server nor binds a port no one could have scraped. Unref'd.
  const serve = (takeover = false): (() => void) => guard('start.prometheus.serve', bind, takeover) ?? (() => {});
  // Only a process with an IPC channel and node:cluster loaded can be a cluster worker: a forked
  // family member loads no prom-client to tell (./family-name.ts).
  if (clusterWorker()) {
    stops.push(loaded().answerPrimary(() => loaded().localSnapshot()));
  } else if (config.port === 'off') {
    // No endpoint: metrics only in `registry`.
  } else if (config.port === 0) {
    stops.push(bind(false)); // each process its own free port: nothing to share
  } else {
    // A fixed port: every process started under the same settings serves through one (./family.ts).
    const { joinFamily } = require('./family') as typeof import('./family');
    const member = joinFamily(config, {
      own: () => loaded().ownSnapshot(),
      // A member with nothing but connections to tell sends them without loading prom-client (./quiet.ts).
      quiet: () => (recorder === undefined ? quietSnapshot() : undefined),
      connections: connectionCounts,
      replica: () => new (loaded().SampleReplica)(),
      sum: (parts) => loaded().sum(parts),
      combine: (parts) => loaded().combineParts(parts),
      serve,
      schema: () => loaded().schema(),
      maxPeers: () => config.maxPeers,
    });
    if (member === undefined) {
      stops.push(serve());
    } else {
      joined = member;
      recorder?.setFamily(member);
      stops.push(() => {
        member.stop();
        if (joined === member) {
          joined = undefined;
          recorder?.setFamily(undefined);
        }
      });
    }
  }
}
