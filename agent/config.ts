// All settings, resolved in one place: code (start() options), then RESETWATCH_* environment
// variables, then the defaults below. Both sources go through the same parsers: a bad value is
// reported in one line naming the variable (or option) and the value used instead; it never throws,
// on the --require path or from start().
import { diag, type DiagLevel } from './diag';
import { DEFAULT_MAX_PEERS, DEFAULT_PORT, METRICS, OUTPUTS, type OutputName } from './contract';

/** The hooks by name (agent/hooks/*.ts), for RESETWATCH_DISABLED_HOOKS; README "Hooks" says what each covers. */
export const HOOKS = ['client', 'server', 'tls', 'destroy', 'http', 'undici', 'activity'] as const;
export type HookName = (typeof HOOKS)[number];

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
  /** RESETWATCH_MAX_PEERS: distinct `peer` label values before folding into `_OTHER`. */
  maxPeers: number;
  /** RESETWATCH_SERVER_PEERS: also label server-side resets with the client's address. */
  serverPeers: boolean;
  /** RESETWATCH_REQUEST_PATHS: keep the path (never the query string) of the request in flight on its events. */
  requestPaths: boolean;
  /** RESETWATCH_RECENT: how many recent reset events `/resets` keeps. */
  recent: number;
  /** RESETWATCH_ROOT_SPANS: make a root span for a reset with no parent context. */
  rootSpans: boolean;
  /** RESETWATCH_FAULT_INJECT: test-only; hook names (or `all`) whose guarded body throws. */
  faultInject: string;
  /** RESETWATCH_DISABLED_HOOKS: hooks never installed (a neighbouring agent covers them, or they are not wanted). */
  disabledHooks: readonly HookName[];
  /** RESETWATCH_DISABLED_OUTPUTS: outputs never started. */
  disabledOutputs: readonly OutputName[];
  /** RESETWATCH_LABELS: constant labels on every series, log line and (private OpenTelemetry) Resource. */
  labels: Readonly<Record<string, string>>;
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
  requestPaths: false,
  recent: 200,
  rootSpans: true,
  faultInject: '',
  disabledHooks: Object.freeze([]) as readonly HookName[],
  disabledOutputs: Object.freeze([]) as readonly OutputName[],
  labels: Object.freeze({}),
});

/** Reports a problem with part of a value (the rest is kept): `warn` is given the whole line. */
type Warn = (problem: string) => void;
/**
 * A setting's parser: the raw value is an environment string or a start() option of any type.
 * Returns undefined when the value as a whole is not valid (the default is used and said so).
 */
type Parser<T> = (raw: unknown, warn: Warn) => T | undefined;

/** Strings as they are; numbers and booleans from code as the same text the environment would hold. */
function asText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if ((typeof raw === 'number' && Number.isFinite(raw)) || typeof raw === 'boolean') return String(raw);
  return undefined;
}

/** A value as a message shows it: JSON, cut at SHOWN characters (a message is one bounded line). */
const SHOWN = 200;
function show(raw: unknown): string {
  let out: string;
  try {
    out = JSON.stringify(raw) ?? String(raw);
  } catch {
    out = Object.prototype.toString.call(raw);
  }
  return out.length > SHOWN ? `${out.slice(0, SHOWN)}…` : out;
}

/** A parser of text, applied to environment strings and to typed option values alike. */
const fromText =
  <T>(parse: (raw: string) => T | undefined): Parser<T> =>
  (raw) => {
    const text = asText(raw);
    return text === undefined ? undefined : parse(text);
  };

