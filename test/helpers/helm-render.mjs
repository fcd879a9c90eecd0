// Rendering the charts for the tests: the resetwatch chart straight from the checkout, the example
// app chart from a temp copy of helm/ (symlinks dereferenced) after `helm dependency build`, the
// way an app team would vendor the chart.
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { APP_CHART, CHART, ROOT, helm } from './helm.mjs';

export const MAJORS = [3, 4];

/** The ci/*-values.yaml scenarios of a chart directory, as absolute paths. */
export const ciValues = (chart) =>
  readdirSync(path.join(chart, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => path.join(chart, 'ci', f));

/** Parses `helm template` output into plain objects (empty documents dropped). */
export function parseObjects(text) {
  const docs = YAML.parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) throw new Error(`unparsable helm output: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((o) => o && typeof o === 'object');
}

/** A temp copy of helm/ (the app chart's dependency built unless told not to); { root, app, chart, cleanup }. */
export function vendoredTree(major = 4, { build = true } = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-helm-tree-'));
  cpSync(path.join(ROOT, 'helm'), path.join(root, 'helm'), { recursive: true, dereference: true });
  const app = path.join(root, path.relative(ROOT, APP_CHART));
  rmSync(path.join(app, 'charts'), { recursive: true, force: true });
  if (build) {
    const r = helm(major, ['dependency', 'build', app]);
    if (r.status !== 0) throw new Error(`helm dependency build: ${r.stderr}`);
  }
  return { root, app, chart: path.join(root, path.relative(ROOT, CHART)), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * `helm template` of `chart` with values files and --set-json pairs: { status, stdout, stderr,
 * objects } (objects only when it succeeded).
 */
export function render(major, chart, { files = [], setJson = [], release = 'rw', namespace = 'monitoring' } = {}) {
  const args = ['template', release, chart, '--namespace', namespace];
  for (const f of files) args.push('-f', f);
  for (const s of setJson) args.push('--set-json', s);
  const r = helm(major, args);
  return { ...r, objects: r.status === 0 ? parseObjects(r.stdout) : undefined };
}
