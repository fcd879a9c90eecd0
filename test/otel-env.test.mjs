// The standard OTEL_* variables beyond the exporter settings, and the Kubernetes resource
// attributes, end to end: a fixture app under `node --require resetwatch` exports to the in-test
// OTLP receiver; what each value does (or the one line refusing it) is asserted on what arrives.
// OTEL_PROPAGATORS applies where the app has no propagator of its own: the fixture has none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startReceiver, run, ROOT } from './helpers/otlp-receiver.mjs';

const CALLER_APP = path.join(ROOT, 'test/fixtures/otel-caller.cjs');
const RESETS_APP = path.join(ROOT, 'test/fixtures/otel-resets.mjs');
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The caller fixture against a fresh receiver: { r, spans, lines } (stderr lines of the agent). */
async function caller(env) {
  const rx = await startReceiver();
  try {
    const r = await run(CALLER_APP, { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, ...env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('EVENTS'), 2, r.stdout);
    assert.equal(rx.errors.length, 0, String(rx.errors[0]));
    const spans = rx.spans.filter((s) => s.name === 'connection reset');
    assert.equal(spans.length, 2, `a span per reset: ${JSON.stringify(spans.map((s) => s.attributes['resetwatch.direction']))}`);
    const lines = r.stderr.split('\n').filter(Boolean);
    return { r, spans, lines };
  } finally {
    await rx.close();
  }
}

const inCallersTrace = (s) => s.traceId === TRACE_ID && s.parentSpanId === SPAN_ID;

test('OTEL_PROPAGATORS unset or tracecontext(,baggage): client and server resets join the caller’s trace, silently', async () => {
  for (const value of [undefined, 'tracecontext,baggage']) {
    const { spans, lines } = await caller(value === undefined ? {} : { OTEL_PROPAGATORS: value });
    assert.deepEqual(spans.map((s) => s.attributes['resetwatch.direction']).sort(), ['client', 'server']);
    assert.ok(spans.every(inCallersTrace), `${value}: ${JSON.stringify(spans.map((s) => [s.traceId, s.parentSpanId]))}`);
    assert.deepEqual(lines, []);
  }
});

test('OTEL_PROPAGATORS=none: the caller’s headers are not read (root spans), no line', async () => {
  const { spans, lines } = await caller({ OTEL_PROPAGATORS: 'none' });
  assert.ok(
    spans.every((s) => s.parentSpanId === '' && s.traceId !== TRACE_ID),
    JSON.stringify(spans),
  );
  assert.deepEqual(lines, []);
});

test('OTEL_PROPAGATORS=b3 (not shipped): one line refusing it, headers not read; with tracecontext too, that one still works', async () => {
  const alone = await caller({ OTEL_PROPAGATORS: 'b3' });
  assert.ok(alone.spans.every((s) => s.parentSpanId === '' && s.traceId !== TRACE_ID));
  assert.equal(alone.lines.length, 1, alone.lines.join('\n'));
  assert.match(
    alone.lines[0],
    /^resetwatch: OTEL_PROPAGATORS: b3 not available to resetwatch without the app's own propagator .*; ignored, no trace header is read$/,
  );
  const mixed = await caller({ OTEL_PROPAGATORS: 'b3multi,tracecontext,jaeger' });
  assert.ok(mixed.spans.every(inCallersTrace));
  assert.equal(mixed.lines.length, 1, mixed.lines.join('\n'));
  assert.match(mixed.lines[0], /OTEL_PROPAGATORS: b3multi, jaeger not available .*; ignored, traceparent is read$/);
});

test('resource: Kubernetes attributes from RESETWATCH_K8S_*, a UUID service.instance.id per process, OTEL_RESOURCE_ATTRIBUTES wins', async () => {
  const k8s = {
    RESETWATCH_K8S_POD_NAME: 'shop-5d8f7c9b6-x2x7k',
    RESETWATCH_K8S_NAMESPACE_NAME: 'shop',
    RESETWATCH_K8S_NODE_NAME: 'node-1',
    RESETWATCH_K8S_CONTAINER_NAME: 'app',
  };
  const first = await caller({ ...k8s, OTEL_SERVICE_NAME: 'shop' });
  const res = first.spans[0].resource;
  assert.deepEqual(first.spans[1].resource, res, 'one resource per process');
  assert.equal(res['k8s.pod.name'], 'shop-5d8f7c9b6-x2x7k');
  assert.equal(res['k8s.namespace.name'], 'shop');
  assert.equal(res['k8s.node.name'], 'node-1');
  assert.equal(res['k8s.container.name'], 'app');
  assert.equal(res['service.name'], 'shop');
  assert.match(res['service.instance.id'], UUID);
  for (const k of ['host.name', 'os.type', 'process.pid']) assert.ok(res[k] !== undefined, `${k} (default detectors)`);
  assert.deepEqual(first.lines, []);

  const second = await caller({ ...k8s });
  assert.match(second.spans[0].resource['service.instance.id'], UUID);
  assert.notEqual(second.spans[0].resource['service.instance.id'], res['service.instance.id'], 'a new id per process');

  const set = await caller({ ...k8s, OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=from-otel,service.instance.id=shop-1' });
  assert.equal(set.spans[0].resource['k8s.pod.name'], 'from-otel');
  assert.equal(set.spans[0].resource['service.instance.id'], 'shop-1');
  assert.equal(set.spans[0].resource['k8s.node.name'], 'node-1');
});

test('OTEL_NODE_RESOURCE_DETECTORS: the listed detectors only; none; unknown ones refused in one line', async () => {
  const k8s = { RESETWATCH_K8S_POD_NAME: 'p', OTEL_RESOURCE_ATTRIBUTES: 'team=net' };
  const some = await caller({ ...k8s, OTEL_NODE_RESOURCE_DETECTORS: 'process,env' });
  const r1 = some.spans[0].resource;
  assert.ok(r1['process.pid'] !== undefined && r1.team === 'net' && r1['k8s.pod.name'] === 'p', JSON.stringify(r1));
  for (const k of ['host.name', 'os.type', 'service.instance.id']) assert.equal(r1[k], undefined, k);
  assert.deepEqual(some.lines, []);

  const none = await caller({ ...k8s, OTEL_NODE_RESOURCE_DETECTORS: 'none' });
  const r2 = none.spans[0].resource;
  for (const k of ['process.pid', 'host.name', 'team', 'k8s.pod.name', 'service.instance.id']) assert.equal(r2[k], undefined, k);
  assert.equal(r2['telemetry.sdk.name'], 'opentelemetry', 'the SDK default resource stays');

  const unknown = await caller({ ...k8s, OTEL_NODE_RESOURCE_DETECTORS: 'container,env,aws' });
  const r3 = unknown.spans[0].resource;
  assert.ok(r3.team === 'net' && r3['process.pid'] === undefined, JSON.stringify(r3));
  assert.equal(unknown.lines.length, 1, unknown.lines.join('\n'));
  assert.match(unknown.lines[0], /^resetwatch: OTEL_NODE_RESOURCE_DETECTORS: container, aws not available/);

  const all = await caller({ OTEL_NODE_RESOURCE_DETECTORS: 'all' });
  for (const k of ['host.name', 'os.type', 'process.pid', 'service.instance.id']) assert.ok(all.spans[0].resource[k] !== undefined, k);
});

test('OTEL_LOG_LEVEL: info shows the export plan past RESETWATCH_LOG_LEVEL=warn; none silences the OpenTelemetry lines; a bad value: one line', async () => {
  const info = await caller({ OTEL_LOG_LEVEL: 'INFO' });
  assert.ok(
    info.lines.some((l) =>
      /^resetwatch: OpenTelemetry: reset spans go to http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(http\/protobuf\)$/.test(l),
    ),
    info.lines.join('\n'),
  );
  assert.ok(
    info.lines.every((l) => l.startsWith('resetwatch: OpenTelemetry: ')),
    info.lines.join('\n'),
  );

  const quiet = await caller({ OTEL_LOG_LEVEL: 'none', OTEL_PROPAGATORS: 'b3,tracecontext', OTEL_NODE_RESOURCE_DETECTORS: 'gcp,env' });
  assert.deepEqual(quiet.lines, []);

  const bad = await caller({ OTEL_LOG_LEVEL: 'loud' });
  assert.equal(bad.lines.length, 1, bad.lines.join('\n'));
  assert.match(bad.lines[0], /^resetwatch: OTEL_LOG_LEVEL="loud" is not valid/);
});

test('OTEL_SDK_DISABLED=true: one line saying so, nothing exported', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, { FIXTURE_PHASES: 'connect', OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('EVENTS').length, 1);
    assert.equal(r.marker('SDK_LOADED'), false);
    assert.equal(rx.requests.length, 0);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^resetwatch: OTEL_SDK_DISABLED=true: no OpenTelemetry spans or metrics from resetwatch/);
  } finally {
    await rx.close();
  }
});