const bool = fromText((raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  return undefined;
});
const intIn = (min: number, max: number) => (raw: string) => {
  if (!/^\s*\d+\s*$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= max ? n : undefined;
};
/** An integer setting; its bounds are said in the line for a value outside them. */
const int = (min: number, max: number) => Object.assign(fromText(intIn(min, max)), { expects: `an integer from ${min} to ${max}` });
const oneOf = <T extends string>(...values: T[]) =>
  fromText((raw) => {
    const v = raw.trim().toLowerCase() as T;
    return values.includes(v) ? v : undefined;
  });
const text = fromText((raw) => raw.trim());
const port = fromText<number | 'off'>((raw) => (raw.trim().toLowerCase() === 'off' ? 'off' : intIn(0, 65535)(raw)));
/** A host name or an IP address; an IPv6 one with or without brackets (`[::1]` listens on `::1`), a link-local one with its zone (`fe80::1%eth0`). */
const host = fromText((raw) => {
  const v = raw.trim().replace(/^\[(.*)\]$/, '$1');
  return /^[A-Za-z0-9.:-]+(%[A-Za-z0-9._-]+)?$/.test(v) ? v : undefined;
});
const logDest = fromText((raw) => (raw.trim() === '' ? undefined : raw.trim()));

/**
 * A list of names out of `valid`: `a,b` or, from code, an array. Unknown names are reported in one
 * line listing the valid ones and ignored; the known ones apply.
 */
const names =
  <T extends string>(valid: readonly T[]): Parser<readonly T[]> =>
  (raw, warn) => {
    let items: string[];
    if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) items = raw;
    else if (typeof raw === 'string') items = raw.split(',');
    else return undefined;
    const out = new Set<T>();
    const unknown: string[] = [];
    for (const item of items.map((x) => x.trim().toLowerCase()).filter(Boolean)) {
      if ((valid as readonly string[]).includes(item)) out.add(item as T);
      else unknown.push(item);
    }
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 5).map((n) => show(n));
      if (unknown.length > 5) shown.push(`and ${unknown.length - 5} more`);
      warn(`unknown ${shown.join(', ')} ignored; valid: ${valid.join(', ')}`);
    }
    return Object.freeze([...out]);
  };

/** Constant labels: bounded in number, name and value length (README "Constant labels"). */
export const MAX_LABELS = 10;
export const MAX_LABEL_VALUE = 128;
/**
 * Names a constant label may not take: resetwatch's own metric labels (from the contract), the
 * histogram and summary labels, what Prometheus attaches to a scraped series (job, instance), and
 * the log line's own fields — a collision would overwrite or be renamed to `exported_*`. Names
 * starting with `__` are reserved by Prometheus.
 */
const RESERVED = new Set<string>([
  ...Object.values(METRICS).flatMap((m) => m.labels),
  ...['le', 'quantile', 'job', 'instance'],
  ...['level', 'time', 'pid', 'hostname', 'name', 'msg', 'trace_id', 'span_id'],
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Why a constant label is refused, or undefined when it is fine. */
function labelProblem(name: string, value: unknown): string | undefined {
  if (!LABEL_NAME.test(name)) return 'is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)';
  if (name.startsWith('__')) return 'is reserved (names starting with __ belong to Prometheus)';
  if (RESERVED.has(name)) return "collides with one of resetwatch's own labels or fields";
  if (typeof value !== 'string') return 'has a value that is not a string';
  if (value.length > MAX_LABEL_VALUE) return `has a value longer than ${MAX_LABEL_VALUE} characters`;
  return undefined;
}

/** `team=payments,cluster=eu-1` or, from code, `{ team: 'payments' }`: a bad label is reported and dropped, the rest apply. */
const labels: Parser<Readonly<Record<string, string>>> = (raw, warn) => {
  let pairs: [string, unknown][];
  if (typeof raw === 'string') {
    pairs = [];
    for (const part of raw.split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      if (eq === -1) {
        warn(`${show(part.trim())} is not name=value; dropped`);
        continue;
      }
      pairs.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
    }
  } else if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    pairs = Object.entries(raw);
  } else {
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [name, value] of pairs) {
    const problem = labelProblem(name, value);
    if (problem !== undefined) warn(`label ${show(name)} ${problem}; dropped`);
    else if (Object.keys(out).length >= MAX_LABELS && !(name in out))
      warn(`label ${show(name)} is over the limit of ${MAX_LABELS} labels; dropped`);
    else out[name] = value as string;
  }
  return Object.freeze(out);
};

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
  // At most 10,000 each: a scrape renders every series on the app's event loop (~60 µs each on a
  // 2-core VM: 29,000 series held the app 1.8 s), /resets every kept event (100,000: 37 MB, 1.6 s).
  maxPeers: ['RESETWATCH_MAX_PEERS', int(1, 10000)],
  serverPeers: ['RESETWATCH_SERVER_PEERS', bool],
  requestPaths: ['RESETWATCH_REQUEST_PATHS', bool],
  recent: ['RESETWATCH_RECENT', int(0, 10000)],
  rootSpans: ['RESETWATCH_ROOT_SPANS', bool],
  faultInject: ['RESETWATCH_FAULT_INJECT', text],
  disabledHooks: ['RESETWATCH_DISABLED_HOOKS', names(HOOKS)],
  disabledOutputs: ['RESETWATCH_DISABLED_OUTPUTS', names(OUTPUTS)],
  labels: ['RESETWATCH_LABELS', labels],
};

