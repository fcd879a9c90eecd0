// What the read returned that made Node's keep-alive pool destroy an idle socket without an error.
// Node 22, 24 and 26 (the fix for response-queue poisoning, hackerone 3582376) make
// `freeSocketOnReadGuard` an idle pooled socket's `handle.onread`: any read result, data or an
// errno, destroys the socket with no error, so the agent's errorMonitor never hears an RST, a
// local abort (`ss -K`, a CNI's SOCK_DESTROY) or a keep-alive probe's timeout there. The result is
// still in stream_wrap's shared state (`streamBaseState[kReadBytesOrError]`) while that destroy
// runs. `process.binding` is the only way to read it: not asked where it would print DEP0111
// (pending deprecation, however it was turned on) or is refused (the permission model). Then the
// errno is unknown. It is process-wide: read only while the guard is the handle's reader.
import { getSystemErrorName } from 'node:util';

type StreamWrap = { streamBaseState?: Int32Array; kReadBytesOrError?: number };
type GuardedHandle = { onread?: { name?: string } };

let state: Int32Array | undefined;
let index = 0;
let asked = false;

/**
 * Under pending deprecation (a flag in any spelling, NODE_PENDING_DEPRECATION, a config file) Node
 * replaces process.binding with deprecate()'s wrapper, named `deprecated`, which warns (and throws,
 * under --throw-deprecation, from a later tick). Only Node's own, named `binding`, is asked.
 */
function bindingIsQuiet(): boolean {
  const binding = (process as { binding?: unknown }).binding;
  return typeof binding === 'function' && binding.name === 'binding';
}

function sharedState(): Int32Array | undefined {
  if (asked) return state;
  asked = true;
  if (!bindingIsQuiet() || (process as { permission?: unknown }).permission !== undefined) return undefined;
  try {
    const wrap = (process as unknown as { binding(name: string): StreamWrap }).binding('stream_wrap');
    if (wrap.streamBaseState instanceof Int32Array && typeof wrap.kReadBytesOrError === 'number') {
      state = wrap.streamBaseState;
      index = wrap.kReadBytesOrError;
    }
  } catch {
    // Not there: the errno stays unknown.
  }
  return state;
}

/**
 * The error code (`ECONNRESET`, `ECONNABORTED`, `ETIMEDOUT`…) of the read Node's pool guard is
 * destroying `handle`'s socket for, when it is one, and `EOF` for an end of input (a FIN: an RST
 * after it, such as HAProxy's `option nolinger` close, leaves the connection gone all the same);
 * undefined for data, another destroy, or where the result cannot be read.
 */
export function guardReadError(handle: object): string | undefined {
  if ((handle as GuardedHandle).onread?.name !== 'freeSocketOnReadGuard') return undefined;
  const nread = sharedState()?.[index];
  if (nread === undefined || nread >= 0) return undefined;
  try {
    return getSystemErrorName(nread);
  } catch {
    return undefined;
  }
}
