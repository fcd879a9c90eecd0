// A process family: every process with the agent in one network namespace and the same fixed
// RESETWATCH_HOST:RESETWATCH_PORT (typically one NODE_OPTIONS over a container's process tree:
// nodemon, PM2, a script's children, spawn/fork of node). One of them, the leader, serves the sum
// of all of them on the port; the others, members, feed it. No label per process.
//
// Leader election: listening on the Linux abstract unix socket "\0resetwatch/2/u<uid>/p<pidns>/s<session>/<host>:<port>". The
// kernel makes the listen atomic (EADDRINUSE for every other process), no file is involved (works
// with a read-only /tmp), and the name vanishes with its process. Whoever gets it binds the HTTP
// port; everyone else connects to it. When the leader's connection drops, the members race again.
//
// What travels (one JSON object per line, member → leader on one connection, leader → member on
// another: see join()):
// - member → leader: its full state ('state': metrics and recent resets, cluster workers included)
//   when it joins and when the leader pulls at scrape time, and its resets as they happen
//   ('samples', a few hundred bytes each, sent in the event-loop turn of the reset; batched every
//   25 ms beyond 50 messages a second), so a member that exits has handed its resets over;
// - leader → members: a hand-over ('legacy': its own state plus everything departed members left
//   behind, and each live member's last-known part by id) within 250 ms of a change and before
//   each scrape is answered, and its own resets in between ('samples'). The member that takes over when the
//   leader exits starts from there, serving a member's inherited part until that member's own
//   state replaces it; a member that joins the new leader offers the hand-over it holds
//   ('offer'), in case it is a later one (ranked by term, the takeovers so far, then seq).
// A member that leaves is kept as it was last known and folded into the 'retired' sum once its pid
// is gone: counts never go backwards. Lost: a process's connection counts since its last reset or
// scrape when it exits, resets of its last 25 ms in a storm, and what a SIGKILL cuts off
// (docs/workers.md "Process trees").
//
// Never in the app's way: every socket and server here is unref'd and has its own 'error'
// listener (these objects are the agent's, not the app's); an idle family does no periodic work.
import * as net from 'node:net';
import type { Config } from '../../agent/config';
import { diag } from '../../agent/diag';
import { guard, reportFailure } from '../../agent/guard';
import { untraced } from '../../agent/untraced';
import { countDropped, stats } from '../../agent/stats';
import { DIRECTIONS, type Direction } from '../../agent/types';
import type { Snapshot } from './cluster';
import type { Sample } from './threads';
import type { PendingRecord, ResetRecord } from './recent';
import type { Schema } from './family-validate';
import { familyName, takeFamilyName, type HeldName } from './family-name';
import { setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, NodeDate } from '../../agent/timers';

export { familyName };

// The election starts with every process; what travels between members is checked and built with these,
// loaded with the first message or reset rather than at every start (docs/benchmarks.md), and
// kept: a member asks for ./recent at each reset, and require() looks its path up each time.
let recentModule: typeof import('./recent') | undefined;
let validateModule: typeof import('./family-validate') | undefined;
const recent = () => (recentModule ??= require('./recent') as typeof import('./recent'));
const validate = () => (validateModule ??= require('./family-validate') as typeof import('./family-validate'));

/** How long a scrape waits for members (a cluster primary waits up to 1.5 s for its workers); then: as last known. */
export const PULL_TIMEOUT_MS = 2000;
/** Reset messages sent in the event-loop turn of their reset, per second; beyond: batched (see recorded()). */
const SEND_PER_SECOND = 50;
const SEND_INTERVAL_MS = 25;
/** Legacy broadcasts at most this often. */
const LEGACY_INTERVAL_MS = 250;
/** Bytes of its own reset lines the leader sends before it compacts them into a legacy broadcast. */
const LEGACY_COMPACT_BYTES = 1024 * 1024;
/** A message longer than this closes the connection (a full state is ~10–200 KB). */
const MAX_LINE = 4 * 1024 * 1024;
/** Hand-over bytes a member keeps beyond the last legacy (the leader's resets since). */
const MAX_LEGACY_ADDS = 8 * 1024 * 1024;
/** Bytes of members' parts in one hand-over (beyond: those members dip until they push again). */
const MAX_HANDOVER_MEMBERS = 3 * 1024 * 1024;
/** Members plus departed ones the leader keeps apart; beyond, the oldest departed join `retired`. */
const MAX_MEMBERS = 256;
/** Unsent bytes towards one peer beyond which resets are dropped (counted) rather than queued. */
const MAX_BUFFERED = 8 * 1024 * 1024;
/** Election rounds in a row that find neither a leader nor the name free, before serving alone (~30 s). */
const MAX_ATTEMPTS = 20;
/** Pause before the second election round in a row, doubled each round up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

export interface Replica {
  /** A full state replaces everything known before. */
  set(snapshot: Snapshot): void;
  add(sample: Sample, record: ResetRecord | undefined): void;
  /** Connections made since the last full state or resets message. */
  addConnections(delta: Connections): void;
  parts(): Promise<Snapshot[]>;
}

