// A Map keyed by object identity that answers the key it answered last without a look-up: the
// outputs' histograms are keyed by one frozen label object per (direction, phase), and a storm's
// resets mostly share theirs. Values are only ever added (a series is reset in place, never
// replaced), so the remembered pair cannot go stale.

export class LastFirstMap<K extends object, V> {
  private readonly map = new Map<K, V>();
  private lastKey: K | undefined;
  private lastValue: V | undefined;

  /** The value of `key`, made by `create` (and kept) the first time. */
  get(key: K, create: (key: K) => V): V {
    if (key === this.lastKey) return this.lastValue as V;
    let value = this.map.get(key);
    if (value === undefined) {
      value = create(key);
      this.map.set(key, value);
    }
    this.lastKey = key;
    this.lastValue = value;
    return value;
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }
}
