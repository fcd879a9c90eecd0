// Checks rendered Kubernetes objects without an API server, two ways:
// - schemaErrors: the OpenAPI schemas of Kubernetes and of prometheus-operator's CRDs, as compiled
//   validators in `kubernetes-models` / `@kubernetes-models/prometheus-operator` (types, required
//   fields, enums, patterns). Those validators accept unknown fields, so
// - unknownFieldErrors: every object becomes a typed object literal (`kubernetes-types` for core
//   kinds, the kubernetes-models interfaces for the CRDs) and the real TypeScript compiler reports
//   excess properties, wrong types and misspelt fields at any depth.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helm.mjs';

// apiVersion/kind → [the kubernetes-models module, the type for tsc]
const KINDS = {
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', ['kubernetes-types/core/v1', 'ConfigMap']],
  'v1/Service': ['kubernetes-models/v1/Service', ['kubernetes-types/core/v1', 'Service']],
  'v1/Secret': ['kubernetes-models/v1/Secret', ['kubernetes-types/core/v1', 'Secret']],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', ['kubernetes-types/apps/v1', 'Deployment']],
  'networking.k8s.io/v1/NetworkPolicy': [
    'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
    ['kubernetes-types/networking/v1', 'NetworkPolicy'],
  ],
  'monitoring.coreos.com/v1/PodMonitor': [
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', 'IPodMonitor'],
  ],
  'monitoring.coreos.com/v1/ServiceMonitor': [
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'],
  ],
  'monitoring.coreos.com/v1/PrometheusRule': [
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', 'IPrometheusRule'],
  ],
};

const keyOf = (o) => `${o.apiVersion}/${o.kind}`;
export const knownKind = (o) => keyOf(o) in KINDS;

/** Schema violations of each object: [] when all are valid. */
export async function schemaErrors(objects) {
  const out = [];
  for (const o of objects) {
    const entry = KINDS[keyOf(o)];
    if (!entry) {
      out.push(`${keyOf(o)}: no schema known to the test`);
      continue;
    }
    const mod = await import(entry[0]);
    const Model = mod[o.kind];
    try {
      new Model(o).validate();
    } catch (err) {
      out.push(`${o.kind}/${o.metadata?.name}: ${err.message}`);
    }
  }
  return out;
}

/** tsc's diagnostics for the objects as typed literals: '' when all type-check. */
export function unknownFieldErrors(objects) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-k8s-types-'));
  try {
    const imports = new Map();
    const lines = [];
    objects.forEach((o, i) => {
      const entry = KINDS[keyOf(o)];
      if (!entry) throw new Error(`${keyOf(o)}: no type known to the test`);
      const [from, type] = entry[1];
      const alias = `T_${type}_${[...imports.keys()].length}`;
      if (!imports.has(`${from}#${type}`)) imports.set(`${from}#${type}`, alias);
      lines.push(
        `// ${o.kind}/${o.metadata?.name}`,
        `export const o${i}: ${imports.get(`${from}#${type}`)} = ${JSON.stringify(o, null, 2)};`,
      );
    });
    const head = [...imports].map(([k, alias]) => {
      const [from, type] = k.split('#');
      return `import type { ${type} as ${alias} } from '${from}';`;
    });
    // The type packages resolve from this repository's node_modules.
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    writeFileSync(path.join(dir, 'objects.mts'), [...head, ...lines, ''].join('\n'));
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          module: 'preserve',
          moduleResolution: 'bundler',
          target: 'es2022',
          types: [],
        },
        files: ['objects.mts'],
      }),
    );
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', timeout: 60000 });
    if (r.error) throw r.error;
    return r.status === 0 ? '' : `${r.stdout}${r.stderr}` || `tsc exited ${r.status}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