export type Connections = Record<Direction, { tls: number; plain: number }>;

export interface FamilyHooks {
  /** This process's own state (a cluster primary: with its workers). */
  own(): Promise<Snapshot>;
  /** A member's state while it has nothing but connection counts (no prom-client loaded), else undefined: `own` then. */
  quiet(): Snapshot | undefined;
  /** This process's connection counts so far (worker threads included). */
  connections(): Connections;
  replica(): Replica;
  /** The served sum (peer bound, exemplars). */
  sum(parts: Snapshot[]): Promise<Snapshot>;
  /** A plain sum, for what is handed on. */
  combine(parts: Snapshot[]): Promise<Snapshot>;
  /** Bind the endpoint; `takeover`: the previous leader's port may take a moment to be free. */
  serve(takeover: boolean): () => void;
  /** resetwatch's own metrics: what another process's state may contain. */
  schema(): Schema;
  /** RESETWATCH_MAX_PEERS: the peer values one state may carry. */
  maxPeers(): number;
}

export interface Family {
  /** A reset this process recorded (main thread or worker thread). */
  /** `now`: sent before returning (a reset the process is about to crash on), not in the turn's check phase. */
  recorded(sample: Sample, record: ResetRecord | PendingRecord | undefined, now?: boolean): void;
  /** The leader: `own` plus every member's; a member: `own`. */
  collect(own: Snapshot): Promise<Snapshot & { family: number }>;
  /** Whether collect() gives `own` alone: not leading, or leading a family that never had another part. */
  lone(): boolean;
  stop(): void;
}

type Item = [Sample, ResetRecord | undefined];
type Message =
  | { t: 'state'; id: string; pid: number; n?: number; snap: Snapshot }
  | { t: 'samples'; items: Item[]; conns?: Connections }
  | { t: 'pull'; n: number }
  | { t: 'legacy'; from: string; term: number; seq: number; snap: Snapshot; members: Record<string, Snapshot> }
  | { t: 'offer'; from: string; term: number; seq: number; snap: Snapshot; members: Record<string, Snapshot>; items: Item[] }
  | { t: 'listen'; id: string; pid: number };

/** Which hand-over: (term, seq, items since); compared as a tuple. */
type Rank = [number, number, number];

interface Inheritance {
  rank: Rank;
  /** The previous leaders' own, departed and retired parts. */
  parts: Snapshot[];
  /** Live members' last-known parts, until each sends its own state. */
  members: Map<string, Snapshot>;
}

