// The idle timeout a server advertises in its responses (`Keep-Alive: timeout=N`, which Node's
// http.Server sends): with it a reset on a reused connection tells a keep-alive race from a
// middlebox's doing (hints.ts). Read from the raw header list once per response, never per chunk:
// Node's `headers` getter would build an object, undici hands over Buffers.

let lastValue = '';
let lastMs = 0;

/** The advertised timeout in ms, 0 when the response has none. `raw`: [name, value, name, value, …]. */
export function advertisedKeepAliveMs(raw: unknown): number {
  if (!Array.isArray(raw)) return 0;
  for (let i = 0; i < raw.length - 1; i += 2) {
    const name: unknown = raw[i];
    if ((name as { length?: number })?.length !== 10 || String(name).toLowerCase() !== 'keep-alive') continue;
    const value = String(raw[i + 1]);
    if (value !== lastValue) {
      const m = /(?:^|[\s,])timeout=(\d+)/i.exec(value);
      lastValue = value;
      lastMs = m ? Number(m[1]) * 1000 : 0;
    }
    return lastMs;
  }
  return 0;
}
