// A pod, played by processes. The agent image is laid out as helm/agent-image/Dockerfile builds it
// (its own `npm install` line, run on `npm pack` of this checkout); the rendered init container's
// command copies it into a directory standing for the emptyDir; an app from an unrelated temp
// directory starts with exactly the rendered container's command and env (its own NODE_OPTIONS
// --require included), resets a connection, and the real Prometheus scrapes it the way the
// rendered PodMonitor says (port name, path, interval, bearer token from the Secret). Its reset
// must show up in Prometheus. A second app brings its own OpenTelemetry SDK (another copy of the
// packages than the agent's, loaded by its own --require first): the reset span must reach the
// app's tracer provider.
//
// What differs from a pod, and only that: paths inside the image and the volume live under a temp
// directory (each absolute path is rewritten with its prefix), RESETWATCH_HOST 0.0.0.0 becomes
// 127.0.0.1 (tests stay on loopback) and the metrics port a free one (tests run in parallel);
// Prometheus' scrape config is written from the PodMonitor by the test, as prometheus-operator would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHART, ROOT, cleanupHelmHome } from './helpers/helm.mjs';
import { render, vendoredTree } from './helpers/helm-render.mjs';
import { freePort, startPrometheus } from './helpers/prometheus.mjs';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-helm-pod-'));
const tree = vendoredTree();
after(() => {
  tree.cleanup();
  rmSync(tmp, { recursive: true, force: true });
  cleanupHelmHome();
});

const TOKEN = 's3cret-token-for-the-test';

/** The Dockerfile's stages: [{ from, as, instructions: [[KEYWORD, rest]] }]. */
function parseDockerfile(text) {
  const stages = [];
  const joined = text.replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, kw, rest] = /^(\S+)\s+(.*)$/.exec(line);
    if (kw.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      stages.push({ from: m[1], as: m[2], instructions: [] });
    } else {
      stages.at(-1).instructions.push([kw.toUpperCase(), rest.replace(/\s+/g, ' ')]);
    }
  }
  return stages;
}
const instr = (stage, kw) => stage.instructions.filter(([k]) => k === kw).map(([, r]) => r);

// Path mapping of the pod: image root and volume mount → directories under tmp.
function mapper(pairs) {
  return (p) => {
    for (const [from, to] of pairs) {
      if (p === from || p.startsWith(from.endsWith('/') ? from : `${from}/`)) return to + p.slice(from.length);
    }
    return p;
  };
}

// The app of the pod: an HTTP-less TCP server that resets the first connection it gets, and a
// client that is reset. Prints one JSON line when done, then waits for stdin to close.
const APP = `'use strict';
const net = require('node:net');
const server = net.createServer((s) => s.resetAndDestroy());
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('error', (err) => {
    const path = require('node:path');
    const agent = Object.keys(require.cache).find((k) => k.includes(path.join('node_modules', 'resetwatch') + path.sep));
    console.log(JSON.stringify({ done: true, code: err.code, tracing: globalThis.tracingLoaded === true, agent, nodeOptions: process.env.NODE_OPTIONS }));
    process.stdin.resume();
    process.stdin.on('end', () => { server.close(); process.exit(0); });
  });
});
`;
const TRACING = `globalThis.tracingLoaded = true;\n`;

// The same, for an app with its own OpenTelemetry SDK (in-memory exporter), whose preload
// registers the tracer provider and context manager before the agent loads.
const TRACING_OTEL = `'use strict';
const api = require('@opentelemetry/api');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const exporter = new InMemorySpanExporter();
api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
globalThis.tracingLoaded = true;
globalThis.appOtel = { api, exporter };
`;
const APP_OTEL = `'use strict';
const net = require('node:net');
const path = require('node:path');
const { api, exporter } = globalThis.appOtel;
const server = net.createServer((s) => s.resetAndDestroy());
server.listen(0, '127.0.0.1', () => {
  api.trace.getTracer('shop').startActiveSpan('checkout', (span) => {
    const c = net.connect(server.address().port, '127.0.0.1');
    c.on('error', (err) => {
      span.end();
      const agent = Object.keys(require.cache).find((k) => k.includes(path.join('node_modules', 'resetwatch') + path.sep));
      const started = Date.now();
      const report = () => {
        const spans = exporter.getFinishedSpans().map((s) => ({ name: s.name, traceId: s.spanContext().traceId, parent: s.parentSpanContext?.spanId ?? s.parentSpanId }));
        if (!spans.some((s) => s.name === 'connection reset') && Date.now() - started < 5000) return setTimeout(report, 50);
        console.log(JSON.stringify({ done: true, code: err.code, tracing: globalThis.tracingLoaded === true, agent, spans,
          appSpan: span.spanContext(), otelApi: require.resolve('@opentelemetry/api') }));
        process.stdin.resume();
        process.stdin.on('end', () => { server.close(); process.exit(0); });
      };
      report();
    });
  });
});
`;

