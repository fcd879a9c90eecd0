// A plain-text table of reset events for the demo: one row per (direction, phase, error_type, peer).
'use strict';

function table(events) {
  const rows = new Map();
  for (const e of events) {
    const peer = e.direction === 'client' ? `${e.serverAddress}:${e.serverPort}` : `(client) → :${e.localPort}`;
    const key = [e.direction, e.phase, e.errorType, peer].join('|');
    const row = rows.get(key) ?? {
      direction: e.direction,
      phase: e.phase,
      error_type: e.errorType,
      peer,
      count: 0,
      rx: 0,
      tx: 0,
      age: 0,
      hint: e.hint?.id ?? '',
    };
    row.count++;
    row.rx += e.bytesReceived;
    row.tx += e.bytesSent;
    row.age = Math.max(row.age, e.connectionAgeMs);
    rows.set(key, row);
  }
  const header = ['direction', 'phase', 'error_type', 'peer', 'count', 'bytes in', 'bytes out', 'max age ms', 'hint'];
  const body = [...rows.values()].map((r) =>
    [r.direction, r.phase, r.error_type, r.peer, r.count, r.rx, r.tx, Math.round(r.age), r.hint].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

module.exports = { table };
