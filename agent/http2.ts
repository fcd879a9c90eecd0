// HTTP/2: an Http2Session owns the socket and multiplexes streams over it, so a reset or a FIN on
// the socket ends every stream in flight at once (gRPC reports "14 UNAVAILABLE: Connection
// dropped"; a plain http2 stream just closes with NGHTTP2_CANCEL, with no 'error' and no
// 'aborted'). Node keeps the session on the socket under its kBoundSession key, which
// node:internal/stream_base_commons does not export (checked on Node 20–26): the key is therefore
// the string 'undefined'. One property read per socket end is all this costs on the way out;
// everything else (the session's stream table, the streams' headers) is read only for a socket
// that is ending with streams in flight.
import type { Sock } from './internal-types';

/** An Http2Session (ClientHttp2Session or ServerHttp2Session): only its private state is read. */
type SessionLike = object;
/** What we read of a stream: the headers it sent (a client's request, a server's response). */
interface StreamLike {
  sentHeaders?: Record<string, unknown>;
}
/** Node's SafeMap/SafeSet: Map and Set methods, but not `instanceof` them. */
interface SessionTable {
  streams?: { size: number; values(): Iterable<StreamLike> };
  pendingStreams?: { size: number };
}

/** The Http2Session bound to this socket, or undefined (not HTTP/2, or the session already let go). */
export function sessionOf(socket: Sock): SessionLike | undefined {
  const session = (socket as unknown as { undefined?: unknown }).undefined;
  return session !== null &&
    typeof session === 'object' &&
    (session as { constructor?: { name?: string } }).constructor?.name?.endsWith('Http2Session')
    ? (session as SessionLike)
    : undefined;
}

/** The streams of a session: Node keeps them in the session's private state (`Symbol('state')`). */
function tableOf(session: SessionLike): SessionTable | undefined {
  for (const sym of Object.getOwnPropertySymbols(session)) {
    if (sym.description !== 'state') continue;
    const table = (session as Record<symbol, unknown>)[sym];
    if (table !== null && typeof table === 'object' && typeof (table as SessionTable).streams?.size === 'number')
      return table as SessionTable;
  }
  return undefined;
}

/** Streams open or waiting to open on the session; undefined when Node's table is not where we look. */
export function streamsInFlight(session: SessionLike): number | undefined {
  const table = tableOf(session);
  if (table === undefined) return undefined;
  return (table.streams?.size ?? 0) + (table.pendingStreams?.size ?? 0);
}

/**
 * `grpc` when a stream in flight is a gRPC call: its headers say `content-type: application/grpc`
 * (or `application/grpc+proto`, ...). A client stream carries the request headers it sent, a server
 * stream the response headers once it responded (a server stream that has not responded yet
 * cannot tell, and reads as `h2`). At most the first 16 streams are looked at.
 */
export function sessionProtocol(session: SessionLike): 'grpc' | 'h2' {
  const table = tableOf(session);
  let n = 0;
  for (const stream of table?.streams?.values() ?? []) {
    const type = stream.sentHeaders?.['content-type'];
    if (typeof type === 'string' && type.startsWith('application/grpc')) return 'grpc';
    if (++n >= 16) break;
  }
  return 'h2';
}
