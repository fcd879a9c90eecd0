// All settings, resolved in one place: code (start options), then RESETWATCH_* environment
// variables, then the defaults below. A bad value is reported in one line naming the variable and
// the value used instead; it never throws on the --require path.
import { diag, type DiagLevel } from './diag';
import { DEFAULT_MAX_PEERS, DEFAULT_PORT } from './contract';

export interface Config {
  /** RESETWATCH_DISABLED: load nothing. */
  disabled: boolean;
  /** RESETWATCH_LOG_LEVEL: level of the agent's own messages and of reset log lines (`warn`). */
  logLevel: DiagLevel | 'off';
  /** RESETWATCH_LOG: where reset log lines go: `stderr`, `stdout`, a file path, or `off`. */
  log: string;
  /** RESETWATCH_LOG_RATE: reset log lines per second at most; the rest are counted and summarised. */
  logRate: number;
  /** RESETWATCH_SPAN_RATE: reset spans per second at most (0 = no limit); the rest are dropped and counted. */
  spanRate: number;
  /** RESETWATCH_HOST / RESETWATCH_PORT: the metrics endpoint; port `off` disables it, `0` picks one. */
  host: string;
  port: number | 'off';
  /** RESETWATCH_METRICS_TOKEN: bearer token required by the endpoint when set. */
  metricsToken: string;
  /** RESETWATCH_MAX_PEERS: distinct `peer` label values before folding into `_other`. */
  maxPeers: number;
  /** RESETWATCH_SERVER_PEERS: also label server-side resets with the client's address. */
  serverPeers: boolean;
  /** RESETWATCH_RECENT: how many recent reset events `/resets` keeps. */
  recent: number;
  /** RESETWATCH_ROOT_SPANS: make a root span for a reset with no parent context. */
  rootSpans: boolean;
  /** RESETWATCH_FAULT_INJECT: test-only; hook names (or `all`) whose guarded body throws. */
  faultInject: string;
}

export const DEFAULTS: Readonly<Config> = Object.freeze({
  disabled: false,
  logLevel: 'warn',
  log: 'stderr',
  logRate: 10,
  spanRate: 100,
  host: '127.0.0.1',
  port: DEFAULT_PORT,
  metricsToken: '',
  maxPeers: DEFAULT_MAX_PEERS,
  serverPeers: false,
  recent: 200,
  rootSpans: true,
  faultInject: '',
});

type Parser<T> = (raw: string) => T | undefined;

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  return undefined;
};
const int =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    if (!/^\s*\d+\s*$/.test(raw)) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  };
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) => {
    const v = raw.trim().toLowerCase() as T;
    return values.includes(v) ? v : undefined;
  };
const text: Parser<string> = (raw) => raw.trim();
const port: Parser<number | 'off'> = (raw) => (raw.trim().toLowerCase() === 'off' ? 'off' : int(0, 65535)(raw));
const host: Parser<string> = (raw) => (/^[A-Za-z0-9.:\-[\]]+$/.test(raw.trim()) ? raw.trim() : undefined);
const logDest: Parser<string> = (raw) => (raw.trim() === '' ? undefined : raw.trim());

/** Environment variable → config key and parser. The README documents each one. */
export const ENV: { [K in keyof Config]: [string, Parser<Config[K]>] } = {
  disabled: ['RESETWATCH_DISABLED', bool],
  logLevel: ['RESETWATCH_LOG_LEVEL', oneOf('debug', 'info', 'warn', 'error', 'off')],
  log: ['RESETWATCH_LOG', logDest],
  logRate: ['RESETWATCH_LOG_RATE', int(0, 100000)],
  spanRate: ['RESETWATCH_SPAN_RATE', int(0, 100000)],
  host: ['RESETWATCH_HOST', host],
  port: ['RESETWATCH_PORT', port],
  metricsToken: ['RESETWATCH_METRICS_TOKEN', text],
  maxPeers: ['RESETWATCH_MAX_PEERS', int(1, 100000)],
  serverPeers: ['RESETWATCH_SERVER_PEERS', bool],
  recent: ['RESETWATCH_RECENT', int(0, 100000)],
  rootSpans: ['RESETWATCH_ROOT_SPANS', bool],
  faultInject: ['RESETWATCH_FAULT_INJECT', text],
};

export function resolveConfig(options: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const config = { ...DEFAULTS } as Record<keyof Config, unknown>;
  for (const key of Object.keys(ENV) as (keyof Config)[]) {
    const [name, parse] = ENV[key];
    if (options[key] !== undefined) {
      config[key] = options[key];
      continue;
    }
    const raw = env[name];
    if (raw === undefined) continue;
    const value = (parse as Parser<unknown>)(raw);
    if (value === undefined) {
      diag('warn', `${name}=${JSON.stringify(raw)} is not valid; using ${JSON.stringify(DEFAULTS[key])}`);
    } else {
      config[key] = value;
    }
  }
  return config as unknown as Config;
}
