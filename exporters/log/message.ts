// The `msg` of a reset log line: what an on-call engineer reads first in a log viewer, where the
// structured fields are a click away. It starts with the fixed `connection reset: <direction>
// <phase> <error.type>` (log queries and alerts match on it), then says in words what the fields
// hold: the request, who the peer was, how far the bytes got, the connection's age and idle time,
// whether a retry is safe, the hint's id, and whether the app is about to crash with the error. Built only for a line that is written (rate-limited).
import type { ResetEvent } from '../../agent/types';
import { caughtAtProcess } from '../../agent/bus';

/** `840 ms`, `1.8 s`, `12 min`: durations as a person reads them (the fields keep seconds). */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** `143 B`, `1.2 KiB`, `3.4 MiB`. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

const hostPort = (host: string, port: number | undefined) =>
  port === undefined ? host : host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

/** Who the other end was: the client side names what it dialled and the address it reached. */
function peer(e: ResetEvent): string | undefined {
  if (e.direction === 'server') {
    // Which of the app's listeners, and the client when its address was read (RESETWATCH_SERVER_PEERS).
    // And over TLS the virtual host the client asked for (SNI).
    const words = [
      e.peerAddress === undefined ? undefined : `from ${hostPort(e.peerAddress, e.peerPort)}`,
      e.localPort === undefined ? undefined : `on port ${e.localPort}`,
      e.serverAddress === undefined ? undefined : `for ${e.serverAddress} (SNI)`,
    ].filter((w) => w !== undefined);
    return words.length === 0 ? undefined : words.join(' ');
  }
  if (e.serverAddress === undefined) return e.peerAddress === undefined ? undefined : `to ${hostPort(e.peerAddress, e.peerPort)}`;
  const dialled = `to ${hostPort(e.serverAddress, e.serverPort)}`;
  return e.peerAddress === undefined || e.peerAddress === e.serverAddress ? dialled : `${dialled} (${e.peerAddress})`;
}

export function logMessage(e: ResetEvent): string {
  const parts: string[] = [];
  const what: string[] = [];
  if (e.protocol !== undefined && e.protocol !== '' && e.protocol !== 'unknown') what.push(e.protocol);
  // The request as its target reads: `GET api.example.com/orders/17` (RESETWATCH_REQUEST_PATHS),
  // `GET api.example.com/orders/:id` (the route matched), `GET /orders/17` with no Host.
  const r = e.request;
  if (r !== undefined) what.push(`${r.method} ${r.host ?? ''}${r.path ?? r.route ?? ''}`.trimEnd());
  const who = peer(e);
  if (who !== undefined) what.push(who);
  if (what.length !== 0) parts.push(what.join(' '));
  parts.push(`${size(e.bytesReceived)} read, ${size(e.bytesSent)} written`);
  const times = [`connection ${duration(e.connectionAgeMs)} old`];
  // None for an HTTP/2 session's connection: it reads and writes its socket natively (README).
  if (e.idleMs !== undefined) times.push(`idle ${duration(e.idleMs)}`);
  if (e.request?.ageMs !== undefined) times.push(`request ${duration(e.request.ageMs)} old`);
  if (e.idleBeforeReuseMs !== undefined) times.push(`pooled ${duration(e.idleBeforeReuseMs)} before reuse`);
  parts.push(times.join(', '));
  if (e.streamsInFlight !== undefined) parts.push(`${e.streamsInFlight} streams in flight`);
  parts.push(`retry ${e.retry}`);
  if (e.hint !== undefined) parts.push(`hint ${e.hint.id}`);
  // An 'uncaughtException' handler decides instead of Node: it most often logs and exits; test
  // runners and some apps carry on.
  if (e.fatal)
    parts.push(
      caughtAtProcess() ? "unhandled: passed to the process's uncaught-exception handler" : 'unhandled: the app is about to crash with it',
    );
  return `connection reset: ${e.direction} ${e.phase} ${e.errorType}: ${parts.join('; ')}`;
}
