// The peer of a reset, as every output that labels by peer sees it, and RESETWATCH_MAX_PEERS: one
// key (peerOf) and one admission rule for all of them, so under the limit the Prometheus label and
// the OpenTelemetry attributes admit the same peers. The first `max` distinct peers are admitted
// for good (never evicted, so every series stays monotonic); the rest fold into `_OTHER`, which
// the caller counts. peerParts() turns the key into the attributes both outputs carry.
import { FOLDED_PEER } from '../../agent/contract';
import type { Direction, ResetEvent } from '../../agent/types';

export const OTHER_PEER = FOLDED_PEER;

/** Longest peer value: a DNS name (253) plus `:port`. */
const MAX_PEER_LENGTH = 260;

/**
 * The raw (unfolded, length-bounded) peer of an event: `host:port` (`[v6]:port`) of what a client
 * dialled, the remote address of a server-side connection when server peers are on, else ''.
 */
export function peerOf(e: ResetEvent, withServerPeers: boolean): string {
  if (e.direction === 'client') {
    const host = e.serverAddress ?? e.peerAddress;
    const port = e.serverAddress !== undefined ? e.serverPort : e.peerPort;
    return host !== undefined && host !== '' ? clientPeer(host, port) : '';
  }
  return withServerPeers && e.peerAddress !== undefined ? bound(e.peerAddress) : '';
}

/**
 * Client peer keys already built, by host then port: both metric outputs ask for the peer of every
 * reset, and a client reconnects to the same few peers, so the string is built (and its hash
 * computed, by the first Map that looks it up) once. Bounded: PEER_CACHE_MAX keys, hosts no longer
 * than a peer key; past that a key is built each time, as before.
 */
const PEER_CACHE_MAX = 1024;
const peerKeys = new Map<string, Map<number | undefined, string>>();
let peerKeyCount = 0;

function clientPeer(host: string, port: number | undefined): string {
  const byPort = peerKeys.get(host);
  const known = byPort?.get(port);
  if (known !== undefined) return known;
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const value = bound(port !== undefined ? `${h}:${port}` : h);
  if (peerKeyCount < PEER_CACHE_MAX && host.length <= MAX_PEER_LENGTH) {
    if (byPort === undefined) peerKeys.set(host, new Map([[port, value]]));
    else byPort.set(port, value);
    peerKeyCount++;
  }
  return value;
}

/**
 * A (possibly folded) peer key as the metrics carry it: client resets `server.address` (+
 * `server.port`), server resets `client.address` (docs/attributes.md). Undefined for ''.
 */
export interface PeerParts {
  serverAddress?: string;
  serverPort?: string;
  clientAddress?: string;
}

export function peerParts(direction: Direction, peer: string): PeerParts | undefined {
  if (peer === '') return undefined;
  if (direction === 'server') return { clientAddress: peer };
  if (peer === OTHER_PEER) return { serverAddress: peer };
  // `[v6]:port`, `[v6]`, `host:port` or `host` (peerOf brackets every host with a colon)
  let host = peer;
  let port: string | undefined;
  if (peer.startsWith('[')) {
    const end = peer.indexOf(']');
    if (end > 0) {
      host = peer.slice(1, end);
      if (peer[end + 1] === ':') port = peer.slice(end + 2);
    }
  } else {
    const colon = peer.lastIndexOf(':');
    if (colon > 0) {
      host = peer.slice(0, colon);
      port = peer.slice(colon + 1);
    }
  }
  return port !== undefined && port !== '' ? { serverAddress: host, serverPort: port } : { serverAddress: host };
}

function bound(value: string): string {
  let v = value.length > MAX_PEER_LENGTH ? value.slice(0, MAX_PEER_LENGTH) : value;
  const s = v as string & { toWellFormed?: () => string };
  if (typeof s.toWellFormed === 'function') v = s.toWellFormed();
  return v;
}

export class PeerLimiter {
  private readonly seen = new Set<string>();
  /** Settable: the Prometheus exporter's limiter outlives a stop/start with a new config. */
  constructor(public max: number) {}

  /** True when `peer` is (or now becomes) one of the admitted peers. */
  admit(peer: string): boolean {
    if (this.seen.has(peer)) return true;
    if (this.seen.size >= this.max) return false;
    this.seen.add(peer);
    return true;
  }

  /** The value to label with: the peer itself ('' stays ''), or OTHER_PEER once the limit is reached. */
  label(peer: string): string {
    return peer === '' || this.admit(peer) ? peer : OTHER_PEER;
  }
}