function later(a: Rank, b: Rank | undefined): boolean {
  if (b === undefined) return true;
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

interface Member {
  id: string;
  pid: number;
  /** Member → leader: its state and resets. The leader never writes here (see join()). */
  socket: net.Socket | undefined;
  /** Leader → member: pulls, legacy, the leader's resets. */
  down: net.Socket | undefined;
  replica: Replica;
  waiting: Map<number, () => void>;
  /** It sent this leader a state (what is handed on for it from then on). */
  stated: boolean;
}

/** Joins (or founds) the family of this port; undefined where abstract sockets do not exist. */
export function joinFamily(config: Config, hooks: FamilyHooks): Family | undefined {
  if (process.platform !== 'linux' || typeof config.port !== 'number' || config.port === 0) return undefined;
  const name = familyName(config.host, config.port, config.metricsToken);
  return new ProcessFamily(name, hooks, takeFamilyName(name));
}

class ProcessFamily implements Family {
  // pid and a random part: unique among the family's live members (not a secret; Math.random spares
  // loading node:crypto at preload).
  private readonly id = `${process.pid}:${Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0')}`;
  private role: 'electing' | 'member' | 'leader' | 'alone' | 'stopped' = 'electing';
  private attempts = 0;
  private hadLeader = false;
  /** Ever led a member (its part stays in the sum after it leaves: departed, then retired). */
  private hadMembers = false;
  // member side
  private leaderSocket: net.Socket | undefined;
  private leaderDown: net.Socket | undefined;
  private connected = false;
  private legacyLine: string | undefined;
  private legacyAdds: string[] = [];
  private legacyAddBytes = 0;
  /** The latest pull not answered yet: pulls are coalesced into one state. */
  private pullN: number | undefined;
  private pullQueued = false;
  /** When this connection to the leader was made, and whether the leader said anything valid on it. */
  private connectedAt = 0;
  private heard = false;
  // leader side
  private server: net.Server | undefined;
  private stopServe: (() => void) | undefined;
  private readonly members = new Map<string, Member>();
  private departed: Member[] = [];
  private retired: Snapshot | undefined;
  /** What the previous leader handed on, and which hand-over it was (a later one offered by a member replaces it). */
  private inheritance: Inheritance | undefined;
  /** Leaders so far, as far as this process knows: each takeover is one more (hand-overs rank by (term, seq, items)). */
  private term = 0;
  private legacySeq = 0;
  /** Members that sent this leader a state: their own state replaces what was inherited for them. */
  private readonly pushed = new Set<string>();
  private inherited: Promise<void> = Promise.resolve();
  /** Departed members being folded into `retired` (collect waits for it). */
  private folding: Promise<void> = Promise.resolve();
  private nextPull = 0;
  private lastLegacy = 0;
  private legacyTimer: NodeJS.Timeout | undefined;
  /** The last legacy sent and this process's reset lines since: what a newcomer gets at once. */
  private lastLegacyLine: string | undefined;
  private ownLines: string[] = [];
  private ownBytes = 0;
  // both: resets to send, and the full state being captured (resets after it wait for it)
  private queue: Item[] = [];
  private flushScheduled = false;
  private lastSend = 0;
  private windowStart = 0;
  private sentInWindow = 0;
  private capturing = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Connection counts as of the last full state or resets message sent. */
  private sentConns: Connections | undefined;

  constructor(
    private readonly name: string,
    private readonly hooks: FamilyHooks,
    held?: HeldName,
  ) {
    this.elect(held);
  }

  // ---- election ----

  /** Binds the name (or takes over the one a preload bound: ./family-name.ts); the loser joins. */
  private elect(held?: HeldName): void {
    if (this.role === 'stopped') return;
    this.role = 'electing';
    const accept = (socket: net.Socket) => guard('family.accept', () => this.accept(socket));
    const failed = (err: Error & { code?: string }) =>
      guard('family.elect', () => {
        if (this.role === 'stopped') return;
        if (err.code === 'EADDRINUSE') this.join();
        else this.alone(err);
      });
    if (held !== undefined) {
      held.accept = accept;
      for (const socket of held.early.splice(0)) accept(socket);
      if (held.server.listening) guard('family.lead', () => this.lead(held.server));
      else if (held.error !== undefined) failed(held.error);
      else held.server.once('error', failed); // the bind's error is emitted in the tick after it
      return;
    }
    const server = net.createServer(accept);
    server.on('error', failed);
    server.unref(); // before the bind (setupListenHandle honours it): a throw on the way leaves no ref'd server
    server.listen({ path: this.name }, () => guard('family.lead', () => this.lead(server)));
  }

  /** No family here (abstract sockets refused): serve alone, as without one. */
  private alone(err: Error): void {
    this.role = 'alone';
    diag('warn', `metrics endpoint not shared with other processes (${err.message}); this process serves its own.`);
    this.stopServe = this.hooks.serve(false);
  }

  private lead(server: net.Server): void {
    if (this.role === 'stopped') {
      server.close();
      return;
    }
    const takeover = this.hadLeader;
    this.role = 'leader';
    this.server = server;
    this.leaderSocket = undefined;
    this.attempts = 0;
    this.inherited = this.inherit();
    this.stopServe = this.hooks.serve(takeover);
  }

  /** The previous leader's hand-over, as this process last received it. */
  private async inherit(): Promise<void> {
    const offer = this.offer();
    this.legacyLine = undefined;
    this.legacyAdds = [];
    this.legacyAddBytes = 0;
    this.term++;
    diag(
      'debug',
      `family: leading (pid ${process.pid}); ${offer === undefined ? 'nothing' : `hand-over ${offer.term}.${offer.seq}+${offer.items.length}`} handed over`,
    );
    if (offer !== undefined) await this.adopt(offer);
  }

  /** The hand-over this process holds, parsed (sent to a new leader, or adopted when leading). */
  private offer(): Extract<Message, { t: 'offer' }> | undefined {
    if (this.legacyLine === undefined) return undefined;
    try {
      const m = JSON.parse(this.legacyLine) as Message;
      if (m.t !== 'legacy' || !isSnapshot(m.snap)) return undefined;
      const items: Item[] = [];
      for (const a of this.legacyAdds) {
        const add = JSON.parse(a) as { items?: unknown };
        if (Array.isArray(add.items)) items.push(...(add.items as Item[]));
      }
      return {
        t: 'offer',
        from: String(m.from),
        term: Number(m.term) || 0,
        seq: Number(m.seq) || 0,
        snap: m.snap,
        members: m.members !== null && typeof m.members === 'object' ? m.members : {},
        items,
      };
    } catch (err) {
      reportFailure('family.offer', err);
      return undefined;
    }
  }

  /**
   * A hand-over of a previous leader: taken when it is later than the one held, by (term, seq,
   * items) (a member that joined just before the leader died may hold a later one). Every member's
   * last-known part comes with it, served until that member sends this leader its own state.
   */
  private async adopt(offer: Extract<Message, { t: 'offer' }>): Promise<void> {
    const snap = validate().cleanSnapshot(offer.snap, this.schema(), this.hooks.maxPeers());
    if (snap === undefined || typeof offer.from !== 'string' || offer.from === this.id) return;
    const rank: Rank = [num(offer.term), num(offer.seq), Array.isArray(offer.items) ? offer.items.length : 0];
    if (!later(rank, this.inheritance?.rank)) return;
    const members = new Map<string, Snapshot>();
    if (offer.members !== null && typeof offer.members === 'object') {
      for (const [id, part] of Object.entries(offer.members).slice(0, MAX_MEMBERS)) {
        const clean = validate().cleanSnapshot(part, this.schema(), this.hooks.maxPeers());
        if (clean === undefined) return; // a hand-over is whole or nothing
        if (validId(id) && id !== this.id) members.set(id, clean);
      }
    }
    const r = this.hooks.replica();
    r.set(snap);
    addItems(r, offer.items);
    const parts = await r.parts();
    if (!later(rank, this.inheritance?.rank)) return;
    for (const id of this.pushed) members.delete(id);
    for (const m of [...this.members.values(), ...this.departed]) if (m.stated) members.delete(m.id);
    this.inheritance = { rank, parts, members };
    this.term = Math.max(this.term, rank[0] + 1);
  }

  /** What was inherited: the previous leaders' own and departed parts, and members not heard from since. */
  private inheritedParts(): Snapshot[] {
    return this.inheritance === undefined ? [] : [...this.inheritance.parts, ...this.inheritance.members.values()];
  }

  /**
   * Two one-way connections to the leader. A write to a process that has just exited fails with
   * EPIPE, and Node then destroys the socket before reading what that process had sent: so the
   * leader never writes on the connection it reads a member's resets from.
   */
  private join(): void {
    this.role = 'member';
    this.connected = false;
    // Out of the app's traces (agent/untraced.ts).
    const [up, down] = untraced(() => [net.connect({ path: this.name }), net.connect({ path: this.name })]);
    this.leaderSocket = up;
    this.leaderDown = down;
    for (const socket of [up, down]) {
      socket.unref();
      socket.on('error', () => {
        /* 'close' follows */
      });
      socket.on('close', () => guard('family.lost', () => this.lost(up)));
    }
    this.heard = false;
    this.connectedAt = 0;
    up.on('connect', () =>
      guard('family.joined', () => {
        diag('debug', `family: joined as a member (pid ${process.pid})`);
        this.connected = true;
        this.connectedAt = NodeDate.now();
        this.pushState(undefined);
        // What the previous leader handed on: the new one may have missed its latest hand-over.
        const offer = this.offer();
        if (offer !== undefined)
          this.chain = this.chain.then(() => {
            send(up, `${JSON.stringify(offer)}\n`);
          });
      }),
    );
    down.on('connect', () =>
      guard('family.listen', () => send(down, `${JSON.stringify({ t: 'listen', id: this.id, pid: process.pid })}\n`)),
    );
    readLines(down, (line) => this.fromLeader(line));
  }

  /** The leader is gone (or never answered): race for its place. */
  private lost(up: net.Socket): void {
    if (this.leaderSocket !== up || this.role === 'stopped') return;
    diag('debug', `family: connection to the leader closed (pid ${process.pid}, connected ${this.connected})`);
    up.destroy();
    this.leaderSocket = undefined;
    this.leaderDown?.destroy();
    this.leaderDown = undefined;
    // A leader that accepts and closes at once (out of fds, or not resetwatch) is no leader: the
    // count of attempts goes on, with a growing pause, until one answers or lasts a second.
    if (this.heard || (this.connected && NodeDate.now() - this.connectedAt >= 1000)) this.attempts = 0;
    this.connected = false;
    this.hadLeader = true;
    if (++this.attempts > MAX_ATTEMPTS) {
      // Not given up for good: serve alone (one "in use" line when the port is taken), as without a family.
      this.role = 'alone';
      diag('warn', `metrics endpoint: could not reach or replace the process serving ${this.name.slice(1)}; this process serves its own.`);
      this.stopServe = this.hooks.serve(false);
      return;
    }
    if (this.attempts === 1) this.elect();
    else
      setTimeout(() => guard('family.retry', () => this.elect()), Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.attempts - 2))).unref();
  }

  // ---- member side ----

  private fromLeader(line: string): void {
    const kind = peekType(line);
    if (kind === 'legacy') {
      this.legacyLine = line;
      this.legacyAdds = [];
      this.legacyAddBytes = 0;
      this.heard = true;
    } else if (kind === 'samples') {
      if (this.legacyAddBytes + line.length <= MAX_LEGACY_ADDS) {
        this.legacyAdds.push(line);
        this.legacyAddBytes += line.length;
      }
      this.heard = true;
    } else if (kind === 'pull') {
      const m = parse(line) as { n?: unknown } | undefined;
      if (m === undefined || typeof m.n !== 'number' || !Number.isSafeInteger(m.n)) return;
      this.heard = true;
      // At most one answer pending: a flood of pulls costs one state.
      this.pullN = m.n;
      if (this.pullQueued) return;
      this.pullQueued = true;
      this.pushState(undefined, true);
    }
  }

  /** Sends the full state; resets recorded while it is captured follow it. One at a time, in order. */
  private pushState(n: number | undefined, pulled = false): void {
    this.chain = this.chain.then(async () => {
      if (pulled) {
        n = this.pullN;
        this.pullQueued = false;
      }
      const socket = this.leaderSocket;
      if (socket === undefined || !this.connected) return;
      this.capturing++;
      this.queue = []; // everything recorded so far is in the state
      this.sentConns = this.hooks.connections();
      try {
        const snap = this.hooks.quiet() ?? (await this.hooks.own());
        send(socket, `${JSON.stringify({ t: 'state', id: this.id, pid: process.pid, n, snap })}\n`);
      } catch (err) {
        reportFailure('family.state', err);
      } finally {
        this.capturing--;
        this.flush();
      }
    });
  }

  // ---- both: streaming this process's resets ----

  recorded(sample: Sample, record: ResetRecord | PendingRecord | undefined, now = false): void {
    if (this.role === 'member' ? !this.connected : this.role !== 'leader' || this.members.size === 0) return;
    if (this.queue.length >= 10000) {
      countDropped('prometheus');
      return;
    }
    this.queue.push([sample, record instanceof recent().PendingRecord ? recent().toRecord(record.event) : record]);
    // A crash comes before the check phase: the message goes now (a write to an idle unix socket
    // reaches the kernel at once), with whatever the turn had queued.
    if (now) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      const flush = () => guard('family.flush', () => this.flush());
      const now = NodeDate.now();
      if (now - this.windowStart >= 1000) {
        this.windowStart = now;
        this.sentInWindow = 0;
      }
      // Usually: in this event-loop turn's check phase (an unref'd immediate still runs there), so
      // a process that exits right after its reset has already sent it. Beyond SEND_PER_SECOND
      // messages in a second (a storm): at most one per SEND_INTERVAL_MS, since each message
      // wakes the leader (~30–60 µs of CPU on a busy 2-core machine).
      if (this.sentInWindow < SEND_PER_SECOND) setImmediate(flush).unref();
      else setTimeout(flush, Math.max(0, this.lastSend + SEND_INTERVAL_MS - now)).unref();
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.capturing > 0 || this.queue.length === 0) return;
    const now = this.hooks.connections();
    const conns = this.role === 'member' && this.sentConns !== undefined ? minus(now, this.sentConns) : undefined;
    this.sentConns = now;
    const line = `${JSON.stringify({ t: 'samples', items: this.queue, conns })}\n`;
    this.lastSend = NodeDate.now();
    this.sentInWindow++;
    const n = this.queue.length;
    this.queue = [];
    if (this.role === 'member') {
      if (this.leaderSocket !== undefined && this.connected && !send(this.leaderSocket, line, n)) countDropped('prometheus', n);
    } else if (this.role === 'leader') {
      for (const m of this.members.values()) if (m.down !== undefined) send(m.down, line);
      if (this.lastLegacyLine !== undefined) {
        this.ownLines.push(line);
        this.ownBytes += line.length;
      }
      if (this.ownBytes >= LEGACY_COMPACT_BYTES) this.scheduleLegacy();
    }
  }

  // ---- leader side ----

  private accept(socket: net.Socket): void {
    socket.unref();
    socket.on('error', () => {
      /* 'close' follows */
    });
    let member: Member | undefined;
    let down = false;
    let offered = false;
    const find = (id: string, pid: number): Member | undefined => {
      let m = this.members.get(id) ?? this.departed.find((d) => d.id === id);
      this.departed = this.departed.filter((d) => d !== m);
      if (m === undefined) {
        if (this.members.size >= MAX_MEMBERS) return undefined;
        diag('debug', `family: member ${id} joined`);
        m = { id, pid, socket: undefined, down: undefined, replica: this.hooks.replica(), waiting: new Map(), stated: false };
        this.trimDeparted();
      }
      this.members.set(id, m);
      this.hadMembers = true;
      return m;
    };
    readLines(socket, (line) => {
      const m = parse(line);
      if (m === undefined) return refused(socket, 'not a message');
      if (m.t === 'listen' && member === undefined && !down && validId(m.id) && validPid(m.pid)) {
        member = find(m.id, m.pid);
        if (member === undefined) return refused(socket, 'too many members');
        if (member.down !== undefined && member.down !== socket) member.down.destroy();
        member.down = socket;
        down = true;
        // The newcomer gets what the others have at once (it may be the one that takes over next),
        // and a fresh legacy soon.
        if (this.lastLegacyLine !== undefined) for (const l of [this.lastLegacyLine, ...this.ownLines]) send(socket, l);
        this.scheduleLegacy();
      } else if (m.t === 'state' && !down && validId(m.id) && validPid(m.pid) && (member === undefined || member.id === m.id)) {
        const snap = validate().cleanSnapshot(m.snap, this.schema(), this.hooks.maxPeers());
        if (snap === undefined) return refused(socket, "a state that is not resetwatch's");
        if (member === undefined) {
          member = find(m.id, m.pid);
          if (member === undefined) return refused(socket, 'too many members');
          member.socket = socket;
        }
        member.replica.set(snap);
        member.stated = true;
        this.inheritance?.members.delete(member.id);
        if (this.pushed.size < 4096) this.pushed.add(member.id);
        if (typeof m.n === 'number') {
          // Pulls are coalesced by the member: its answer to the latest one answers every earlier one.
          for (const [n, done] of [...member.waiting]) if (n <= m.n) done();
        }
      } else if (m.t === 'offer' && !down && member !== undefined && !offered) {
        offered = true;
        this.inherited = this.inherited.then(() => this.adopt(m)).catch((err: unknown) => reportFailure('family.adopt', err));
      } else if (m.t === 'samples' && !down && member !== undefined) {
        addItems(member.replica, m.items);
        const c = connections(m.conns);
        if (c !== undefined) member.replica.addConnections(c);
      } else {
        refused(socket, `an unexpected '${String(m.t).slice(0, 16)}' message`);
      }
    });
    socket.on('close', () =>
      guard('family.left', () => {
        if (member === undefined) return;
        if (down) {
          if (member.down === socket) member.down = undefined;
          return;
        }
        if (member.socket !== socket) return;
        diag('debug', `family: member ${member.id} left`);
        member.socket = undefined;
        member.down?.destroy();
        member.down = undefined;
        for (const done of member.waiting.values()) done();
        this.members.delete(member.id);
        this.departed.push(member);
        this.trimDeparted();
        this.scheduleLegacy();
      }),
    );
  }

  private cachedSchema: Schema | undefined;
  private schema(): Schema {
    this.cachedSchema ??= this.hooks.schema();
    return this.cachedSchema;
  }

  /** Bounded: beyond MAX_MEMBERS members and departed ones, the oldest departed join `retired`. */
  private trimDeparted(): void {
    const over = this.members.size + this.departed.length - MAX_MEMBERS;
    if (over <= 0 || this.departed.length === 0) return;
    const oldest = this.departed.splice(0, Math.min(over, this.departed.length));
    this.folding = this.folding
      .then(async () => {
        const parts: Snapshot[] = this.retired === undefined ? [] : [this.retired];
        for (const m of oldest) parts.push(...(await m.replica.parts()));
        this.retired = await this.hooks.combine(parts);
      })
      .catch((err: unknown) => reportFailure('family.retire', err));
  }

  lone(): boolean {
    // A takeover (hadLeader) may be adopting a hand-over: inheritance is set only once it is parsed.
    return this.role !== 'leader' || (!this.hadLeader && !this.hadMembers && this.inheritance === undefined && this.retired === undefined);
  }

  async collect(own: Snapshot): Promise<Snapshot & { family: number }> {
    if (this.role !== 'leader') return { ...own, family: 1 };
    await this.inherited;
    await Promise.all([...this.members.values()].map((m) => this.pull(m)));
    await this.folding;
    await this.foldDeparted();
    const parts = [own, ...this.inheritedParts()];
    if (this.retired !== undefined) parts.push(this.retired);
    for (const m of [...this.members.values(), ...this.departed]) parts.push(...(await m.replica.parts()));
    const family = this.members.size + 1;
    const sum = await this.hooks.sum(parts);
    // The hand-over goes out before the scrape is answered: whatever a scrape has shown, the
    // members already hold, so a leader that exits right after a scrape never takes counts with it.
    if (this.legacyTimer !== undefined) clearTimeout(this.legacyTimer);
    this.legacyTimer = undefined;
    this.lastLegacy = NodeDate.now();
    this.sendLegacy();
    await this.chain;
    return { ...sum, family };
  }

  private pull(m: Member): Promise<void> {
    return new Promise((resolve) => {
      const socket = m.down;
      if (socket === undefined || m.socket === undefined) return resolve();
      const n = this.nextPull++;
      const done = () => {
        clearTimeout(timer);
        m.waiting.delete(n);
        resolve();
      };
      const timer = setTimeout(done, PULL_TIMEOUT_MS);
      timer.unref();
      m.waiting.set(n, done);
      if (!send(socket, `${JSON.stringify({ t: 'pull', n })}\n`)) done();
    });
  }

  /** Departed members whose process is gone join the retired sum (kept apart until then: a live one may rejoin). */
  private async foldDeparted(): Promise<void> {
    const gone = this.departed.filter((m) => !alive(m.pid));
    if (gone.length === 0) return;
    this.departed = this.departed.filter((m) => !gone.includes(m));
    const parts: Snapshot[] = this.retired === undefined ? [] : [this.retired];
    for (const m of gone) parts.push(...(await m.replica.parts()));
    this.retired = await this.hooks.combine(parts);
  }

  /** Hands the members what they need to carry on if this process exits: at most every 250 ms. */
  private scheduleLegacy(): void {
    if (this.legacyTimer !== undefined || this.role !== 'leader') return;
    const wait = Math.max(0, this.lastLegacy + LEGACY_INTERVAL_MS - NodeDate.now());
    this.legacyTimer = setTimeout(
      () =>
        guard('family.legacy', () => {
          this.legacyTimer = undefined;
          this.lastLegacy = NodeDate.now();
          this.sendLegacy();
        }),
      wait,
    );
    this.legacyTimer.unref();
  }

  private sendLegacy(): void {
    this.chain = this.chain.then(async () => {
      if (this.role !== 'leader' || this.members.size === 0) return;
      this.capturing++;
      this.queue = [];
      this.ownLines = [];
      this.ownBytes = 0;
      try {
        await this.inherited;
        const own = await this.hooks.own();
        await this.folding;
        await this.foldDeparted();
        const parts = [own, ...(this.inheritance?.parts ?? [])];
        if (this.retired !== undefined) parts.push(this.retired);
        for (const m of this.departed) parts.push(...(await m.replica.parts()));
        const snap = await this.hooks.combine(parts);
        // Each live member's last-known part, by id: a new leader serves it until that member
        // pushes again, so its counts do not dip meanwhile. Bounded by bytes (a line is ≤ MAX_LINE).
        const members: Record<string, Snapshot> = {};
        let bytes = 0;
        const known: [string, Snapshot][] = [];
        for (const m of this.members.values()) if (m.stated) known.push([m.id, await this.hooks.combine(await m.replica.parts())]);
        for (const entry of this.inheritance?.members ?? []) known.push(entry);
        for (const [id, part] of known) {
          const size = JSON.stringify(part).length;
          if (bytes + size > MAX_HANDOVER_MEMBERS) continue;
          bytes += size;
          members[id] = part;
        }
        const line = `${JSON.stringify({ t: 'legacy', from: this.id, term: this.term, seq: ++this.legacySeq, snap, members })}\n`;
        this.lastLegacyLine = line;
        diag('debug', `family: hand-over ${this.legacySeq} to ${this.members.size} members`);
        for (const m of this.members.values()) if (m.down !== undefined) send(m.down, line);
      } catch (err) {
        reportFailure('family.legacy', err);
      } finally {
        this.capturing--;
        this.flush();
      }
    });
  }

  stop(): void {
    this.role = 'stopped';
    if (this.legacyTimer !== undefined) clearTimeout(this.legacyTimer);
    this.server?.close();
    for (const m of this.members.values()) {
      m.socket?.destroy();
      m.down?.destroy();
    }
    this.leaderSocket?.destroy();
    this.leaderDown?.destroy();
    this.stopServe?.();
    this.stopServe = undefined;
  }
}

