// A reset series found by its label values: direction, phase, error type, protocol, TLS
// established, peer — the six values both metric outputs label a reset with. The Prometheus totals
// (../prometheus/totals.ts) and the OpenTelemetry reset counter (../otel/metrics.ts) look a series up
// per reset; a key string built from the values would be concatenated, flattened and hashed each
// time (~4–5k instructions per reset under callgrind, docs/benchmarks.md "The reset path's runtime
// calls"), while these values are mostly constant strings whose hashes V8 keeps: a Map per level,
// six look-ups, no allocation. Bounded by its caller: the values are (bounded sets, and peers
// admitted or folded by RESETWATCH_MAX_PEERS).

type Level = Map<unknown, unknown>;

export class SeriesIndex<T> {
  private readonly root: Level = new Map();

  /**
   * The last series found or filed, and its values: a storm resets one peer's connections alike, so
   * most look-ups repeat the last one and cost six comparisons instead of six look-ups. Written in
   * place (no object per look-up when series alternate).
   */
  private readonly last: {
    direction: string;
    phase: string;
    errorType: string;
    protocol: string;
    tls: boolean;
    peer: string;
    series: T | undefined;
  } = {
    direction: '',
    phase: '',
    errorType: '',
    protocol: '',
    tls: false,
    peer: '',
    series: undefined,
  };

  /** The series of these label values, or undefined. */
  get(direction: string, phase: string, errorType: string, protocol: string, tls: boolean, peer: string): T | undefined {
    const l = this.last;
    if (
      l.series !== undefined &&
      l.peer === peer &&
      l.phase === phase &&
      l.errorType === errorType &&
      l.direction === direction &&
      l.protocol === protocol &&
      l.tls === tls
    )
      return l.series;
    const a = this.root.get(direction) as Level | undefined;
    if (a === undefined) return undefined;
    const b = a.get(phase) as Level | undefined;
    if (b === undefined) return undefined;
    const c = b.get(errorType) as Level | undefined;
    if (c === undefined) return undefined;
    const d = c.get(protocol) as Level | undefined;
    if (d === undefined) return undefined;
    const e = d.get(tls) as Level | undefined;
    if (e === undefined) return undefined;
    const series = e.get(peer) as T | undefined;
    if (series !== undefined) this.remember(direction, phase, errorType, protocol, tls, peer, series);
    return series;
  }

  /** Files `series` under these label values (replacing any there was). */
  set(direction: string, phase: string, errorType: string, protocol: string, tls: boolean, peer: string, series: T): void {
    let level = this.root;
    for (const value of [direction, phase, errorType, protocol, tls]) {
      let next = level.get(value) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
    }
    level.set(peer, series);
    this.remember(direction, phase, errorType, protocol, tls, peer, series);
  }

  private remember(direction: string, phase: string, errorType: string, protocol: string, tls: boolean, peer: string, series: T): void {
    const l = this.last;
    l.direction = direction;
    l.phase = phase;
    l.errorType = errorType;
    l.protocol = protocol;
    l.tls = tls;
    l.peer = peer;
    l.series = series;
  }
}
