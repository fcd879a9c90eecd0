// The kernel's pending error on a connection whose end of input Node has read but whose close has
// not begun (libuv before 1.52 can hide an RST behind the last bytes: docs/hidden-rst.md).
// getpeername says the connection is gone, not how: after a bare RST the pending error is
// ECONNRESET; after a FIN, then the RST that this side's later write drew from the peer's kernel, it
// is EPIPE (Linux tcp_reset: an RST in CLOSE_WAIT). libuv 1.52 reads on and reports exactly this
// (the first ECONNRESET, the FIN before the second). Nothing in Node reads it. A zero-length write
// on the TCP handle does: the kernel reports and clears the pending error before it looks at the
// data, and sends nothing. One syscall, asked only where the end of input cannot tell (classify.ts
// noteResetBehindEnd).
// - Synchronous only. libuv tries the write at once and returns its error, or success for nothing
//   written; a write it would queue behind bytes still queued needs Node's own write request, so
//   the question is not asked while the handle has any (writeQueueSize).
// - SIGPIPE: a write failing with EPIPE raises it. Node ignores it (SIG_IGN) unless the app listens
//   (process.on('SIGPIPE')), and then the question is not asked; nor in a worker thread, whose
//   `process` does not show the main thread's listeners.
// - The TCP handle only: a TLS socket's own handle would encrypt the write; its TCP handle is the
//   one below (`_parent`). Anything else (a pipe, a JS stream) is not asked.
import { constants as osConstants } from 'node:os';
import { isMainThread } from 'node:worker_threads';

type TcpHandle = {
  constructor?: { name?: string };
  writeQueueSize?: number;
  writeLatin1String?: (req: object, data: string) => number;
  _parent?: TcpHandle;
};

const ECONNRESET = -osConstants.errno.ECONNRESET;
/** The write request libuv never keeps (the write is tried at once and never queued). */
const noRequest = {};

/** True when the connection's pending error is ECONNRESET: an RST came with no FIN before it. */
export function resetPending(handle: object): boolean {
  const own = handle as TcpHandle;
  const tcp = own.constructor?.name === 'TCP' ? own : own._parent;
  if (tcp?.constructor?.name !== 'TCP' || tcp.writeQueueSize !== 0 || typeof tcp.writeLatin1String !== 'function') return false;
  if (!isMainThread || process.listenerCount('SIGPIPE') !== 0) return false;
  return tcp.writeLatin1String(noRequest, '') === ECONNRESET;
}