// Steps 1 to 3, done once for both tests: render, build the image's layout, run the init container.
let laidOut;
function layoutPod() {
  laidOut ??= layout();
  return laidOut;
}

function layout() {
  // 1. Render the platform's release (PodMonitor; a 1 s interval keeps the test short) and the app.
  const platform = render(4, CHART, {
    files: [path.join(ROOT, 'helm/examples/platform-values.yaml')],
    setJson: ['podMonitor.interval="1s"', 'podMonitor.scrapeTimeout="900ms"'],
  });
  assert.equal(platform.status, 0, platform.stderr);
  const app = render(4, tree.app, { files: [path.join(tree.root, 'helm/examples/shop-values.yaml')], release: 'shop', namespace: 'shop' });
  assert.equal(app.status, 0, app.stderr);
  const pm = platform.objects.find((o) => o.kind === 'PodMonitor');
  const dep = app.objects.find((o) => o.kind === 'Deployment');
  const pod = dep.spec.template;
  const init = pod.spec.initContainers[0];
  const container = pod.spec.containers[0];
  const endpoint = pm.spec.podMetricsEndpoints[0];
  for (const [k, v] of Object.entries(pm.spec.selector.matchLabels))
    assert.equal(pod.metadata.labels[k], v, 'the PodMonitor selects the pod');

  // 2. The image, as the Dockerfile builds it.
  const stages = parseDockerfile(readFileSync(path.join(ROOT, 'helm/agent-image/Dockerfile'), 'utf8'));
  assert.equal(stages.length, 2);
  const [install, final] = stages;
  const workdir = instr(install, 'WORKDIR')[0];
  const [copySrc, copyDst] = instr(install, 'COPY')[0].split(' ');
  assert.match(copySrc, /^resetwatch-\*\.tgz$/);
  const [finalCopy] = instr(final, 'COPY');
  const m = new RegExp(`^--from=${install.as} (\\S+) (\\S+)$`).exec(finalCopy);
  assert.ok(m, finalCopy);
  assert.equal(m[1], workdir, 'the final image holds what npm installed');
  const imageRoot = m[2];
  const [user] = instr(final, 'USER');
  assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-root user, so that runAsNonRoot can be verified');
  // The init container copies the image's agent directory into the volume it mounts.
  assert.deepEqual(init.command, ['cp', '-R', `${imageRoot}/.`, `${init.volumeMounts[0].mountPath}/`]);
  assert.equal(init.volumeMounts[0].name, pod.spec.volumes[0].name);
  assert.ok(pod.spec.volumes[0].emptyDir);
  const mount = container.volumeMounts.find((v) => v.name === pod.spec.volumes[0].name);
  assert.equal(mount.mountPath, init.volumeMounts[0].mountPath);
  assert.equal(mount.readOnly, true);
  // The ENTRYPOINT (for `docker run` by hand) does what the chart's command does.
  assert.deepEqual(JSON.parse(instr(final, 'ENTRYPOINT')[0]), init.command);

  const ctx = path.join(tmp, 'context');
  const image = path.join(tmp, 'image');
  const volume = path.join(tmp, 'volume');
  for (const d of [ctx, volume, path.join(image, workdir)]) mkdirSync(d, { recursive: true });
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', ctx], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(pack.status, 0, pack.stderr);
  // The RUN line itself, with the build context's tarball where the COPY put it.
  const run = instr(install, 'RUN')[0].replaceAll(copyDst, `${ctx}/`);
  const built = spawnSync('sh', ['-c', run], {
    cwd: path.join(image, workdir),
    encoding: 'utf8',
    timeout: 180000,
    env: { ...process.env, npm_config_prefer_offline: 'true', NODE_OPTIONS: '' },
  });
  assert.equal(built.status, 0, `${run}\n${built.stdout}${built.stderr}`);
  assert.deepEqual(readdirSync(path.join(image, workdir)), ['node_modules']);

  // 3. The init container: its command, with the image and volume paths mapped.
  const inPod = mapper([
    [imageRoot, path.join(image, imageRoot)],
    [init.volumeMounts[0].mountPath, volume],
  ]);
  const cp = spawnSync(init.command[0], init.command.slice(1).map(inPod), { encoding: 'utf8', timeout: 60000 });
  assert.equal(cp.status, 0, cp.stderr);
  assert.ok(existsSync(path.join(volume, 'node_modules/resetwatch/package.json')));
  // The volume fits the emptyDir's size limit (du counts blocks, like the kubelet).
  const du = spawnSync('du', ['-sk', volume], { encoding: 'utf8' });
  const kib = Number(du.stdout.split('\t')[0]);
  const limit = /^(\d+)Mi$/.exec(pod.spec.volumes[0].emptyDir.sizeLimit);
  assert.ok(limit && kib < Number(limit[1]) * 1024, `${kib} KiB in the volume, limit ${pod.spec.volumes[0].emptyDir.sizeLimit}`);
  return { pm, pod, container, endpoint, inPod, volume };
}

