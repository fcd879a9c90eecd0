// The Helm chart (helm/resetwatch) and the example app chart that injects the agent with its named
// templates (helm/examples/app), checked with the real helm 3 and helm 4, kubectl (offline),
// yamllint, promtool, and the Kubernetes and prometheus-operator schemas plus a TypeScript check
// for unknown fields. No API server: admission, CRDs and the image build are not exercised here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { APP_CHART, CHART, ROOT, cleanupHelmHome, helm, kubectl } from './helpers/helm.mjs';
import { MAJORS, ciValues, parseObjects, render, vendoredTree } from './helpers/helm-render.mjs';
import { schemaErrors, unknownFieldErrors } from './helpers/k8s-check.mjs';
import { valuesTable } from './helpers/helm-values-table.mjs';

const GENERATED = path.join(ROOT, 'dashboards/generated');
const generatedRules = YAML.parse(readFileSync(path.join(GENERATED, 'prometheus-rules.yml'), 'utf8'));
const ALERTS = generatedRules.groups.flatMap((g) => g.rules.map((r) => r.alert));
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const values = YAML.parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8'));
const REQUIRE = `--require ${values.injection.mountPath}/node_modules/resetwatch`;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-helm-test-'));
const tree = vendoredTree();
after(() => {
  tree.cleanup();
  rmSync(tmp, { recursive: true, force: true });
  cleanupHelmHome();
});

// Every scenario of both charts, rendered once per helm major.
const SCENARIOS = [
  ...ciValues(CHART).map((f) => ({ name: `resetwatch/${path.basename(f)}`, chart: CHART, file: f })),
  ...ciValues(APP_CHART).map((f) => ({ name: `app/${path.basename(f)}`, chart: tree.app, file: f })),
];
const rendered = new Map(); // `${major} ${name}` → objects
function objectsOf(major, name) {
  const key = `${major} ${name}`;
  if (!rendered.has(key)) {
    const s = SCENARIOS.find((x) => x.name === name);
    const r = render(major, s.chart, { files: [s.file] });
    assert.equal(r.status, 0, `helm ${major} template ${name}: ${r.stderr}`);
    rendered.set(key, r.objects);
  }
  return rendered.get(key);
}
const find = (objects, kind) => objects.filter((o) => o.kind === kind);
const one = (objects, kind) => {
  const l = find(objects, kind);
  assert.equal(l.length, 1, `one ${kind}`);
  return l[0];
};

