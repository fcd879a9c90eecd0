// Token bucket shared by the rate-limited outputs (log lines, spans): O(1), no timer.

/** Token bucket: `rate` per second with bursts up to `rate`; 0 means no limit. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate;
    this.last = now();
  }
  take(): boolean {
    if (this.rate === 0) return true;
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
