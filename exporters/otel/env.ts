// Whether the standard OpenTelemetry variables ask for export, decided without loading any SDK
// code (the preload must stay cheap). Spec: opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables
// Differences: with no OTEL_*_EXPORTER and no endpoint variable nothing is exported (the spec's
// default exporter is otlp; we only export when asked), and grpc is not supported (one line).
// Values resetwatch cannot honour with the packages it ships are refused in one line each.
import { otelDiag as diag, setOtelDiagLevel, type DiagLevel } from '../../agent/diag';

export type SignalExport = { kind: 'otlp'; protocol: 'http/protobuf' | 'http/json' } | { kind: 'console' };

export interface ExportPlan {
  traces?: SignalExport;
  metrics?: SignalExport;
}

const truthy = (v: string | undefined) => v !== undefined && v.trim().toLowerCase() === 'true';
const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/** OTEL_SDK_DISABLED=true: the whole OpenTelemetry output is off, the app's providers included. */
export function sdkDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return truthy(env.OTEL_SDK_DISABLED);
}

/**
 * The spec knows only `true` (any case) and `false`: `OTEL_SDK_DISABLED=1` or `yes` leaves
 * OpenTelemetry on, which its writer did not mean — one line says so.
 */
export function checkSdkDisabled(env: NodeJS.ProcessEnv = process.env): void {
  const raw = env.OTEL_SDK_DISABLED;
  if (set(raw) && !['true', 'false'].includes(raw.trim().toLowerCase()))
    diag('warn', `OTEL_SDK_DISABLED=${JSON.stringify(raw)} is not "true" or "false"; OpenTelemetry output stays on`);
}

/** One line per distinct message: both signals read the same shared variables. */
const said = new Set<string>();
function warnOnce(message: string): void {
  if (said.has(message)) return;
  said.add(message);
  diag('warn', message);
}

/** The spec's OTEL_LOG_LEVEL values, onto resetwatch's levels (verbose and all: every message). */
const LOG_LEVELS: Record<string, DiagLevel | 'off'> = {
  none: 'off',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  verbose: 'debug',
  all: 'debug',
};

/**
 * OTEL_LOG_LEVEL sets the threshold of the OpenTelemetry output's own messages (unset:
 * RESETWATCH_LOG_LEVEL). The SDK's internal diag logger is not set: that is a global
 * registration, and resetwatch never registers anything globally.
 */
export function applyLogLevel(env: NodeJS.ProcessEnv = process.env): void {
  const raw = env.OTEL_LOG_LEVEL;
  if (!set(raw)) {
    setOtelDiagLevel(undefined);
    return;
  }
  const level = LOG_LEVELS[raw.trim().toLowerCase()];
  setOtelDiagLevel(level);
  if (level === undefined)
    diag(
      'warn',
      `OTEL_LOG_LEVEL=${JSON.stringify(raw)} is not valid (none, error, warn, info, debug, verbose, all); using RESETWATCH_LOG_LEVEL`,
    );
}

/** The resource detectors of @opentelemetry/resources, in the SDK's order: env last, so it wins. */
export const DETECTORS = ['host', 'os', 'serviceinstance', 'process', 'env'] as const;
export type DetectorName = (typeof DETECTORS)[number];

/** OTEL_NODE_RESOURCE_DETECTORS as the Node SDK reads it (default `all`); others: one line, ignored. */
export function resourceDetectors(env: NodeJS.ProcessEnv = process.env): DetectorName[] {
  const raw = env.OTEL_NODE_RESOURCE_DETECTORS;
  if (!set(raw)) return [...DETECTORS];
  const asked = list(raw);
  if (asked.includes('all')) return [...DETECTORS];
  if (asked.includes('none')) return [];
  const unknown = asked.filter((n) => !(DETECTORS as readonly string[]).includes(n));
  if (unknown.length > 0)
    diag(
      'warn',
      `OTEL_NODE_RESOURCE_DETECTORS: ${unknown.join(', ')} not available to resetwatch's own exporter (it has ${DETECTORS.join(', ')}); ignored`,
    );
  return DETECTORS.filter((n) => asked.includes(n));
}

