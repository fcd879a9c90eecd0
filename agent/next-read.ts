// The read libuv 1.52 makes and libuv before it does not (docs/hidden-rst.md): after a partial read
// with the peer hung up, libuv before 1.52 reports an end of input; 1.52 reads once more, and the
// kernel answers that read with the end (0 bytes) after a FIN, an RST after it included (its
// SOCK_DONE comes first), and with its pending error after a bare RST (ECONNRESET). getpeername
// only says the connection is gone (TCP_CLOSE), after either. This module makes that one read
// itself, on the socket's descriptor: fs.readSync, a read(2) of one byte, synchronous.
// - Only for a connection getpeername found gone (classify.ts noteResetBehindEnd), whose end of
//   input Node has read: the partial read drained what had come, and a closed connection takes no
//   more, so the read finds nothing of the app's (but for bytes after an urgent byte, where the
//   kernel's read stops: Node never reads them either; such an answer is no answer here); and in
//   TCP_CLOSE the kernel answers at once.
// - A read raises no signal; but it takes the pending error, and a write after it then fails with
//   EPIPE, which raises SIGPIPE (Node ignores it only until an app listens for it; an app that
//   listened and stopped dies of it). Node writes nothing on a plain TCP socket after this point
//   (its shutdown fails with ENOTCONN either way), but a TLS socket's end writes its close_notify:
//   TLS sockets are not asked.
// - Linux only: BSD kernels (macOS) report the pending error before the end, and other platforms
//   have no such descriptor.
import * as fs from 'node:fs';
import { READ_AGAIN, SAME_STEP } from './internal-types';

type FdHandle = { fd?: unknown; constructor?: { name?: string } };

// Taken when this module loads, with the hooks (hooks/destroy.ts imports it for this): an app
// that wraps fs later (a tracer's fs instrumentation) does not see the agent's read.
const readSync = fs.readSync;
const scratch = Buffer.alloc(1);
const LINUX = process.platform === 'linux';

const [UV_MAJOR, UV_MINOR] = process.versions.uv.split('.').map(Number);
/** libuv reads on to an RST behind the last bytes from 1.52 (Node 24): no end of input hides one. */
export const UV_HIDES_RST = UV_MAJOR === 1 && UV_MINOR < 52;

/**
 * An end of input that may hide an RST: read again after bytes, in the clock step of the bytes
 * before it (hooks/activity.ts), on a libuv that hides an RST there; the kernel is asked next
 * (classify.ts noteResetBehindEnd).
 */
export const endMayHideReset = (f: number): boolean => UV_HIDES_RST && (f & (READ_AGAIN | SAME_STEP)) === (READ_AGAIN | SAME_STEP);

/**
 * What the next read of a gone connection returns: '' for the end of input (a FIN came first), the
 * error code of its pending error (ECONNRESET: an RST with no FIN before it), or undefined where
 * it is not asked (not Linux; a TLS socket) or found bytes.
 */
export function nextRead(handle: object): string | undefined {
  // A TLS socket's handle (TLSWrap) shows its TCP handle's descriptor too: only a plain TCP handle.
  const own = handle as FdHandle;
  if (!LINUX || own.constructor?.name !== 'TCP') return undefined;
  const fd = own.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return readSync(fd, scratch, 0, 1, null) === 0 ? '' : undefined;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
}