/**
 * Step 4, the app container: the rendered command and env (the Secret resolved to TOKEN) in
 * `appDir`, with the metrics endpoint on a free loopback port. Resolves once the app printed its
 * {"done"…} line: { done, port, env, stderr }.
 */
/** What the kubelet fills in for the Downward API fields the injection uses. */
const DOWNWARD = { 'metadata.name': 'shop-5d8f7c9b6-x2x7k', 'metadata.namespace': 'shop', 'spec.nodeName': 'node-1' };

async function startApp(t, state, appDir) {
  const { pm, container, endpoint, inPod, volume } = state;
  assert.deepEqual(container.command, ['node', 'server.js']);
  const metricsPort = container.ports.find((p) => p.name === endpoint.port);
  assert.ok(metricsPort, `the container declares the port "${endpoint.port}" the PodMonitor scrapes`);
  const port = await freePort();
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  for (const e of container.env) {
    if (e.valueFrom?.fieldRef) {
      // The kubelet's part: the Downward API fields the chart asks for.
      env[e.name] = DOWNWARD[e.valueFrom.fieldRef.fieldPath];
      assert.ok(env[e.name], `${e.name}: a Downward API field the kubelet fills (${e.valueFrom.fieldRef.fieldPath})`);
    } else if (e.valueFrom) {
      const ref = e.valueFrom.secretKeyRef;
      assert.deepEqual(ref, pm.spec.podMetricsEndpoints[0].authorization.credentials, `${e.name}: the Secret the PodMonitor reads`);
      env[e.name] = TOKEN;
    } else env[e.name] = e.value;
  }
  assert.equal(env.RESETWATCH_HOST, '0.0.0.0');
  assert.equal(env.RESETWATCH_PORT, String(metricsPort.containerPort));
  env.RESETWATCH_HOST = '127.0.0.1';
  env.RESETWATCH_PORT = String(port);
  env.NODE_OPTIONS = env.NODE_OPTIONS.split(' ').map(inPod).join(' ');
  assert.equal(env.NODE_OPTIONS, `--require ./tracing.cjs --require ${volume}/node_modules/resetwatch`);
  const child = spawn(process.execPath, container.command.slice(1), { cwd: appDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    child.stdin.end();
    const k = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(k);
  });
  const done = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app not done:\n${out}\n${err}`)), 20000);
    child.stdout.on('data', () => {
      const line = out.split('\n').find((l) => l.startsWith('{"done"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    exited.then((code) => reject(new Error(`app exited ${code}:\n${out}\n${err}`)));
  });
  assert.equal(done.code, 'ECONNRESET');
  assert.equal(done.tracing, true, "the app's own --require still loads");
  assert.ok(done.agent?.startsWith(path.join(volume, 'node_modules/resetwatch/')), `agent loaded from the volume: ${done.agent}`);
  return { done, port, stderr: () => err };
}

test('the pod, played by processes: init container layout, rendered env, its reset scraped as the PodMonitor says', async (t) => {
  const state = await layoutPod();
  const { pm, pod, endpoint } = state;
  // An app from an unrelated directory: no package.json, no node_modules.
  const appDir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-pod-app-'));
  t.after(() => rmSync(appDir, { recursive: true, force: true }));
  writeFileSync(path.join(appDir, 'server.js'), APP);
  writeFileSync(path.join(appDir, 'tracing.cjs'), TRACING);
  const { port, stderr } = await startApp(t, state, appDir);

  // The endpoint wants the token.
  const url = `http://127.0.0.1:${port}${endpoint.path}`;
  assert.equal((await fetch(url, { signal: AbortSignal.timeout(5000) })).status, 401);

  // 5. Prometheus with the scrape job prometheus-operator would make of the PodMonitor.
  const tokenFile = path.join(tmp, 'token');
  writeFileSync(tokenFile, TOKEN);
  const job = pod.metadata.labels[pm.spec.jobLabel];
  assert.equal(job, 'shop');
  const config = [
    'scrape_configs:',
    `  - job_name: ${job}`,
    `    scrape_interval: ${endpoint.interval}`,
    `    scrape_timeout: ${endpoint.scrapeTimeout}`,
    `    metrics_path: ${endpoint.path}`,
    `    scheme: ${endpoint.scheme}`,
    '    authorization:',
    `      type: ${endpoint.authorization.type}`,
    `      credentials_file: ${tokenFile}`,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${port}']`,
    '        labels: { namespace: shop, pod: shop-7d9f8-abcde }',
    '',
  ].join('\n');
  const prom = await startPrometheus([], { config });
  t.after(() => prom.stop());
  const resets = await prom.until(
    `sum(resetwatch_resets_total{job="${job}", namespace="shop"})`,
    (r) => r.length === 1 && Number(r[0].value[1]) >= 1,
  );
  assert.ok(
    resets?.length === 1 && Number(resets[0].value[1]) >= 1,
    `no reset in Prometheus: ${JSON.stringify(resets)}\n${prom.log()}\napp stderr: ${stderr()}`,
  );
  const byPhase = await prom.query(`resetwatch_resets_total{job="${job}", resetwatch_direction="client"}`);
  assert.ok(
    byPhase.some((s) => s.metric.error_type === 'ECONNRESET' && Number(s.value[1]) === 1),
    JSON.stringify(byPhase),
  );
  const up = await prom.query(`up{job="${job}"}`);
  assert.equal(up[0]?.value[1], '1');
  const info = await prom.query('resetwatch_info');
  assert.equal(info[0].metric.node_version, process.version);
});

test("the pod with the app's own OpenTelemetry preload: the injected agent (its own copy of the OTel packages) reports the reset through the app's tracer provider", async (t) => {
  const state = await layoutPod();
  // The app brings its own @opentelemetry packages (this checkout's node_modules, a different
  // copy from the one in the volume) and loads them with its own --require, as an OpenTelemetry
  // Operator injection does.
  const appDir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-pod-otel-app-'));
  t.after(() => rmSync(appDir, { recursive: true, force: true }));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(appDir, 'node_modules'), 'dir');
  writeFileSync(path.join(appDir, 'server.js'), APP_OTEL);
  writeFileSync(path.join(appDir, 'tracing.cjs'), TRACING_OTEL);
  const { done } = await startApp(t, state, appDir);
  assert.ok(done.otelApi.startsWith(path.join(ROOT, 'node_modules')), done.otelApi);
  const reset = done.spans.find((s) => s.name === 'connection reset');
  assert.ok(reset, `no reset span among the app's spans: ${JSON.stringify(done.spans)}`);
  assert.equal(reset.traceId, done.appSpan.traceId, "in the trace of the app's span");
  assert.equal(reset.parent, done.appSpan.spanId, "under the app's span");
});
