// The idle timeout a server advertises in its responses (`Keep-Alive: timeout=N`, which Node's
// http.Server sends): with it a reset on a reused connection tells a keep-alive race from a
// middlebox's doing (hints.ts). Read from the raw header list once per response, never per chunk,
// and without allocating: Node's `headers` getter would build an object. Node gives the raw
// headers as strings, undici as Buffers: one monomorphic path each.

/** The advertised timeout in ms, 0 when the response has none. `raw`: [name, value, name, value, …]. */
export function advertisedKeepAliveMs(raw: unknown): number {
  if (!Array.isArray(raw) || raw.length < 2) return 0;
  return typeof raw[0] === 'string' ? fromStrings(raw) : Buffer.isBuffer(raw[0]) ? fromBuffers(raw) : 0;
}

function fromStrings(raw: unknown[]): number {
  for (let i = 0; i < raw.length - 1; i += 2) {
    const name = raw[i] as string;
    // 'Connection' is 10 long too: the first letter keeps it from being lower-cased.
    if (name.length !== 10 || (name !== 'Keep-Alive' && ((name.charCodeAt(0) | 0x20) !== 0x6b || name.toLowerCase() !== 'keep-alive')))
      continue;
    const value = String(raw[i + 1]);
    // Parameter names are case-insensitive (RFC 9110): the usual spelling first, then any case.
    let at = value.indexOf('timeout=');
    if (at === -1) at = indexIgnoringCase(value, 'timeout=');
    if (at === -1) return 0;
    let seconds = 0;
    for (let j = at + 8, d = value.charCodeAt(j); d >= 0x30 && d <= 0x39 && j < at + 17; d = value.charCodeAt(++j))
      seconds = seconds * 10 + d - 0x30;
    return seconds * 1000;
  }
  return 0;
}

function fromBuffers(raw: unknown[]): number {
  for (let i = 0; i < raw.length - 1; i += 2) {
    const name = raw[i] as Buffer;
    if (name.length !== 10 || !lowerIs(name, 0, 'keep-alive')) continue;
    const value = raw[i + 1] as Buffer;
    if (!Buffer.isBuffer(value)) return 0;
    for (let at = 0; at + 8 <= value.length; at++) {
      if (!lowerIs(value, at, 'timeout=')) continue;
      let seconds = 0;
      for (let j = at + 8, d = value[j]; d >= 0x30 && d <= 0x39 && j < at + 17; d = value[++j]) seconds = seconds * 10 + d - 0x30;
      return seconds * 1000;
    }
    return 0;
  }
  return 0;
}

/** ASCII bytes at `i` equal `lower` ignoring case ('-' and '=' are unchanged by | 0x20). */
function lowerIs(b: Buffer, i: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((b[i + k] | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/** Where `lower` (ASCII letters, '-' and '=') occurs in `value` ignoring case, or -1; allocates nothing. */
function indexIgnoringCase(value: string, lower: string): number {
  for (let at = 0; at + lower.length <= value.length; at++) {
    let k = 0;
    while (k < lower.length && (value.charCodeAt(at + k) | 0x20) === lower.charCodeAt(k)) k++;
    if (k === lower.length) return at;
  }
  return -1;
}
