// Token bucket shared by the rate-limited outputs (log lines, spans): O(1), no timer.
import { now as clockNow } from '../../agent/clock';

/** Token bucket: `rate` per second with bursts up to `rate`; 0 means no limit. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  /** ready() answered since the last take(): take() keeps to that answer's refill. */
  private asked = false;
  constructor(
    private readonly rate: number,
    private readonly now: () => number = clockNow,
  ) {
    this.tokens = rate;
    this.last = now();
  }
  take(): boolean {
    if (this.rate === 0) return true;
    if (!this.asked) this.refill();
    this.asked = false;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /**
   * Whether take() would succeed, taking nothing. The next take() refills no further, so it says
   * the same: asked when a socket is destroyed (agent/bus.ts needsLocal), taken when its event is
   * published, the two agree on which resets get a line or a span.
   */
  ready(): boolean {
    if (this.rate === 0) return true;
    this.refill();
    this.asked = true;
    return this.tokens >= 1;
  }
  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
}
