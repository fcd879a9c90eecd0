// Whether the standard OpenTelemetry variables ask for export, decided without loading any SDK
// code (the preload must stay cheap). Spec: opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables
// Differences: with no OTEL_*_EXPORTER and no endpoint variable nothing is exported (the spec's
// default exporter is otlp; we only export when asked), and grpc is not supported (one line).
import { diag } from '../../agent/diag';

export type SignalExport = { kind: 'otlp'; protocol: 'http/protobuf' | 'http/json' } | { kind: 'console' };

export interface ExportPlan {
  traces?: SignalExport;
  metrics?: SignalExport;
}

const truthy = (v: string | undefined) => v !== undefined && v.trim().toLowerCase() === 'true';
const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

export function exportPlan(env: NodeJS.ProcessEnv = process.env): ExportPlan {
  if (truthy(env.OTEL_SDK_DISABLED)) return {};
  return {
    traces: signal(env, 'TRACES', env.OTEL_TRACES_EXPORTER),
    metrics: signal(env, 'METRICS', env.OTEL_METRICS_EXPORTER),
  };
}

function signal(env: NodeJS.ProcessEnv, name: 'TRACES' | 'METRICS', exporterVar: string | undefined): SignalExport | undefined {
  const varName = `OTEL_${name}_EXPORTER`;
  let kinds: string[];
  if (set(exporterVar)) {
    kinds = exporterVar
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);
  } else if (set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env[`OTEL_EXPORTER_OTLP_${name}_ENDPOINT`])) {
    kinds = ['otlp'];
  } else {
    return undefined;
  }
  if (kinds.includes('none')) return undefined;
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
    diag('warn', `OTEL_EXPORTER_OTLP_PROTOCOL=${JSON.stringify(raw)} is not valid; using http/protobuf`);
    return { kind: 'otlp', protocol: 'http/protobuf' };
  }
  if (kinds.includes('console')) return { kind: 'console' };
  return undefined;
}