let refusedOnce = false;

/** A message from another process that is not resetwatch's: dropped, counted, said once, connection closed. */
function refused(socket: net.Socket, what: string): void {
  stats.agentErrors++;
  if (!refusedOnce) {
    refusedOnce = true;
    diag('warn', `process family: dropped ${what} from another local process (counted in resetwatch_agent_errors_total; said once).`);
  }
  socket.destroy();
}

function parse(line: string): Message | undefined {
  try {
    const m = JSON.parse(line) as unknown;
    return m !== null && typeof m === 'object' && typeof (m as { t?: unknown }).t === 'string' ? (m as Message) : undefined;
  } catch {
    return undefined;
  }
}

function validId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= 64;
}

function validPid(pid: unknown): pid is number {
  return Number.isSafeInteger(pid) && (pid as number) > 0;
}

/** Writes unless too much is already waiting for a peer that does not read. */
function send(socket: net.Socket, line: string, resets = 0): boolean {
  if (socket.destroyed || socket.writableLength > MAX_BUFFERED) return false;
  socket.write(line);
  if (socket.writableLength > 0) watchPending(socket, resets);
  return true;
}

// A write still pending keeps the event loop alive, unref'd socket or not (libuv's write request
// is active). A peer that does not read (a leader blocked in execFileSync on this very process, a
// stuck one) would then keep this process alive for good. While writes are pending, an unref'd
// timer looks at what else keeps the loop alive: once nothing but these writes has for
// EXIT_GRACE_MS (the loop would end without them), the socket is destroyed and its resets counted
// as dropped. Bounded like the OpenTelemetry exit flush (≤ 1 s); no process listener is added.
const EXIT_GRACE_MS = 800;
const PENDING_CHECK_MS = 200;
const kPending = Symbol('resetwatch.family.pending');

