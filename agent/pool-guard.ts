// What the read returned that made Node's keep-alive pool destroy an idle socket without an error.
// Node 22, 24 and 26 (the fix for response-queue poisoning, hackerone 3582376) make
// `freeSocketOnReadGuard` an idle pooled socket's `handle.onread`: any read result, data or an
// errno, destroys the socket with no error, so the agent's errorMonitor never hears an RST, a
// local abort (`ss -K`, a CNI's SOCK_DESTROY) or a keep-alive probe's timeout there. The result is
// still in stream_wrap's shared state (`streamBaseState[kReadBytesOrError]`) while that destroy
// runs. `process.binding` is the only way to read it: not asked where it would print DEP0111
// (`--pending-deprecation`) or is refused (the permission model). Then the errno is unknown.
import { getSystemErrorName } from 'node:util';

type StreamWrap = { streamBaseState?: Int32Array; kReadBytesOrError?: number };
type GuardedHandle = { onread?: { name?: string } };

let state: Int32Array | undefined;
let index = 0;
let asked = false;

function pendingDeprecation(): boolean {
  const flag = '--pending-deprecation';
  return process.execArgv.includes(flag) || (process.env.NODE_OPTIONS ?? '').includes(flag) || process.env.NODE_PENDING_DEPRECATION === '1';
}

function sharedState(): Int32Array | undefined {
  if (asked) return state;
  asked = true;
  if (pendingDeprecation() || (process as { permission?: unknown }).permission !== undefined) return undefined;
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
 * destroying `handle`'s socket for, when it is one; undefined for data, an end of input, another
 * destroy, or where the result cannot be read.
 */
export function guardReadError(handle: object): string | undefined {
  if ((handle as GuardedHandle).onread?.name !== 'freeSocketOnReadGuard') return undefined;
  const nread = sharedState()?.[index];
  if (nread === undefined || nread >= 0) return undefined;
  try {
    const name = getSystemErrorName(nread);
    return name === 'EOF' ? undefined : name;
  } catch {
    return undefined;
  }
}
