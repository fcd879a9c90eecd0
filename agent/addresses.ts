// A socket's addresses as its getters (`remoteAddress`, `remotePort`, `localAddress`, `localPort`)
// would read them now — but without what the getters also do: Node's `_getsockname()` and
// `_getpeername()` allocate an object per call and cache it on the socket (`_sockname`,
// `_peername`), and an app that never read an address would then find one after the close (its
// 'close' listener, a logger) that it does not find without the agent. So the handle is asked
// here, into one reused object whose fields are copied out at once.
// This end's address (getsockname) is read only when asked: a syscall and two strings per reset that
// most events under a storm never show (agent/bus.ts needsLocal). Node's cache, if the app filled
// it, is used either way.
import type { AddressSnapshot } from './internal-types';

type AddressInfo = { address?: string; family?: string; port?: number };
type NameHandle = { getsockname?: (out: AddressInfo) => number; getpeername?: (out: AddressInfo) => number };
export type AddressInternals = {
  _peername?: AddressInfo | null;
  _sockname?: AddressInfo | null;
  _handle?: NameHandle | null;
  connecting?: boolean;
};

/** What the handle fills in, reused for every read. */
const scratch: AddressInfo = { address: undefined, family: undefined, port: undefined };

/** The handle's getsockname/getpeername into `scratch`: false when it has none or the call failed. */
function readName(handle: NameHandle, peer: boolean): boolean {
  const read = peer ? handle.getpeername : handle.getsockname;
  if (typeof read !== 'function') return false;
  scratch.address = undefined;
  scratch.port = undefined;
  return read.call(handle, scratch) === 0 && scratch.address !== undefined;
}

/** getpeername's errno (0: the peer is known), into a reused object. */
export function peerError(handle: NameHandle): number {
  return typeof handle.getpeername === 'function' ? handle.getpeername(scratch) : 0;
}

/**
 * Fills `into` with what the getters would read now. `askPeer` false: only a peer Node already
 * cached (after a kernel-reported error the kernel has forgotten the peer: asking would cost a
 * failing syscall). `askLocal` false: only a local address Node already cached.
 */
export function readAddresses(socket: object, askPeer: boolean, askLocal: boolean, into: AddressSnapshot): AddressSnapshot {
  const s = socket as AddressInternals;
  const handle = s._handle;
  into.remoteAddress = undefined;
  into.remotePort = undefined;
  into.localAddress = undefined;
  into.localPort = undefined;
  const peer = s._peername;
  if (peer != null) {
    into.remoteAddress = peer.address;
    into.remotePort = peer.port;
  } else if (askPeer && handle != null && !s.connecting && readName(handle, true)) {
    into.remoteAddress = scratch.address;
    into.remotePort = scratch.port;
  }
  if (handle == null) return into; // as _getsockname(): nothing once the handle is gone
  const local = s._sockname;
  if (local != null) {
    into.localAddress = local.address;
    into.localPort = local.port;
  } else if (askLocal && readName(handle, false)) {
    into.localAddress = scratch.address;
    into.localPort = scratch.port;
  }
  return into;
}

/**
 * A TLS server connection's server name: what the client asked for in its hello (SNI), which says
 * which of the server's virtual hosts it meant. Node sets `servername` once the handshake is done;
 * before that (a reset mid-handshake) only the handle knows it, once the hello has arrived.
 */
export function serverNameOf(socket: object): string | undefined {
  const s = socket as { servername?: unknown; _handle?: { getServername?: () => unknown } | null };
  const name = typeof s.servername === 'string' ? s.servername : s._handle?.getServername?.();
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** A TLS connection's protocol version (`TLSv1.3`), once its handshake is done; read while its handle is open. */
export function tlsVersionOf(socket: object): string | undefined {
  const s = socket as { _secureEstablished?: boolean; getProtocol?: () => string | null };
  if (s._secureEstablished !== true || typeof s.getProtocol !== 'function') return undefined;
  return s.getProtocol() ?? undefined;
}