interface Pending {
  /** Resets sent on this socket since it last had nothing pending. */
  resets: number;
  /** Since when nothing but these writes keeps the loop alive. */
  onlyOursSince: number | undefined;
  timer: ReturnType<typeof setInterval>;
}

type Watched = net.Socket & { [kPending]?: Pending; _handle?: unknown };

/** Sockets with writes pending (at most the family's own: a leader's members, a member's two). */
const watched = new Set<Watched>();

function watchPending(socket: Watched, resets: number): void {
  let p = socket[kPending];
  if (p === undefined) {
    const timer = setInterval(() => guard('family.pending', checkPending, socket), PENDING_CHECK_MS);
    timer.unref();
    p = { resets: 0, onlyOursSince: undefined, timer };
    socket[kPending] = p;
    watched.add(socket);
  }
  p.resets += resets;
}

function unwatch(socket: Watched, p: Pending): void {
  clearInterval(p.timer);
  socket[kPending] = undefined;
  watched.delete(socket);
}

function checkPending(socket: Watched): void {
  const p = socket[kPending];
  if (p === undefined) return;
  if (socket.destroyed || socket.writableLength === 0) {
    unwatch(socket, p);
    return;
  }
  if (!onlyOurWritesAlive()) {
    p.onlyOursSince = undefined;
    return;
  }
  const now = NodeDate.now();
  p.onlyOursSince ??= now;
  if (now - p.onlyOursSince < EXIT_GRACE_MS) return;
  unwatch(socket, p);
  if (p.resets > 0) countDropped('prometheus', p.resets);
  socket.destroy();
}

