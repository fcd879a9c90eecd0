// The peer as Prometheus labels: a peer key (exporters/shared/peers.ts) becomes `server_address`
// + `server_port` (client resets) or `client_address` (server resets), the translated names of
// the OpenTelemetry attributes, and back again for folding over sums (./render.ts, ./cluster.ts).
import { LABELS } from '../../agent/contract';
import type { Direction } from '../../agent/types';
import { OTHER_PEER, peerParts } from '../shared/peers';

/** `labels` with the peer labels of `peer` (replacing any there were). */
export function withPeer(labels: Record<string, string>, direction: Direction, peer: string): Record<string, string> {
  delete labels[LABELS.serverAddress];
  delete labels[LABELS.serverPort];
  delete labels[LABELS.clientAddress];
  const p = peerParts(direction, peer);
  if (p?.serverAddress !== undefined) labels[LABELS.serverAddress] = p.serverAddress;
  if (p?.serverPort !== undefined) labels[LABELS.serverPort] = p.serverPort;
  if (p?.clientAddress !== undefined) labels[LABELS.clientAddress] = p.clientAddress;
  return labels;
}

/** The peer key of a reset series' labels, back from withPeer: '' when it has none. */
export function peerOfLabels(labels: Record<string, unknown>): string {
  const client = labels[LABELS.clientAddress];
  if (typeof client === 'string') return client;
  const host = labels[LABELS.serverAddress];
  if (typeof host !== 'string') return '';
  const port = labels[LABELS.serverPort];
  if (host === OTHER_PEER) return host;
  const h = host.includes(':') ? `[${host}]` : host;
  return typeof port === 'string' && port !== '' ? `${h}:${port}` : h;
}

/** The direction a reset series' peer labels belong to. */
export function directionOfLabels(labels: Record<string, unknown>): Direction {
  return labels[LABELS.clientAddress] !== undefined ? 'server' : 'client';
}