test('helm lint --strict passes for both charts and every ci scenario, on helm 3 and helm 4', () => {
  for (const major of MAJORS) {
    for (const s of SCENARIOS) {
      const r = helm(major, ['lint', '--strict', s.chart, '-f', s.file]);
      assert.equal(r.status, 0, `helm ${major} lint ${s.name}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  }
});

test('helm 3 and helm 4 render every ci scenario to the same objects', () => {
  for (const s of SCENARIOS) {
    const [three, four] = MAJORS.map((m) => objectsOf(m, s.name));
    assert.ok(three.length > 0, s.name);
    assert.deepEqual(three, four, s.name);
  }
});

test('every rendered object passes the Kubernetes and prometheus-operator schemas and has no unknown field', async () => {
  const all = SCENARIOS.flatMap((s) => objectsOf(4, s.name));
  assert.deepEqual(await schemaErrors(all), []);
  assert.equal(unknownFieldErrors(all), '');
  // The checks can fail: a misspelt field, a field at the wrong level, a bad duration.
  const pm = structuredClone(one(objectsOf(4, 'resetwatch/default-values.yaml'), 'PodMonitor'));
  pm.spec.podMetricsEndpoints[0].bearerToken = 'x';
  const dep = structuredClone(one(objectsOf(4, 'app/default-values.yaml'), 'Deployment'));
  dep.spec.template.spec.initContainers[0].securityContext.runAsNonroot = true;
  const errs = unknownFieldErrors([pm, dep]);
  assert.match(errs, /'"bearerToken"' does not exist/);
  assert.match(errs, /'"runAsNonroot"' does not exist/);
  pm.spec.podMetricsEndpoints[0].interval = 'soon';
  assert.match((await schemaErrors([pm])).join('\n'), /interval must match pattern/);
});

test('yamllint accepts every rendered manifest', () => {
  const config = path.join(tmp, 'yamllint.yml');
  // Long lines are the generated alert texts and dashboard JSON; sequences inside mappings come
  // out unindented from toYaml and indented from hand-written templates, both valid YAML.
  writeFileSync(config, 'extends: default\nrules:\n  line-length: disable\n  indentation:\n    indent-sequences: whatever\n');
  const files = [];
  for (const major of MAJORS) {
    for (const s of SCENARIOS) {
      const r = helm(major, ['template', 'rw', s.chart, '-f', s.file, '--namespace', 'monitoring']);
      assert.equal(r.status, 0, r.stderr);
      const f = path.join(tmp, `${major}-${s.name.replace('/', '-')}`);
      writeFileSync(f, r.stdout);
      files.push(f);
    }
  }
  const r = spawnSync('yamllint', ['-f', 'parsable', '-c', config, ...files], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `yamllint:\n${r.stdout}${r.stderr}`);
  // yamllint does fail on a duplicate key (the reason labels are merged into one map).
  writeFileSync(path.join(tmp, 'dup.yaml'), '---\na: 1\na: 2\n');
  assert.notEqual(spawnSync('yamllint', ['-c', config, path.join(tmp, 'dup.yaml')]).status, 0);
});

test('every container the charts render runs non-root, read-only, without privileges, seccomp RuntimeDefault', () => {
  let containers = 0;
  for (const s of SCENARIOS) {
    for (const d of find(objectsOf(4, s.name), 'Deployment')) {
      const spec = d.spec.template.spec;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        containers++;
        assert.deepEqual(
          c.securityContext,
          {
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          `${s.name} ${c.name}`,
        );
      }
    }
  }
  assert.ok(containers >= 6);
});

test('the values schema rejects unknown keys and bad values with a clear message, on helm 3 and helm 4', () => {
  const cases = [
    [['podMonitor.intervall="30s"'], /intervall/],
    [['agnet={}'], /agnet/],
    [['agent.logLevel="loud"'], /logLevel.*(one of|must be).*debug/s],
    [['otel.protocol="grpc"'], /protocol.*http\/protobuf/s],
    [['prometheusRule.disabled={"ResetwatchNoSuchAlert":true}'], /ResetwatchNoSuchAlert/],
    [['agent.portName="resetwatch-metrics"'], /portName/],
    [['podMonitor.interval="soon"'], /interval/],
    // The agent's own bounds (agent/config.ts): above them it would fall back to its default.
    [['agent.maxPeers=20000'], /maxPeers/],
    [['agent.recent=10001'], /recent/],
    [['otel.extraEnv={"NODE_OPTIONS":"--inspect"}'], /NODE_OPTIONS|propertyNames|OTEL_/],
  ];
  for (const major of MAJORS) {
    for (const [setJson, message] of cases) {
      const r = render(major, CHART, { setJson });
      assert.notEqual(r.status, 0, `helm ${major} accepted ${setJson}`);
      assert.match(r.stderr, message, `helm ${major} ${setJson}: ${r.stderr}`);
    }
  }
});

test("NODE_OPTIONS: appended to the app's own, added when absent, and a valueFrom one fails the render with a clear message", () => {
  for (const major of MAJORS) {
    const env = (name) => {
      const c = one(objectsOf(major, name), 'Deployment').spec.template.spec.containers[0];
      return c.env.filter((e) => e.name === 'NODE_OPTIONS');
    };
    assert.deepEqual(env('app/default-values.yaml'), [{ name: 'NODE_OPTIONS', value: `--require ./tracing.cjs ${REQUIRE}` }]);
    assert.deepEqual(env('app/no-node-options-values.yaml'), [{ name: 'NODE_OPTIONS', value: REQUIRE }]);
    // An OTel-operator or dd-trace style NODE_OPTIONS with flags keeps them all, in front.
    const mixed = render(major, tree.app, {
      setJson: ['env=[{"name":"NODE_OPTIONS","value":"--max-old-space-size=512 --require dd-trace/init"}]'],
    });
    assert.equal(mixed.status, 0, mixed.stderr);
    assert.deepEqual(one(mixed.objects, 'Deployment').spec.template.spec.containers[0].env[0], {
      name: 'NODE_OPTIONS',
      value: `--max-old-space-size=512 --require dd-trace/init ${REQUIRE}`,
    });
    // Already there (e.g. set by hand): not appended twice.
    const twice = render(major, tree.app, { setJson: [`env=[{"name":"NODE_OPTIONS","value":"--require ./tracing.cjs ${REQUIRE}"}]`] });
    assert.equal(twice.status, 0, twice.stderr);
    assert.equal(one(twice.objects, 'Deployment').spec.template.spec.containers[0].env[0].value, `--require ./tracing.cjs ${REQUIRE}`);
    const fromSecret = render(major, tree.app, {
      setJson: ['env=[{"name":"NODE_OPTIONS","valueFrom":{"configMapKeyRef":{"name":"node","key":"options"}}}]'],
    });
    assert.notEqual(fromSecret.status, 0);
    assert.match(fromSecret.stderr, /resetwatch: this container takes NODE_OPTIONS from valueFrom.*node-options-append\.json/s);
  }
});

test('agent settings map to RESETWATCH_* and OTEL_*; the token comes from the existing Secret on both ends', () => {
  const objs = objectsOf(4, 'app/token-otel-values.yaml');
  const c = one(objs, 'Deployment').spec.template.spec.containers[0];
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.RESETWATCH_HOST, '0.0.0.0');
  assert.equal(env.RESETWATCH_PORT, '9465');
  assert.equal(env.RESETWATCH_MAX_PEERS, '50');
  assert.equal(env.RESETWATCH_LOG, '/tmp/resetwatch.log');
  assert.deepEqual(env.RESETWATCH_METRICS_TOKEN, { secretKeyRef: { name: 'resetwatch-metrics', key: 'token' } });
  assert.equal(env.OTEL_SERVICE_NAME, 'shop');
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector.observability:4318');
  assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
  assert.equal(env.OTEL_TRACES_SAMPLER_ARG, '0.1');
  assert.equal(new Set(c.env.map((e) => e.name)).size, c.env.length, 'no variable twice');
  // The OpenTelemetry resource's Kubernetes attributes: Downward API, and the container's name.
  assert.deepEqual(env.RESETWATCH_K8S_POD_NAME, { fieldRef: { fieldPath: 'metadata.name' } });
  assert.deepEqual(env.RESETWATCH_K8S_NAMESPACE_NAME, { fieldRef: { fieldPath: 'metadata.namespace' } });
  assert.deepEqual(env.RESETWATCH_K8S_NODE_NAME, { fieldRef: { fieldPath: 'spec.nodeName' } });
  assert.equal(env.RESETWATCH_K8S_CONTAINER_NAME, c.name);
  // Without an endpoint no OTEL_EXPORTER_* is set (the agent then exports nothing over OTLP).
  const plain = one(objectsOf(4, 'app/default-values.yaml'), 'Deployment').spec.template.spec.containers[0].env;
  assert.ok(!plain.some((e) => e.name.startsWith('OTEL_')));
  assert.ok(!plain.some((e) => e.name === 'RESETWATCH_METRICS_TOKEN'));
  // The PodMonitor and ServiceMonitor send that same Secret's key as bearer token.
  for (const kind of ['PodMonitor', 'ServiceMonitor']) {
    const m = one(objectsOf(4, 'resetwatch/everything-values.yaml'), kind);
    const ep = (m.spec.podMetricsEndpoints ?? m.spec.endpoints)[0];
    assert.deepEqual(ep.authorization, { type: 'Bearer', credentials: { name: 'resetwatch-metrics', key: 'token' } });
  }
  assert.equal(one(objectsOf(4, 'resetwatch/default-values.yaml'), 'PodMonitor').spec.podMetricsEndpoints[0].authorization, undefined);
});

test('the PodMonitor scrapes the named port the injection templates declare, on pods with the injection label', () => {
  const app = objectsOf(4, 'app/default-values.yaml');
  const dep = one(app, 'Deployment');
  const port = dep.spec.template.spec.containers[0].ports.find((p) => p.containerPort === values.agent.port);
  const pm = one(objectsOf(4, 'resetwatch/default-values.yaml'), 'PodMonitor');
  assert.equal(pm.spec.podMetricsEndpoints[0].port, port.name);
  assert.equal(pm.spec.podMetricsEndpoints[0].path, '/metrics');
  assert.deepEqual(pm.spec.namespaceSelector, { any: true });
  for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) assert.equal(dep.spec.template.metadata.labels[k], v);
  // The ServiceMonitor: the Service's port of that name, the Service carries the label.
  const svc = one(app, 'Service');
  const sm = one(objectsOf(4, 'resetwatch/everything-values.yaml'), 'ServiceMonitor');
  assert.ok(svc.spec.ports.some((p) => p.name === sm.spec.endpoints[0].port && p.targetPort === port.name));
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v);
  // The release label of kube-prometheus-stack lands on every monitoring object that asked for it.
  for (const kind of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule']) {
    assert.equal(one(objectsOf(4, 'resetwatch/everything-values.yaml'), kind).metadata.labels.release, 'kube-prometheus-stack');
  }
});

test('the PrometheusRule is dashboards/generated/prometheus-rules.yml; promtool checks and tests what was rendered', () => {
  for (const major of MAJORS) {
    const rule = one(objectsOf(major, 'resetwatch/default-values.yaml'), 'PrometheusRule');
    assert.deepEqual(rule.spec.groups, generatedRules.groups);
  }
  const rule = one(objectsOf(4, 'resetwatch/default-values.yaml'), 'PrometheusRule');
  const dir = path.join(tmp, 'rules');
  rmSync(dir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(path.join(dir, 'prometheus-rules.yml'), YAML.stringify({ groups: rule.spec.groups }));
  copyFileSync(path.join(GENERATED, 'prometheus-rules.test.yml'), path.join(dir, 'prometheus-rules.test.yml'));
  const check = spawnSync('promtool', ['check', 'rules', 'prometheus-rules.yml'], { cwd: dir, encoding: 'utf8', timeout: 60000 });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout + check.stderr, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  const unit = spawnSync('promtool', ['test', 'rules', 'prometheus-rules.test.yml'], { cwd: dir, encoding: 'utf8', timeout: 60000 });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  // The chart's files/ entries are links into dashboards/generated (no copy that could drift).
  for (const f of ['prometheus-rules.yml', 'resetwatch-overview.json', 'grafana-alerting.yml']) {
    const link = path.join(CHART, 'files', f);
    assert.equal(path.resolve(path.dirname(link), readlinkOr(link)), path.join(GENERATED, f), f);
  }
});

function readlinkOr(p) {
  const r = spawnSync('readlink', [p], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${p} is not a symlink`);
  return r.stdout.trim();
}

test('PrometheusRule options: disabled alerts, additional rule labels and annotations, runbookUrl', () => {
  const rule = one(objectsOf(4, 'resetwatch/everything-values.yaml'), 'PrometheusRule');
  const rules = rule.spec.groups.flatMap((g) => g.rules);
  assert.deepEqual(
    rules.map((r) => r.alert),
    ALERTS.filter((a) => a !== 'ResetwatchKeepAliveRace'),
  );
  const original = Object.fromEntries(generatedRules.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
  for (const r of rules) {
    const o = original[r.alert];
    assert.equal(r.expr, o.expr);
    assert.deepEqual(r.labels, { ...o.labels, team: 'platform' });
    assert.equal(r.annotations.runbook_url, `https://wiki.example.com/runbooks/resetwatch#${r.alert.toLowerCase()}`);
    assert.equal(r.annotations.dashboard, 'https://grafana.example.com/d/resetwatch-overview');
    assert.equal(r.annotations.summary, o.annotations.summary);
  }
  // The schema's list of alerts that can be disabled is exactly the generated alerts.
  assert.deepEqual(Object.keys(schema.properties.prometheusRule.properties.disabled.properties), ALERTS);
  const dir = path.join(tmp, 'rules-custom');
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(path.join(dir, 'rules.yml'), YAML.stringify({ groups: rule.spec.groups }));
  const check = spawnSync('promtool', ['check', 'rules', 'rules.yml'], { cwd: dir, encoding: 'utf8', timeout: 60000 });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});

test('the dashboard and Grafana alert ConfigMaps hold the committed files, labelled for the Grafana sidecar', () => {
  const objs = objectsOf(4, 'resetwatch/default-values.yaml');
  const dash = one(objs, 'ConfigMap');
  assert.equal(dash.data['resetwatch-overview.json'], readFileSync(path.join(GENERATED, 'resetwatch-overview.json'), 'utf8'));
  assert.equal(dash.metadata.labels.grafana_dashboard, '1');
  assert.equal(dash.metadata.annotations.grafana_folder, 'resetwatch');
  assert.equal(dash.metadata.namespace, 'monitoring');
  const every = objectsOf(4, 'resetwatch/everything-values.yaml');
  const alerts = find(every, 'ConfigMap').find((c) => c.metadata.name.endsWith('-grafana-alerts'));
  assert.equal(alerts.data['resetwatch-alerts.yaml'], readFileSync(path.join(GENERATED, 'grafana-alerting.yml'), 'utf8'));
  assert.equal(alerts.metadata.labels.grafana_alert, '1');
  assert.equal(alerts.metadata.namespace, 'grafana');
  const noFolder = one(
    objectsOf(4, 'resetwatch/dashboards-only-values.yaml').filter((o) => o.metadata.name.endsWith('-dashboards')),
    'ConfigMap',
  );
  assert.equal(noFolder.metadata.annotations, undefined);
});

test('the NetworkPolicy opens the metrics port to Prometheus only and every other port to everyone', () => {
  const pols = find(objectsOf(4, 'resetwatch/everything-values.yaml'), 'NetworkPolicy');
  assert.deepEqual(
    pols.map((p) => p.metadata.namespace),
    ['shop', 'payments'],
  );
  const port = values.agent.port;
  for (const p of pols) {
    assert.deepEqual(p.spec.policyTypes, ['Ingress']);
    const [prom, rest] = p.spec.ingress;
    assert.deepEqual(prom.ports, [{ protocol: 'TCP', port }]);
    assert.deepEqual(prom.from[0].podSelector.matchLabels, { 'app.kubernetes.io/name': 'prometheus' });
    assert.equal(rest.from, undefined, 'other ports from every source');
    // Every port of every protocol is covered exactly once, except the metrics port.
    for (const proto of ['TCP', 'UDP', 'SCTP']) {
      const ranges = rest.ports.filter((r) => r.protocol === proto).map((r) => [r.port, r.endPort ?? r.port]);
      const covered = ranges.reduce((a, [lo, hi]) => a + hi - lo + 1, 0);
      assert.equal(covered, 65534, proto);
      assert.ok(!ranges.some(([lo, hi]) => lo <= port && port <= hi), proto);
    }
  }
});

test('chart metadata: apiVersion v2, kubeVersion, appVersion and image tag equal the npm version', () => {
  const chart = YAML.parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8'));
  assert.equal(chart.apiVersion, 'v2');
  assert.match(chart.kubeVersion, /^>=1\.25/);
  assert.equal(chart.appVersion, pkg.version);
  assert.equal(values.image.tag, pkg.version);
  const app = YAML.parse(readFileSync(path.join(APP_CHART, 'Chart.yaml'), 'utf8'));
  assert.deepEqual(
    app.dependencies.map((d) => [d.name, d.version]),
    [['resetwatch', chart.version]],
  );
  assert.ok(existsSync(path.join(CHART, 'templates/NOTES.txt')));
  // A kubeVersion older than 1.25 is refused (NetworkPolicy endPort).
  const old = helm(4, ['template', 'rw', CHART, '--kube-version', '1.24.0']);
  assert.notEqual(old.status, 0);
  assert.match(old.stderr, /kubeVersion|incompatible/i);
});

test('values.yaml: every key has a comment, is in the schema with a description, and is in the helm/README.md table', () => {
  const doc = YAML.parseDocument(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
  const missing = [];
  const walk = (map, prefix, schemaNode) => {
    for (const pair of map.items) {
      const key = `${prefix}${pair.key.value}`;
      const sub = schemaNode?.properties?.[pair.key.value];
      if (!sub) {
        missing.push(`${key}: not in values.schema.json`);
        continue;
      }
      if (!sub.description && !(schemaNode.properties && sub.type === 'boolean' && prefix.endsWith('disabled.')))
        missing.push(`${key}: no description in the schema`);
      // The yaml parser hangs the comment above a map's first key on the map itself.
      if (!pair.key.commentBefore && !(pair === map.items[0] && map.commentBefore)) missing.push(`${key}: no comment in values.yaml`);
      if (YAML.isMap(pair.value) && sub.properties) walk(pair.value, `${key}.`, sub);
    }
  };
  walk(doc.contents, '', schema);
  assert.deepEqual(missing, []);
  // Strict everywhere: every object with declared properties rejects others.
  const loose = [];
  const strict = (node, at) => {
    if (node.properties && node.additionalProperties !== false) loose.push(at || '(root)');
    for (const [k, v] of Object.entries(node.properties ?? {})) strict(v, at ? `${at}.${k}` : k);
  };
  strict(schema, '');
  assert.deepEqual(loose, []);
  // The README's values table is exactly what values.yaml and its comments say.
  const readme = readFileSync(path.join(ROOT, 'helm/README.md'), 'utf8');
  const table = valuesTable(doc, schema);
  assert.ok(readme.includes(table), `helm/README.md lacks the current values table; it should read:\n${table}`);
});

test('helm package on helm 3 and helm 4: the archive holds the generated files themselves, not links', () => {
  for (const major of MAJORS) {
    const out = path.join(tmp, `pkg${major}`);
    const r = helm(major, ['package', CHART, '--destination', out]);
    assert.equal(r.status, 0, r.stderr);
    const tgz = path.join(out, `resetwatch-${YAML.parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')).version}.tgz`);
    const x = path.join(out, 'x');
    spawnSync('mkdir', ['-p', x]);
    const tar = spawnSync('tar', ['-xzf', tgz, '-C', x], { encoding: 'utf8' });
    assert.equal(tar.status, 0, tar.stderr);
    for (const f of ['prometheus-rules.yml', 'resetwatch-overview.json', 'grafana-alerting.yml']) {
      assert.equal(readFileSync(path.join(x, 'resetwatch/files', f), 'utf8'), readFileSync(path.join(GENERATED, f), 'utf8'), f);
    }
    assert.ok(existsSync(path.join(x, 'resetwatch/values.schema.json')));
    // The packaged chart renders like the directory.
    const fromTgz = render(major, tgz);
    assert.equal(fromTgz.status, 0, fromTgz.stderr);
    assert.deepEqual(fromTgz.objects, objectsOf(major, 'resetwatch/default-values.yaml'));
  }
});

test("kubectl patch and kustomize (helm/patch) inject what the chart's templates inject", () => {
  const patchDir = path.join(ROOT, 'helm/patch');
  const injected = one(objectsOf(4, 'app/default-values.yaml'), 'Deployment').spec.template.spec;
  const agentEnv = injected.containers[0].env.filter((e) => e.name.startsWith('RESETWATCH_'));
  const expectPod = (spec, nodeOptions) => {
    assert.deepEqual(spec.initContainers, injected.initContainers);
    assert.deepEqual(spec.volumes, injected.volumes);
    const c = spec.containers[0];
    assert.deepEqual(c.volumeMounts, injected.containers[0].volumeMounts);
    assert.deepEqual(
      c.ports.find((p) => p.name === values.agent.portName),
      injected.containers[0].ports.find((p) => p.name === values.agent.portName),
    );
    assert.deepEqual(
      c.env.filter((e) => e.name.startsWith('RESETWATCH_')),
      agentEnv,
    );
    assert.deepEqual(
      c.env.filter((e) => e.name === 'NODE_OPTIONS'),
      nodeOptions,
    );
  };
  // A Deployment that sets NODE_OPTIONS itself: the strategic merge patch, then the JSON patch
  // that appends a second NODE_OPTIONS built from the first ($(NODE_OPTIONS), expanded by the kubelet).
  const step1 = kubectl([
    'patch',
    '--local',
    '-f',
    path.join(patchDir, 'deployment.yaml'),
    '--patch-file',
    path.join(patchDir, 'resetwatch.yaml'),
    '-o',
    'yaml',
  ]);
  assert.equal(step1.status, 0, step1.stderr);
  const mid = path.join(tmp, 'patched.yaml');
  writeFileSync(mid, step1.stdout);
  const step2 = kubectl([
    'patch',
    '--local',
    '-f',
    mid,
    '--type',
    'json',
    '--patch-file',
    path.join(patchDir, 'node-options-append.json'),
    '-o',
    'yaml',
  ]);
  assert.equal(step2.status, 0, step2.stderr);
  const appended = [
    { name: 'NODE_OPTIONS', value: '--require ./tracing.cjs' },
    { name: 'NODE_OPTIONS', value: `$(NODE_OPTIONS) ${REQUIRE}` },
  ];
  const patched = YAML.parse(step2.stdout);
  expectPod(patched.spec.template.spec, appended);
  assert.equal(patched.spec.template.metadata.labels[values.injection.podLabel], 'true');
  // kustomize with the same files gives the same Deployment.
  const k = kubectl(['kustomize', patchDir]);
  assert.equal(k.status, 0, k.stderr);
  assert.deepEqual(parseObjects(k.stdout), [patched]);
  // A container without NODE_OPTIONS: the strategic merge patch node-options-add.yaml.
  const bare = YAML.parse(readFileSync(path.join(patchDir, 'deployment.yaml'), 'utf8'));
  bare.spec.template.spec.containers[0].env = bare.spec.template.spec.containers[0].env.filter((e) => e.name !== 'NODE_OPTIONS');
  const barePath = path.join(tmp, 'bare.yaml');
  writeFileSync(barePath, YAML.stringify(bare));
  const a = kubectl(['patch', '--local', '-f', barePath, '--patch-file', path.join(patchDir, 'resetwatch.yaml'), '-o', 'yaml']);
  writeFileSync(barePath, a.stdout);
  const b = kubectl(['patch', '--local', '-f', barePath, '--patch-file', path.join(patchDir, 'node-options-add.yaml'), '-o', 'yaml']);
  assert.equal(b.status, 0, b.stderr);
  expectPod(YAML.parse(b.stdout).spec.template.spec, [{ name: 'NODE_OPTIONS', value: REQUIRE }]);
  // The patched Deployments are valid objects too.
  assert.equal(unknownFieldErrors([patched, YAML.parse(b.stdout)]), '');
});

// helm 3 asks the API server even with --dry-run=client; helm 4 renders NOTES.txt offline.
test('NOTES.txt warns when no additionalLabels are set (the kube-prometheus-stack release label)', () => {
  for (const major of [4]) {
    const r = helm(major, ['install', 'rw', CHART, '--dry-run=client', '--namespace', 'monitoring']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /WARNING: no additionalLabels are set/);
    const labelled = helm(major, ['install', 'rw', CHART, '--dry-run=client', '-f', path.join(CHART, 'ci/everything-values.yaml')]);
    assert.equal(labelled.status, 0, labelled.stderr);
    assert.doesNotMatch(labelled.stdout, /WARNING: no additionalLabels/);
    assert.match(labelled.stdout, /PodMonitor: scrapes pods labelled resetwatch\/injected="true" on port "resetwatch"/);
  }
});