test('OTEL_SDK_DISABLED=1, an endpoint without a scheme, a bad protocol: one line each, and what the line says happens', async () => {
  // Not "true": OpenTelemetry stays on (spans arrive), and one line says so.
  const on = await caller({ OTEL_SDK_DISABLED: '1' });
  assert.equal(on.spans.length, 2);
  assert.deepEqual(on.lines, ['resetwatch: OTEL_SDK_DISABLED="1" is not "true" or "false"; OpenTelemetry output stays on']);
  // A bad protocol shared by both signals: one line, not one per signal; export goes on as protobuf.
  const proto = await caller({ OTEL_EXPORTER_OTLP_PROTOCOL: 'json' });
  assert.deepEqual(proto.lines, ['resetwatch: OTEL_EXPORTER_OTLP_PROTOCOL="json" is not valid; using http/protobuf']);
  // No scheme: the exporter's own configuration falls back to its default endpoint, which the line names.
  const r = await run(CALLER_APP, { OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:9', OTEL_LOG_LEVEL: 'warn' });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.includes('OTEL_EXPORTER_OTLP_ENDPOINT'));
  assert.deepEqual(lines, [
    'resetwatch: OTEL_EXPORTER_OTLP_ENDPOINT="127.0.0.1:9" is not a valid http:// or https:// URL; the exporter uses its default, http://localhost:4318',
  ]);
  // A port past 65535 (the exporter's configuration fell back silently) and another scheme (it was
  // spoken to as http, after a line saying the default is used): the line, and the default indeed.
  for (const endpoint of ['http://127.0.0.1:99999', 'ftp://127.0.0.1:9', 'http://127.0.0.1:0']) {
    const bad = await run(CALLER_APP, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_LOG_LEVEL: 'info' });
    assert.equal(bad.code, 0, bad.stderr);
    const own = bad.stderr.split('\n').filter((l) => l.includes('OTEL_EXPORTER_OTLP_ENDPOINT') || l.includes(' go to '));
    assert.ok(
      own.includes(
        `resetwatch: OTEL_EXPORTER_OTLP_ENDPOINT="${endpoint}" is not a valid http:// or https:// URL; the exporter uses its default, http://localhost:4318`,
      ),
      bad.stderr,
    );
    assert.ok(
      own.some((l) => l.includes('reset spans go to http://localhost:4318/v1/traces')),
      bad.stderr,
    );
  }
});