/**
 * What start() accepts: every setting of the environment, under its config key (camelCase), with
 * the values the environment would hold or their typed form (README "Configuration").
 */
export interface StartOptions {
  /** RESETWATCH_DISABLED (the environment's `true` wins over this). */
  disabled?: boolean;
  logLevel?: DiagLevel | 'off';
  log?: string;
  logRate?: number;
  spanRate?: number;
  host?: string;
  port?: number | 'off';
  metricsToken?: string;
  maxPeers?: number;
  serverPeers?: boolean;
  requestPaths?: boolean;
  recent?: number;
  rootSpans?: boolean;
  /** Tests only (RESETWATCH_FAULT_INJECT). */
  faultInject?: string;
  disabledHooks?: readonly HookName[] | string;
  disabledOutputs?: readonly OutputName[] | string;
  labels?: Readonly<Record<string, string>> | string;
}

/** How a setting is named in its one-line messages. */
const optionName = (key: string) => `start() option ${key}`;

/** The value of one setting from one source, or undefined (reported) when it is not valid. */
function parseSetting<K extends keyof Config>(key: K, name: string, raw: unknown): Config[K] | undefined {
  const parse = ENV[key][1] as Parser<Config[K]>;
  const value = parse(raw, (problem) => diag('warn', `${name}: ${problem}`));
  const expects = (parse as { expects?: string }).expects;
  if (value === undefined) diag('warn', `${name}=${show(raw)} is not valid${expects ? ` (${expects})` : ''}; using ${show(DEFAULTS[key])}`);
  return value;
}

/** RESETWATCH_DISABLED says true: the operator's off switch, which wins over code. */
export function disabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.RESETWATCH_DISABLED !== undefined && bool(env.RESETWATCH_DISABLED, () => {}) === true;
}

/**
 * The config from start() options (code), then the environment, then DEFAULTS. Options are
 * untrusted like the environment: anything that is not an object, and unknown keys, are reported.
 */
export function resolveConfig(options: unknown = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const config = { ...DEFAULTS } as Record<keyof Config, unknown>;
  let opts: Record<string, unknown> = {};
  if (options !== null && typeof options === 'object' && !Array.isArray(options)) opts = options as Record<string, unknown>;
  else if (options !== undefined) diag('warn', `start() expects an options object, not ${show(options)}; using the environment`);
  for (const key of Object.keys(opts)) {
    if (!(key in ENV)) diag('warn', `start() option ${show(key)} is unknown; valid: ${Object.keys(ENV).join(', ')}`);
  }
  for (const key of Object.keys(ENV) as (keyof Config)[]) {
    const [name] = ENV[key];
    const fromCode = Object.hasOwn(opts, key) && opts[key] !== undefined;
    // A code option that is not valid falls back to the default, not to the environment: the code said what it wanted.
    const value = fromCode
      ? parseSetting(key, optionName(key), opts[key])
      : env[name] === undefined
        ? undefined
        : parseSetting(key, name, env[name]);
    if (value !== undefined) config[key] = value;
  }
  if (disabledByEnv(env)) config.disabled = true;
  misspelt(env);
  return config as unknown as Config;
}

/**
 * A RESETWATCH_ variable within two edits of a setting's name (RESETWATCH_PROT) is said once: it
 * is ignored, and the setting it meant keeps its default. Farther names are not ours to judge
 * (RESETWATCH_K8S_POD_NAME, a deployment's own).
 */
function misspelt(env: NodeJS.ProcessEnv): void {
  const names = Object.values(ENV).map(([name]) => name);
  for (const key of Object.keys(env)) {
    if (!key.startsWith('RESETWATCH_') || names.includes(key)) continue;
    const near = names.find((name) => Math.abs(name.length - key.length) <= 2 && edits(key, name) <= 2);
    if (near !== undefined) diag('warn', `${key} is not a setting, and is ignored; did you mean ${near}?`);
  }
}

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b`. */
function edits(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
