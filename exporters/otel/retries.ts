// When resetwatch's own OTLP sender tries a batch again, and after how long: the OTLP/HTTP
// specification's "Retryable response codes" (429, 502, 503, 504) and "Throttling" (Retry-After),
// plus connection errors; the bounds are docs/opentelemetry.md "Retries of resetwatch's own exporter".
import { NodeDate } from '../../agent/timers';

/** Retries after the first attempt; the export timeout usually ends the series first. */
export const MAX_RETRIES = 5;
/** No wait is shorter: a `Retry-After: 0` or a date in the past does not make a busy loop. */
export const MIN_DELAY_MS = 100;
/** The longest delay setTimeout takes; beyond it Node fires at once (and warns on stderr). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * During an exit flush or stop(), a collector's answer is tried again only when its retry is due
 * this long before the end of the flush budget (time to send it and hear back on a live collector).
 */
export const EXIT_RETRY_MARGIN_MS = 200;
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
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MON = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// The three HTTP-date forms of RFC 9110 5.6.7, each captured as day-name, day, month, year, time.
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MON} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete RFC 850) */
const RFC850_DATE = new RegExp(`^(${LONG_DAYS.join('|')}), (\\d{2})-${MON}-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete asctime) */
const ASCTIME_DATE = new RegExp(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MON} (\\d{2}| \\d) ${TIME} (\\d{4})$`);

/** Day-name, day, month, year, hours, minutes, seconds of an HTTP-date, or undefined. */
function dateFields(value: string, now: number): [string, number, string, number, number, number, number] | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m !== null) return [m[1], Number(m[2]), m[3], Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])];
  m = ASCTIME_DATE.exec(value);
  if (m !== null) return [m[1], Number(m[3]), m[2], Number(m[7]), Number(m[4]), Number(m[5]), Number(m[6])];
  m = RFC850_DATE.exec(value);
  if (m === null) return undefined;
  // RFC 9110 5.6.7: a two-digit year more than 50 years ahead is the latest past year ending so.
  const thisYear = new NodeDate(now).getUTCFullYear();
  let year = thisYear - (thisYear % 100) + Number(m[4]);
  if (year > thisYear + 50) year -= 100;
  return [DAYS[LONG_DAYS.indexOf(m[1])], Number(m[2]), m[3], year, Number(m[5]), Number(m[6]), Number(m[7])];
}

/**
 * The wait a Retry-After value asks for, in ms from `now`, or undefined when it is not strictly
 * RFC 9110 10.2.3: delay-seconds (1*DIGIT) or an HTTP-date (IMF-fixdate, or the obsolete RFC 850
 * and asctime forms recipients must accept). Anything else (`1.5`, `10s`, a zone other than GMT,
 * a date that does not exist) is not guessed at: backoff applies.
 */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000; // may be huge: the caller bounds it
  const f = dateFields(value, now);
  if (f === undefined) return undefined;
  const [day, dd, mon, yyyy, hh, mi, ss] = f;
  const d = new NodeDate(NodeDate.UTC(yyyy, MONTHS.indexOf(mon), dd, hh, mi, ss));
  // Date.UTC rolls 31 Feb over into March and 25:00 into the next day: such a date is not valid.
  const fields = [d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  if (fields.join() !== [dd, hh, mi, ss].join() || DAYS[d.getUTCDay()] !== day) return undefined;
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
