// The commands in README.md's "Kubernetes" section and helm/README.md run as written, in `sh`,
// against the real helm and kubectl, offline: `helm` and `kubectl` on PATH are shims that run the
// real binaries with the cluster-free form of each command (install → template, create →
// --dry-run=client -o yaml, patch deployment → patch --local on the manifest of that Deployment,
// apply -k → kustomize) and keep what they print. Every object printed is then validated.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, cleanupHelmHome, helmBin, kubectlBin } from './helpers/helm.mjs';
import { parseObjects, vendoredTree } from './helpers/helm-render.mjs';
import { schemaErrors, unknownFieldErrors } from './helpers/k8s-check.mjs';

// Not built: the README's own `helm dependency build` has to do it.
const tree = vendoredTree(4, { build: false });
after(() => {
  tree.cleanup();
  cleanupHelmHome();
});

/** The ```sh blocks of a markdown text (optionally only those under one `## ` heading). */
function shBlocks(md, heading) {
  let text = md;
  if (heading) {
    const start = md.indexOf(`\n## ${heading}\n`);
    assert.ok(start >= 0, `no section ${heading}`);
    const end = md.indexOf('\n## ', start + 4);
    text = md.slice(start, end === -1 ? undefined : end);
  }
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

// The shim: one Node script behind both names.
const SHIM = `
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const [tool, ...args] = process.argv.slice(2);
const out = process.env.SHIM_OUT;
const real = { helm: process.env.SHIM_HELM, kubectl: process.env.SHIM_KUBECTL }[tool];
let run = args;
let saveAs;
const flag = (name) => { const i = args.indexOf(name); return i === -1 ? undefined : args[i + 1]; };
if (tool === 'helm' && args[0] === 'install') run = ['template', ...args.slice(1)];
if (tool === 'kubectl' && args[0] === 'create') run = [...args, '--dry-run=client', '-o', 'yaml'];
if (tool === 'kubectl' && args[0] === 'apply' && args[1] === '-k') run = ['kustomize', args[2]];
if (tool === 'kubectl' && args[0] === 'patch' && args[1] === 'deployment') {
  // The Deployment you do not own: helm/patch/deployment.yaml, as patched so far.
  saveAs = path.join(out, 'deployment-' + args[2] + '.yaml');
  if (!fs.existsSync(saveAs)) fs.copyFileSync('helm/patch/deployment.yaml', saveAs);
  const rest = args.slice(3).filter((a, i, all) => a !== '--namespace' && all[i - 1] !== '--namespace');
  run = ['patch', '--local', '-f', saveAs, ...rest, '-o', 'yaml'];
}
const r = spawnSync(real, run, { encoding: 'utf8', maxBuffer: 64 << 20 });
if (r.error) throw r.error;
process.stderr.write(r.stderr);
if (r.status === 0 && r.stdout.trim()) {
  const n = fs.readdirSync(out).filter((f) => f.startsWith('out-')).length;
  fs.writeFileSync(path.join(out, 'out-' + String(n).padStart(2, '0') + '-' + tool + '-' + args[0] + '.yaml'), r.stdout);
  if (saveAs) fs.writeFileSync(saveAs, r.stdout);
}
process.exit(r.status ?? 1);
`;

function runBlocks(blocks, name) {
  const dir = path.join(tree.root, `shim-${name}`);
  const bin = path.join(dir, 'bin');
  const out = path.join(dir, 'out');
  mkdirSync(bin, { recursive: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(dir, 'shim.cjs'), SHIM);
  for (const tool of ['helm', 'kubectl']) {
    writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec "${process.execPath}" "${path.join(dir, 'shim.cjs')}" ${tool} "$@"\n`);
    chmodSync(path.join(bin, tool), 0o755);
  }
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    SHIM_OUT: out,
    SHIM_HELM: helmBin(4),
    SHIM_KUBECTL: kubectlBin(),
    HELM_CACHE_HOME: path.join(dir, 'hc'),
    HELM_CONFIG_HOME: path.join(dir, 'hcfg'),
    HELM_DATA_HOME: path.join(dir, 'hd'),
    KUBECONFIG: path.join(dir, 'none'),
  };
  for (const block of blocks) {
    const r = spawnSync('sh', ['-e', '-c', block], { cwd: tree.root, env, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `${block}\n${r.stdout}${r.stderr}`);
  }
  return readdirSync(out)
    .filter((f) => f.startsWith('out-'))
    .sort()
    .map((f) => ({ file: f, objects: parseObjects(readFileSync(path.join(out, f), 'utf8')) }))
    .filter((o) => o.objects.length > 0); // e.g. `helm dependency build` prints no object
}

test('README.md "Kubernetes": every command runs, and what it renders is valid', async () => {
  const blocks = shBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), 'Kubernetes');
  assert.equal(blocks.length, 3);
  const outs = runBlocks(blocks, 'readme');
  const all = outs.flatMap((o) => o.objects);
  assert.deepEqual(await schemaErrors(all), []);
  assert.equal(unknownFieldErrors(all), '');
  const kinds = outs.map((o) => `${o.file.replace(/^out-\d+-/, '')}: ${o.objects.map((x) => x.kind).join(',')}`);
  assert.deepEqual(kinds, [
    'kubectl-create.yaml: Secret',
    'kubectl-create.yaml: Secret',
    'helm-install.yaml: NetworkPolicy,ConfigMap,PodMonitor,PrometheusRule',
    'helm-install.yaml: Service,Deployment',
    'kubectl-patch.yaml: Deployment',
    'kubectl-patch.yaml: Deployment',
  ]);
  // One token in both namespaces, and the PodMonitor and the app read the same Secret key.
  const [s1, s2] = outs.slice(0, 2).map((o) => o.objects[0]);
  assert.deepEqual([s1.metadata.namespace, s2.metadata.namespace], ['monitoring', 'shop']);
  assert.equal(s1.data.token, s2.data.token);
  assert.ok(Buffer.from(s1.data.token, 'base64').length >= 24);
  const pm = outs[2].objects.find((o) => o.kind === 'PodMonitor');
  assert.equal(pm.metadata.labels.release, 'kube-prometheus-stack');
  assert.deepEqual(pm.spec.podMetricsEndpoints[0].authorization.credentials, { name: s1.metadata.name, key: 'token' });
  assert.equal(outs[2].objects.find((o) => o.kind === 'PrometheusRule').metadata.labels.release, 'kube-prometheus-stack');
  assert.equal(outs[2].objects.find((o) => o.kind === 'NetworkPolicy').metadata.namespace, 'shop');
  const dep = outs[3].objects.find((o) => o.kind === 'Deployment');
  const env = dep.spec.template.spec.containers[0].env;
  assert.deepEqual(env.find((e) => e.name === 'RESETWATCH_METRICS_TOKEN').valueFrom.secretKeyRef, { name: s1.metadata.name, key: 'token' });
  assert.equal(dep.spec.template.metadata.labels[Object.keys(pm.spec.selector.matchLabels)[0]], 'true');
  assert.equal(dep.spec.template.metadata.labels[pm.spec.jobLabel], 'shop', 'the Job the README says to pick');
  // The patched Deployment carries the injection, its own NODE_OPTIONS first.
  const patched = outs[5].objects[0];
  assert.deepEqual(
    patched.spec.template.spec.containers[0].env.filter((e) => e.name === 'NODE_OPTIONS').map((e) => e.value),
    ['--require ./tracing.cjs', '$(NODE_OPTIONS) --require /resetwatch-agent/node_modules/resetwatch'],
  );
  // The dashboard the README names is the one in the ConfigMap.
  const cm = outs[2].objects.find((o) => o.kind === 'ConfigMap');
  assert.equal(JSON.parse(cm.data['resetwatch-overview.json']).title, 'resetwatch / Connection resets');
  assert.equal(cm.metadata.annotations.grafana_folder, 'resetwatch');
});

test('helm/README.md: the kubectl commands run; the docker build is the one block that needs a container runtime', async () => {
  const blocks = shBlocks(readFileSync(path.join(ROOT, 'helm/README.md'), 'utf8'));
  const docker = blocks.filter((b) => /docker build/.test(b));
  assert.equal(docker.length, 1);
  const outs = runBlocks(
    blocks.filter((b) => !docker.includes(b)),
    'helm-readme',
  );
  assert.equal(outs.length, 2);
  assert.equal(unknownFieldErrors(outs.flatMap((o) => o.objects)), '');
  // The Dockerfile path and image name in the build command are the real ones.
  assert.match(docker[0], /-f helm\/agent-image\/Dockerfile/);
  const values = readFileSync(path.join(ROOT, 'helm/resetwatch/values.yaml'), 'utf8');
  const repo = /repository: (\S+)/.exec(values)[1];
  const tag = /tag: "([^"]+)"/.exec(values)[1];
  assert.ok(docker[0].includes(`-t ${repo}:${tag} `), docker[0]);
});