interface Internals {
  _getActiveRequests?: () => { handle?: unknown }[];
  _getActiveHandles?: () => { _handle?: { fd?: number; reading?: boolean } | null }[];
}

/**
 * Nothing keeps the event loop alive but write requests on the family's sockets: no ref'd timer or
 * immediate, no other request, no ref'd handle but stdout, stderr or a stdin not being read (Node
 * lists those ref'd, yet idle they keep nothing alive). Unsure (no such lists): false.
 */
function onlyOurWritesAlive(): boolean {
  const p = process as Internals;
  if (typeof p._getActiveRequests !== 'function' || typeof p._getActiveHandles !== 'function') return false;
  const info = process.getActiveResourcesInfo();
  if (info.includes('Timeout') || info.includes('Immediate')) return false;
  for (const h of p._getActiveHandles()) {
    const fd = h?._handle?.fd;
    if (!(fd === 1 || fd === 2 || (fd === 0 && h._handle?.reading !== true))) return false;
  }
  for (const r of p._getActiveRequests()) {
    let ours = false;
    for (const s of watched) if (s._handle !== undefined && s._handle === r?.handle) ours = true;
    if (!ours) return false;
  }
  return true;
}

/** Calls `fn` for each newline-terminated line; a line over MAX_LINE closes the socket. */
function readLines(socket: net.Socket, fn: (line: string) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) =>
    guard('family.read', () => {
      let from = buf.length;
      buf += chunk;
      for (let i = buf.indexOf('\n', from); i !== -1; i = buf.indexOf('\n', from)) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        from = 0;
        if (line !== '') guard('family.message', fn, line);
      }
      if (buf.length > MAX_LINE) socket.destroy();
    }),
  );
}

