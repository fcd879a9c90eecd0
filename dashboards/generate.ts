// `npm run dashboards`: writes every generated file into dashboards/generated/ (or --out DIR).
// Options: --runbook-url URL, --datasource-uid UID (Grafana-managed rules), --folder TITLE.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS, renderAll } from './render';

export const GENERATED_DIR = path.resolve(__dirname, '../../dashboards/generated');

const OPTIONS = {
  out: { type: 'string', default: GENERATED_DIR },
  'runbook-url': { type: 'string', default: DEFAULT_OPTIONS.runbookUrl },
  'datasource-uid': { type: 'string', default: DEFAULT_OPTIONS.grafanaDatasourceUid },
  folder: { type: 'string', default: DEFAULT_OPTIONS.grafanaFolder },
} as const;

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS }).values;
}

function main(argv: string[]): number {
  let values: ReturnType<typeof parse>;
  try {
    values = parse(argv);
  } catch (err) {
    process.stderr.write(`dashboards: ${(err as Error).message}\n`);
    return 2;
  }
  const files = renderAll({
    runbookUrl: values['runbook-url'],
    grafanaDatasourceUid: values['datasource-uid'],
    grafanaFolder: values.folder,
  });
  mkdirSync(values.out, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(path.join(values.out, name), content);
    process.stdout.write(`dashboards: wrote ${path.join(values.out, name)}\n`);
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
