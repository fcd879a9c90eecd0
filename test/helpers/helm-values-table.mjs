// The values table of helm/README.md, computed from helm/resetwatch/values.yaml and its schema.
// To refresh the README after changing values.yaml: node test/helpers/helm-values-table.mjs
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

// The values table of helm/README.md: one row per key of values.yaml (maps the schema declares
// keys for are walked into; free-form maps such as labels are one row), its default, and the
// `# --` comment above it.
export function valuesTable(doc, schemaRoot) {
  const rows = ['| key | default | description |', '| --- | --- | --- |'];
  const esc = (t) => t.replace(/\|/g, '\\|');
  const walk = (map, prefix, node) => {
    for (const pair of map.items) {
      const key = prefix + pair.key.value;
      const sub = node.properties[pair.key.value];
      if (YAML.isMap(pair.value) && pair.value.items.length && sub.properties) {
        walk(pair.value, `${key}.`, sub);
        continue;
      }
      const lines = (pair.key.commentBefore ?? (pair === map.items[0] ? map.commentBefore : undefined) ?? '').split('\n');
      const from = Math.max(
        0,
        lines.findIndex((l) => l.trim().startsWith('--')),
      );
      const text = lines
        .slice(from)
        .map((l) => l.trim().replace(/^-- ?/, ''))
        .join(' ')
        .trim();
      rows.push(`| \`${key}\` | \`${esc(JSON.stringify(pair.value.toJSON()))}\` | ${esc(text)} |`);
    }
  };
  walk(doc.contents, '', schemaRoot);
  return rows.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const chart = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../helm/resetwatch');
  const doc = YAML.parseDocument(readFileSync(path.join(chart, 'values.yaml'), 'utf8'));
  console.log(valuesTable(doc, JSON.parse(readFileSync(path.join(chart, 'values.schema.json'), 'utf8'))));
}