/** The message type, without parsing a large line the receiver may only store. */
function peekType(line: string): string | undefined {
  return /^\{"t":"(\w+)"/.exec(line.slice(0, 16))?.[1];
}

function isSnapshot(s: unknown): s is Snapshot {
  const o = s as Snapshot | null;
  return o !== null && typeof o === 'object' && Array.isArray(o.metrics) && Array.isArray(o.recent);
}

/** Resets from another process: only well-formed ones (label values from the closed sets). */
function addItems(replica: Replica, items: unknown): void {
  if (!Array.isArray(items) || items.length > 20000) return;
  for (const item of items) {
    if (!Array.isArray(item)) continue;
    const [s, rec] = item as [unknown, unknown];
    const clean = validate().cleanSample(s);
    if (clean === undefined) continue;
    replica.add(clean, rec === null || rec === undefined ? undefined : validate().cleanRecord(rec));
  }
}

function minus(a: Connections, b: Connections): Connections {
  const out = {} as Connections;
  for (const d of DIRECTIONS) out[d] = { tls: a[d].tls - b[d].tls, plain: a[d].plain - b[d].plain };
  return out;
}

/** Connection deltas from another process: non-negative integers, or nothing. */
function connections(c: unknown): Connections | undefined {
  if (c === null || typeof c !== 'object') return undefined;
  const out = {} as Connections;
  for (const d of DIRECTIONS) {
    const v = (c as Connections)[d];
    if (v === null || typeof v !== 'object' || !Number.isSafeInteger(v.tls) || !Number.isSafeInteger(v.plain) || v.tls < 0 || v.plain < 0)
      return undefined;
    out[d] = { tls: v.tls, plain: v.plain };
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
