// The read libuv 1.52 makes and libuv before it does not (docs/hidden-rst.md): after a partial read
// with the peer hung up, libuv before 1.52 reports an end of input; 1.52 reads once more, and the
// kernel answers that read with the end (0 bytes) after a FIN, an RST after it included (its
// SOCK_DONE comes first), and with its pending error after a bare RST (ECONNRESET). getpeername
// only says the connection is gone (TCP_CLOSE), after either. This module makes that one read
// itself, on the socket's descriptor: fs.readSync, a read(2) of one byte, synchronous.
// - Only for a connection getpeername found gone (classify.ts noteResetBehindEnd), whose end of
//   input Node has read: the partial read drained what had come, and a closed connection takes no
//   more, so the read takes none of the app's bytes; and in TCP_CLOSE the kernel answers at once.
// - A read never raises a signal (a write that fails with EPIPE raises SIGPIPE, which an app that
//   ever listened for it, or a native module, may not ignore), and the error is the kernel's own.
// - Linux only: BSD kernels (macOS) report the pending error before the end, and other platforms
//   have no such descriptor.
import * as fs from 'node:fs';

type FdHandle = { fd?: number; _parent?: FdHandle };

// Taken when this module loads (with classify.ts, at the first socket that ends): an app that
// wraps fs later (a tracer's fs instrumentation) does not see the agent's read.
const readSync = fs.readSync;
const scratch = Buffer.alloc(1);
const LINUX = process.platform === 'linux';

/**
 * What the next read of a gone connection returns: '' for the end of input (a FIN came first), the
 * error code of its pending error (ECONNRESET: an RST with no FIN before it), or undefined where
 * it cannot be asked (not Linux, no descriptor) or returned bytes.
 */
export function nextRead(handle: object): string | undefined {
  if (!LINUX) return undefined;
  // A TLS socket's handle is the TLS layer's; its TCP handle is the one below.
  const own = handle as FdHandle;
  const fd = typeof own.fd === 'number' && own.fd >= 0 ? own.fd : own._parent?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return readSync(fd, scratch, 0, 1, null) === 0 ? '' : undefined;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
}