/**
 * Kubernetes resource attributes from the variables the Helm injection sets (Downward API for
 * pod, namespace and node; the container's name from the chart). Applied with the env detector,
 * before OTEL_RESOURCE_ATTRIBUTES, which wins.
 */
export const K8S_VARIABLES = {
  'k8s.pod.name': 'RESETWATCH_K8S_POD_NAME',
  'k8s.namespace.name': 'RESETWATCH_K8S_NAMESPACE_NAME',
  'k8s.node.name': 'RESETWATCH_K8S_NODE_NAME',
  'k8s.container.name': 'RESETWATCH_K8S_CONTAINER_NAME',
} as const;

export function k8sAttributes(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [attribute, name] of Object.entries(K8S_VARIABLES)) {
    const v = env[name];
    if (set(v)) out[attribute] = v.trim();
  }
  return out;
}

/** An absolute http: or https: URL with a port to dial, as the exporter parses it (`new URL`). */
export function isHttpUrl(text: string): boolean {
  try {
    const { protocol, port } = new URL(text);
    // Port 0 names no port: the exporter would dial the scheme's default (80) instead.
    return (protocol === 'http:' || protocol === 'https:') && port !== '0';
  } catch {
    return false;
  }
}

export function exportPlan(env: NodeJS.ProcessEnv = process.env): ExportPlan {
  if (sdkDisabled(env)) return {};
  return {
    traces: signal(env, 'TRACES', env.OTEL_TRACES_EXPORTER),
    metrics: signal(env, 'METRICS', env.OTEL_METRICS_EXPORTER),
  };
}

function signal(env: NodeJS.ProcessEnv, name: 'TRACES' | 'METRICS', exporterVar: string | undefined): SignalExport | undefined {
  const varName = `OTEL_${name}_EXPORTER`;
  let kinds: string[];
  if (set(exporterVar)) {
    kinds = list(exporterVar);
  } else if (set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env[`OTEL_EXPORTER_OTLP_${name}_ENDPOINT`])) {
    kinds = ['otlp'];
  } else {
    return undefined;
  }
  if (kinds.includes('none')) return undefined;
  // The OTLP exporters' own configuration silently falls back to the default for an endpoint that
  // is not a URL (`collector:4318`, a port past 65535), and ./otlp.ts for one of another scheme:
  // say so once.
  for (const v of ['OTEL_EXPORTER_OTLP_ENDPOINT', `OTEL_EXPORTER_OTLP_${name}_ENDPOINT`]) {
    const endpoint = env[v];
    if (set(endpoint) && !isHttpUrl(endpoint.trim()))
      warnOnce(
        `${v}=${JSON.stringify(endpoint)} is not a valid http:// or https:// URL; the exporter uses its default, http://localhost:4318`,
      );
  }
  for (const k of kinds) {
    if (k !== 'otlp' && k !== 'console')
      diag(
        'warn',
        `${varName}=${k} is not supported by resetwatch's own exporter; use otlp or console, or start your own NodeSDK (resetwatch then uses it)`,
      );
  }
  if (kinds.includes('otlp')) {
    const raw = (env[`OTEL_EXPORTER_OTLP_${name}_PROTOCOL`] ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim().toLowerCase();
    if (raw === 'http/protobuf' || raw === 'http/json') return { kind: 'otlp', protocol: raw };
    if (raw === 'grpc') {
      diag(
        'warn',
        `OTLP protocol grpc is not supported by resetwatch's own ${name.toLowerCase()} exporter; set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (port 4318), or start your own NodeSDK (resetwatch then uses it)`,
      );
      return undefined;
    }
    const protocolVar =
      env[`OTEL_EXPORTER_OTLP_${name}_PROTOCOL`] !== undefined ? `OTEL_EXPORTER_OTLP_${name}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    warnOnce(`${protocolVar}=${JSON.stringify(raw)} is not valid; using http/protobuf`);
    return { kind: 'otlp', protocol: 'http/protobuf' };
  }
  if (kinds.includes('console')) return { kind: 'console' };
  return undefined;
}
