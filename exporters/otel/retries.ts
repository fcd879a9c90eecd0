// When resetwatch's own OTLP sender tries a batch again, and after how long: the OTLP/HTTP
// specification's "Retryable response codes" (429, 502, 503, 504) and "Throttling" (Retry-After),
// plus connection errors; the bounds are docs/opentelemetry.md "Retries of resetwatch's own exporter".

/** Retries after the first attempt; the export timeout usually ends the series first. */
export const MAX_RETRIES = 5;
/** No wait is shorter: a `Retry-After: 0` or a date in the past does not make a busy loop. */
export const MIN_DELAY_MS = 100;
/** The longest delay setTimeout takes; beyond it Node fires at once (and warns on stderr). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_FACTOR = 1.5;
const BACKOFF_MAX_MS = 5000;
const JITTER = 0.2;

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/** Connection failures that a later attempt may not meet: refused, reset, timed out, unreachable. */
const RETRYABLE_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

export function retryableStatus(code: number): boolean {
  return RETRYABLE_STATUS.has(code);
}

export function retryableError(code: string | undefined): boolean {
  return code !== undefined && RETRYABLE_ERRORS.has(code);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;

/**
 * The wait a Retry-After value asks for, in ms from `now`, or undefined when it is not strictly
 * RFC 9110 10.2.3: delay-seconds (1*DIGIT) or an IMF-fixdate. Anything else (`1.5`, `10s`, an
 * obsolete date form, a date that does not exist) is not guessed at: backoff applies.
 */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000; // may be huge: the caller bounds it
  const m = IMF_FIXDATE.exec(value);
  if (m === null) return undefined;
  const [, day, dd, mon, yyyy, hh, mi, ss] = m;
  const d = new Date(Date.UTC(Number(yyyy), MONTHS.indexOf(mon), Number(dd), Number(hh), Number(mi), Number(ss)));
  // Date.UTC rolls 31 Feb over into March and 25:00 into the next day: such a date is not valid.
  const fields = [d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  if (fields.join() !== [dd, hh, mi, ss].map(Number).join() || DAYS[d.getUTCDay()] !== day) return undefined;
  return d.getTime() - now;
}

/** Exponential backoff before retry number `retry` (1-based): 1 s, ×1.5 each time, at most 5 s, ±20 % jitter. */
export function backoffMs(retry: number): number {
  const base = Math.min(BACKOFF_FIRST_MS * BACKOFF_FACTOR ** (retry - 1), BACKOFF_MAX_MS);
  return base * (1 - JITTER + 2 * JITTER * Math.random());
}

/** The delay before retry number `retry`: the collector's Retry-After when valid, else backoff; never under MIN_DELAY_MS. */
export function retryDelayMs(retry: number, retryAfter: string | undefined, now: number): number {
  return Math.max(MIN_DELAY_MS, retryAfterMs(retryAfter, now) ?? backoffMs(retry));
}
