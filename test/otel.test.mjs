// OpenTelemetry export, end to end: fixture apps under `node --require resetwatch` export to an
// in-test OTLP/HTTP receiver (test/helpers/otlp-receiver.mjs); spans, metrics and their
// attributes are asserted for resets in each phase, over protobuf and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startReceiver, run, ROOT } from './helpers/otlp-receiver.mjs';

const RESETS_APP = path.join(ROOT, 'test/fixtures/otel-resets.mjs');
const SDK_APP = path.join(ROOT, 'test/fixtures/otel-app-sdk.cjs');
const kindOf = (e) => `${e.direction}/${e.phase}/${e.errorType}`;

function assertResetSpan(span, e) {
  assert.equal(span.name, 'connection reset');
  assert.equal(span.kind, 1, 'SPAN_KIND_INTERNAL');
  assert.equal(span.status.code, 2, 'STATUS_CODE_ERROR');
  assert.ok(span.status.message.length > 0);
  assert.deepEqual(span.scope, { name: 'resetwatch', version: '0.1.0' });
  const a = span.attributes;
  assert.equal(a['error.type'], e.errorType);
  assert.equal(a['resetwatch.direction'], e.direction);
  assert.equal(a['resetwatch.phase'], e.phase);
  assert.equal(a['network.transport'], 'tcp');
  // Node forgets the peer of a TLS socket once it is reset: then neither is set. Server side, the
  // client's address is only recorded with RESETWATCH_SERVER_PEERS.
  if (e.direction === 'client' && !(a['resetwatch.tls'] && a['network.peer.address'] === undefined)) {
    assert.equal(a['network.type'], 'ipv4');
    assert.equal(a['network.peer.address'], '127.0.0.1');
    assert.ok(Number.isInteger(a['network.peer.port']) && a['network.peer.port'] > 0);
  }
  assert.ok(Number.isInteger(a['network.local.port']) && a['network.local.port'] > 0, 'network.local.port');
  if (e.direction === 'client') {
    assert.ok(['127.0.0.1', 'localhost'].includes(a['server.address']), 'server.address');
    assert.equal(a['server.port'], e.port);
  }
  for (const k of ['resetwatch.bytes_received', 'resetwatch.bytes_sent', 'resetwatch.connection.age']) {
    assert.equal(typeof a[k], 'number', k);
  }
  if (e.phase === 'request' || e.phase === 'response') {
    assert.equal(a['resetwatch.reused_socket'], e.direction === 'client' ? false : undefined);
  }
  assert.equal(span.startMs, span.endMs, 'a point in time');
  assert.ok(Math.abs(span.startMs - Date.now()) < 60000);
}

async function resetsInEachPhase(protocol) {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_SERVICE_NAME: 'resets-fixture',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=net',
    });
    assert.equal(r.code, 0, r.stderr);
    const events = r.marker('EVENTS');
    // The phases the core reliably produces in this fixture (server-side ones have their own tests).
    // (Node >= 22 reports an RST on an idle pooled socket as a clean close: no idle reset there.)
    const phases = ['connect', 'tls_handshake', 'established', 'request', 'response'];
    if (process.versions.node.startsWith('20.')) phases.push('idle');
    for (const phase of phases) {
      assert.ok(
        events.some((e) => e.phase === phase && e.direction === 'client'),
        `the fixture made a client ${phase} reset: ${JSON.stringify(events)}`,
      );
    }
    assert.ok(
      events.some((e) => e.tls && e.phase === 'established'),
      `the fixture made a TLS established reset: ${JSON.stringify(events)}`,
    );
    // Everything was sent before the process exited (beforeExit flush), nothing after.
    assert.equal(rx.errors.length, 0, String(rx.errors[0]));
    const spans = rx.spans.filter((s) => s.name === 'connection reset');
    assert.equal(spans.length, events.length, `one span per reset: ${JSON.stringify(spans.map((s) => s.attributes['resetwatch.phase']))}`);
    for (const e of events) {
      const span = spans.find(
        (s) =>
          s.attributes['resetwatch.phase'] === e.phase &&
          s.attributes['resetwatch.direction'] === e.direction &&
          (e.direction !== 'client' || s.attributes['server.port'] === e.port),
      );
      assert.ok(span, `span for ${kindOf(e)}`);
      assertResetSpan(span, e);
      assert.equal(span.parentSpanId, '', 'no trace in flight: a root span');
      assert.equal(span.resource['service.name'], 'resets-fixture');
      assert.equal(span.resource['deployment.environment.name'], 'test');
      assert.equal(span.resource.team, 'net');
    }
    const tlsSpan = spans.find((s) => s.attributes['resetwatch.phase'] === 'established' && s.attributes['resetwatch.tls'] === true);
    assert.ok(tlsSpan, 'TLS span');
    assert.equal(tlsSpan.attributes['tls.protocol.version'], '1.3');
    assert.equal(tlsSpan.attributes['server.address'], 'localhost');
    const handshake = spans.find((s) => s.attributes['resetwatch.phase'] === 'tls_handshake');
    assert.equal(handshake.attributes['resetwatch.hint.id'], 'tls_mismatch');
    assert.equal(handshake.attributes['tls.protocol.version'], undefined, 'no version before the handshake finished');

    // Metrics: the counter per (direction, phase, error.type), histograms with their units.
    const resets = rx.latest('resetwatch.resets');
    assert.ok(resets.length > 0, 'resetwatch.resets exported');
    for (const p of resets) {
      assert.equal(p.unit, '{reset}');
      assert.equal(p.type, 'sum');
      assert.equal(p.monotonic, true);
      assert.equal(p.resource['service.name'], 'resets-fixture');
    }
    const total = resets.reduce((n, p) => n + p.value, 0);
    assert.equal(total, events.length, 'every reset counted once');
    for (const e of events) {
      const p = resets.find(
        (x) =>
          x.attributes['resetwatch.direction'] === e.direction &&
          x.attributes['resetwatch.phase'] === e.phase &&
          x.attributes['error.type'] === e.errorType &&
          (e.direction !== 'client' || x.attributes['server.port'] === e.port),
      );
      assert.ok(p, `resetwatch.resets point for ${kindOf(e)}`);
      assert.equal(typeof p.attributes['tls.established'], 'boolean');
      assert.equal(typeof p.attributes['resetwatch.protocol'], 'string');
    }
    const units = {
      'resetwatch.reset.received_bytes': 'By',
      'resetwatch.reset.sent_bytes': 'By',
      'resetwatch.reset.connection_age_seconds': 's',
    };
    for (const [name, unit] of Object.entries(units)) {
      const points = rx.latest(name);
      assert.ok(points.length > 0, `${name} exported`);
      assert.equal(points[0].unit, unit, `${name} unit`);
      assert.equal(points[0].type, 'histogram');
      assert.deepEqual(Object.keys(points[0].attributes).sort(), ['resetwatch.direction', 'resetwatch.phase']);
      assert.equal(
        points.reduce((n, p) => n + p.count, 0),
        events.length,
        `${name}: one observation per reset`,
      );
    }
    // No keep-alive race here: its histogram's two client points are sent at 0 all the same, so
    // that a backend's increase() counts a process's first burst (the second on-call drill).
    const idle = rx.latest('resetwatch.reset.idle_before_reuse_seconds');
    assert.deepEqual(idle.map((p) => [p.attributes['resetwatch.direction'], p.attributes['resetwatch.phase'], p.count]).sort(), [
      ['client', 'request', 0],
      ['client', 'response', 0],
    ]);
    const established = rx.latest('resetwatch.reset.received_bytes', (a) => a['resetwatch.phase'] === 'established');
    assert.ok(
      established.some((p) => p.sum >= 3),
      'bytes received before the reset are recorded',
    );
    const conns = rx.latest('resetwatch.connections');
    assert.equal(conns[0].unit, '{connection}');
    const clientPlain = conns.find((p) => p.attributes['resetwatch.direction'] === 'client' && p.attributes['resetwatch.tls'] === false);
    assert.ok(clientPlain.value >= 3, 'client connections counted');
    // The agent's own connections to the collector are not counted as the app's.
    const connects = r.marker('CONNECTS_AT_EXIT');
    const ownPlainConnects = connects.filter((p) => p !== rx.port).length;
    assert.ok(clientPlain.value <= ownPlainConnects, `${clientPlain.value} client connections counted, the app made ${ownPlainConnects}`);
    assert.ok(rx.latest('resetwatch.agent.errors').length === 1);
    return rx;
  } finally {
    await rx.close();
  }
}

test('spans and metrics for a reset in each phase, OTLP/HTTP protobuf', async () => {
  const rx = await resetsInEachPhase('http/protobuf');
  assert.ok(rx.requests.length >= 2 && rx.requests.every((q) => q.contentType === 'application/x-protobuf'));
});

test('spans and metrics for a reset in each phase, OTLP/HTTP JSON', async () => {
  const rx = await resetsInEachPhase('http/json');
  assert.ok(rx.requests.every((q) => q.contentType === 'application/json'));
});

test('server-side resets: a client that aborts mid-request', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, {
      FIXTURE_PHASES: 'server',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/v1/traces`,
    });
    assert.equal(r.code, 0, r.stderr);
    const events = r.marker('EVENTS');
    assert.ok(events.length >= 1 && events.every((e) => e.direction === 'server'), JSON.stringify(events));
    const spans = rx.spans.filter((s) => s.name === 'connection reset');
    assert.equal(spans.length, events.length);
    assert.equal(spans[0].attributes['resetwatch.direction'], 'server');
    assert.equal(spans[0].attributes['server.address'], undefined, 'server side: no server.address (that is us)');
    assert.ok(Number.isInteger(spans[0].attributes['network.local.port']));
    assert.equal(rx.metrics.length, 0, 'OTEL_METRICS_EXPORTER=none');
    assert.ok(rx.requests.every((q) => q.path === '/v1/traces'));
  } finally {
    await rx.close();
  }
});

test('an app with its own NodeSDK started after the preload: its spans arrive, the reset span is a child of its request span', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(SDK_APP, {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: 'sdk-app',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      RESETWATCH_LOG: 'stdout',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('GLOBAL_BEFORE'), null, 'the agent registered nothing in the OpenTelemetry global registry');
    assert.match(r.stdout, /^APP_ERROR ECONNRESET$/m, 'the app saw its error as before');
    assert.match(r.stdout, /^SDK_SHUTDOWN$/m);
    assert.equal(r.stderr, '', 'no diagnostics from the SDK or the agent');
    const [traceId, appSpanId] = r.stdout.match(/^APP_SPAN (\w+) (\w+)$/m).slice(1);
    const appWork = rx.spans.find((s) => s.name === 'app-work');
    const get = rx.spans.find((s) => s.name === 'GET');
    assert.ok(appWork && get, `the app's own spans arrive: ${rx.spans.map((s) => s.name)}`);
    assert.equal(appWork.spanId, appSpanId);
    assert.equal(get.parentSpanId, appSpanId);
    const resets = rx.spans.filter((s) => s.name === 'connection reset');
    assert.equal(resets.length, 1, 'exactly one reset span (through the app, not also through a private provider)');
    const [reset] = resets;
    assert.equal(reset.traceId, traceId);
    assert.equal(reset.parentSpanId, get.spanId, "child of the app's outgoing-request span");
    assert.equal(reset.resource['service.name'], 'sdk-app', "exported by the app's SDK");
    assert.equal(reset.attributes['resetwatch.direction'], 'client');
    assert.equal(reset.attributes['http.request.method'], 'GET');
    // The request's own span says why it failed, as the recording-errors guidance asks: error.type
    // and status Error, and no exception event from resetwatch.
    // (The http instrumentation, the span's owner, writes its own error.type, the error's name, after ours.)
    assert.equal(typeof get.attributes['error.type'], 'string');
    assert.equal(get.status.code, 2, `request span status: ${JSON.stringify(get.status)}`);
    assert.ok(
      !get.events.some((e) => e.name === 'exception' && e.attributes['resetwatch.phase'] !== undefined),
      `no exception event from resetwatch: ${JSON.stringify(get.events)}`,
    );
    // Metrics went through the app's MeterProvider, with the app's resource.
    const counted = rx.latest('resetwatch.resets');
    assert.equal(counted.length, 1);
    assert.equal(counted[0].resource['service.name'], 'sdk-app');
    assert.ok(rx.latest('http.client.request.duration').length > 0, "the app's own metrics still arrive");
    // The log line carries the trace of the request in flight.
    const line = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{')));
    assert.equal(line.trace_id, traceId);
    assert.equal(line.span_id, get.spanId);
    assert.deepEqual(
      Object.keys(line)
        .filter((k) => !['level', 'time', 'pid', 'name', 'msg', 'trace_id', 'span_id'].includes(k))
        .sort(),
      Object.keys(reset.attributes).sort(),
      'the log line has the same attribute names as the span',
    );
  } finally {
    await rx.close();
  }
});

test('no OTEL variables: no SDK loaded and no connection from the agent; with them: the receiver is the only extra peer', async () => {
  const quiet = await run(RESETS_APP, { FIXTURE_PHASES: 'connect,established,burst', BURST: '20' });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.marker('SDK_LOADED'), false);
  const servers = quiet.marker('SERVERS');
  assert.deepEqual(
    quiet.marker('CONNECTS_AT_EXIT').filter((p) => !servers.includes(p)),
    [],
    "every connect went to the app's own servers",
  );

  const rx = await startReceiver();
  try {
    const loud = await run(RESETS_APP, { FIXTURE_PHASES: 'connect,established', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    assert.equal(loud.marker('SDK_LOADED'), true);
    const extra = loud.marker('CONNECTS_AT_EXIT').filter((p) => !loud.marker('SERVERS').includes(p));
    assert.ok(extra.length >= 1 && extra.every((p) => p === rx.port), `agent connections go to the collector only: ${extra}`);
  } finally {
    await rx.close();
  }
});

test('OTEL_SDK_DISABLED=true: nothing exported, no SDK loaded', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, {
      FIXTURE_PHASES: 'connect,established',
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('EVENTS').length, 2);
    assert.equal(r.marker('SDK_LOADED'), false);
    const servers = r.marker('SERVERS');
    assert.deepEqual(
      r.marker('CONNECTS_AT_EXIT').filter((p) => !servers.includes(p)),
      [],
    );
    assert.equal(rx.requests.length, 0);
  } finally {
    await rx.close();
  }
});

test('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: one clear line, nothing sent, the app unaffected', async () => {
  const r = await run(RESETS_APP, {
    FIXTURE_PHASES: 'connect',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
  });
  assert.equal(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.ok(
    lines.every((l) => /^resetwatch: OTLP protocol grpc is not supported/.test(l)),
    r.stderr,
  );
  assert.equal(r.marker('SDK_LOADED'), false);
});

test('the app starts its NodeSDK after resetwatch began exporting on its own: later resets go through the app', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(path.join(ROOT, 'test/fixtures/otel-late-sdk.cjs'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '100',
      OTEL_SERVICE_NAME: 'late',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const appSpanId = r.stdout.match(/^APP_SPAN (\w+)$/m)[1];
    const resets = rx.spans.filter((s) => s.name === 'connection reset');
    assert.equal(resets.length, 2, JSON.stringify(resets.map((s) => s.resource)));
    const [privately, viaApp] = [resets.find((s) => !s.resource['app.sdk']), resets.find((s) => s.resource['app.sdk'])];
    assert.ok(privately && viaApp, "one through our private provider, one through the app's");
    assert.equal(privately.parentSpanId, '');
    assert.equal(viaApp.parentSpanId, appSpanId, "a child of the app's span");
    assert.equal(rx.spans.filter((s) => s.name === 'late-work').length, 1, "the app's own span arrives");
    // The app's SDK counts the second reset; our private metrics stopped when it appeared.
    const appResets = rx.latest('resetwatch.resets').filter((p) => p.resource['app.sdk']);
    assert.equal(
      appResets.reduce((n, p) => n + p.value, 0),
      1,
    );
  } finally {
    await rx.close();
  }
});

test('an app whose @opentelemetry/api is an older 1.x than ours: its provider is still used', async () => {
  const r = await run(path.join(ROOT, 'test/fixtures/otel-late-sdk.cjs'), { MODE: 'older-api' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^OUR_API_SEES NoopTracerProvider$/m, 'our API copy alone would not see it');
  assert.deepEqual(r.marker('SPANS'), [{ name: 'connection reset', phase: 'established' }]);
});

test('RESETWATCH_ROOT_SPANS=false: no span for a reset outside any trace; metrics still counted', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, {
      FIXTURE_PHASES: 'connect,established',
      RESETWATCH_ROOT_SPANS: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('EVENTS').length, 2);
    assert.equal(rx.spans.length, 0);
    assert.equal(
      rx.latest('resetwatch.resets').reduce((n, p) => n + p.value, 0),
      2,
    );
  } finally {
    await rx.close();
  }
});

// A batch is serialised 64 spans per turn of the event loop (exporters/otel/otlp.ts), so a large
// one does not hold the app's loop: over protobuf the parts go out as one request whose
// ResourceSpans are one per slice, each with the resource; every span exactly once.
for (const protocol of ['http/protobuf', 'http/json']) {
  test(`a batch of 150 spans: one request, every span once (${protocol})`, async () => {
    const rx = await startReceiver();
    try {
      const r = await run(RESETS_APP, {
        FIXTURE_PHASES: 'burst',
        BURST: '150',
        RESETWATCH_SPAN_RATE: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_METRICS_EXPORTER: 'none',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.marker('EVENTS').length, 150);
      const traces = rx.requests.filter((q) => q.path === '/v1/traces');
      assert.equal(traces.length, 1, 'the exit flush sends the batch in one request');
      assert.equal(traces[0].resourceSpans, protocol === 'http/protobuf' ? 3 : 1, 'ResourceSpans: one per slice of 64 (protobuf)');
      assert.equal(rx.spans.length, 150);
      assert.equal(new Set(rx.spans.map((s) => s.spanId)).size, 150, 'every span exactly once');
      const resources = new Set(rx.spans.map((s) => JSON.stringify(s.resource)));
      assert.equal(resources.size, 1, 'the same resource in every slice');
      assert.equal(JSON.parse([...resources][0])['service.name'] !== undefined, true);
      for (const s of rx.spans) assert.equal(s.name, 'connection reset');
    } finally {
      await rx.close();
    }
  });
}

// Spans for resetwatch's own provider wait up to 100 ms for their group (exporters/otel/span-group.ts),
// but only under OTLP: a console exporter prints each span as it ends, and an app that ends with
// process.exit() right after a reset (no 'beforeExit') still gets it printed. Without the host
// detector: the SDK's processor holds a span until the resource's host.id, read from a file on
// libuv's threads, is in, which a loaded host took more than the app's 20 ms to do (3 runs in 12
// with both cores busy; docs/opentelemetry.md).
test('OTEL_TRACES_EXPORTER=console: a reset just before process.exit() is printed', async () => {
  const r = await run(RESETS_APP, {
    FIXTURE_PHASES: 'burst',
    BURST: '1',
    EXIT_CODE: '3',
    OTEL_NODE_RESOURCE_DETECTORS: 'os,serviceinstance,process,env',
    OTEL_TRACES_EXPORTER: 'console',
    OTEL_METRICS_EXPORTER: 'none',
  });
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.marker('EVENTS').length, 1);
  assert.match(r.stdout, /name: 'connection reset'/, 'the span printed before the exit');
});

// A slice that fails (here an injected fault) still tells the SDK the batch is done: its export
// timeout is a ref'd 30 s timer, and the app's exit would wait for it (0.7 s before, 30.6 s).
test('a span batch whose slicing fails: dropped, reported in one line, the exit not held', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(
      RESETS_APP,
      {
        FIXTURE_PHASES: 'burst',
        BURST: '150',
        RESETWATCH_SPAN_RATE: '0',
        RESETWATCH_FAULT_INJECT: 'otel.exportSlice',
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_METRICS_EXPORTER: 'none',
      },
      { timeout: 20000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /otel\.exportSlice/, 'the failure is reported in one line');
    assert.equal(rx.spans.length, 0);
  } finally {
    await rx.close();
  }
});

test('RESETWATCH_SPAN_RATE=1: spans beyond the rate are dropped and counted; metrics still count every reset', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, {
      FIXTURE_PHASES: 'connect,tls_handshake,established',
      RESETWATCH_SPAN_RATE: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('EVENTS').length, 3);
    assert.equal(rx.spans.length, 1, 'one span within the rate');
    assert.equal(
      rx.latest('resetwatch.resets').reduce((n, p) => n + p.value, 0),
      3,
    );
    const dropped = rx.latest('resetwatch.dropped_events').filter((p) => p.attributes['resetwatch.exporter'] === 'otel_rate');
    assert.equal(
      dropped.reduce((n, p) => n + p.value, 0),
      2,
    );
  } finally {
    await rx.close();
  }
});

// Our private provider's histograms are aggregated by resetwatch and handed to the reader at
// collection (exporters/otel/histograms.ts): bucket counts, sum, min and max must be what the SDK
// would export, in the temporality the standard variable asks for.
for (const pref of ['cumulative', 'delta']) {
  test(`private provider histograms: buckets, sum, min and max over several exports (${pref})`, async () => {
    const rx = await startReceiver();
    try {
      const r = await run(RESETS_APP, {
        FIXTURE_PHASES: 'burst',
        BURST: '60',
        BURST_PAUSE: '150',
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_METRIC_EXPORT_INTERVAL: '100',
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: pref,
      });
      assert.equal(r.code, 0, r.stderr);
      const n = r.marker('EVENTS').length;
      assert.equal(n, 60);
      const points = rx.metrics.filter((p) => p.name === 'resetwatch.reset.received_bytes');
      assert.ok(
        new Set(points.map((p) => p.temporality)).size === 1 && points[0].temporality === (pref === 'delta' ? 1 : 2),
        'temporality',
      );
      const key = (p) => JSON.stringify(p.attributes);
      assert.deepEqual(
        [...new Set(points.map(key))],
        [JSON.stringify({ 'resetwatch.direction': 'client', 'resetwatch.phase': 'established' })],
      );
      // Cumulative: the last export holds everything; delta: the exports add up to it.
      const all = pref === 'delta' ? points : [points.at(-1)];
      if (pref === 'delta') assert.ok(points.length >= 2, `several delta exports (${points.length})`);
      const count = all.reduce((t, p) => t + p.count, 0);
      assert.equal(count, n, 'one observation per reset');
      for (const p of all) {
        assert.equal(
          p.buckets.reduce((t, c) => t + c, 0),
          p.count,
          'bucket counts add up to the count',
        );
        assert.deepEqual(p.bounds, [0, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000]);
        // Each connection received nothing before the RST: every value is 0, in the first bucket (≤ 0).
        assert.equal(p.buckets[0], p.count);
        assert.equal(p.sum, 0);
        assert.equal(p.min, 0);
        assert.equal(p.max, 0);
      }
      const ages =
        pref === 'delta'
          ? rx.metrics.filter((p) => p.name === 'resetwatch.reset.connection_age_seconds')
          : rx.latest('resetwatch.reset.connection_age_seconds');
      assert.equal(
        ages.reduce((t, p) => t + p.count, 0),
        n,
      );
      for (const p of ages) {
        assert.ok(p.min > 0 && p.min <= p.max && p.max < 10, `ages between ${p.min} and ${p.max} s`);
        assert.ok(p.sum >= p.min * p.count && p.sum <= p.max * p.count, 'sum within count × [min, max]');
        assert.equal(
          p.buckets.reduce((t, c) => t + c, 0),
          p.count,
        );
      }
    } finally {
      await rx.close();
    }
  });
}

test('metric attributes stay bounded: peers beyond RESETWATCH_MAX_PEERS fold into _OTHER and are counted', async () => {
  const rx = await startReceiver();
  try {
    const r = await run(RESETS_APP, {
      FIXTURE_PHASES: 'connect,tls_handshake,established',
      RESETWATCH_MAX_PEERS: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.marker('EVENTS').length, 3);
    const points = rx.latest('resetwatch.resets');
    const named = points.filter((p) => p.attributes['server.address'] === '127.0.0.1');
    const other = points.filter((p) => p.attributes['server.address'] === '_OTHER');
    assert.equal(named.length, 1, 'one distinct peer kept');
    assert.equal(
      other.reduce((n, p) => n + p.value, 0),
      2,
    );
    assert.ok(other.every((p) => !('server.port' in p.attributes)));
    assert.equal(rx.latest('resetwatch.peers.folded')[0].value, 2);
    // Spans keep the real peer: only metric attributes are bounded.
    assert.equal(new Set(rx.spans.map((s) => s.attributes['server.port'])).size, 3);
  } finally {
    await rx.close();
  }
});

test("an https collector with its own CA (OTEL_EXPORTER_OTLP_CERTIFICATE); the agent's TLS connections are not watched", async () => {
  const rx = await startReceiver({ tls: true });
  try {
    const r = await run(RESETS_APP, {
      FIXTURE_PHASES: 'connect,established',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_CERTIFICATE: path.join(ROOT, 'test/fixtures/otel-tls/cert.pem'),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(rx.spans.filter((s) => s.name === 'connection reset').length, 2);
    assert.ok(rx.latest('resetwatch.resets').length > 0);
    assert.equal(r.marker('STATS').connections.client.tls, 0, "the export connection is not counted as the app's");
    assert.ok(r.marker('CONNECTS_AT_EXIT').includes(rx.port));
  } finally {
    await rx.close();
  }
});

// The private provider's histograms count into the last series first (a storm's resets share
// their direction and phase): interleaved attribute sets, runs of one, and a delta collection in
// between must count each value into its own series, as a plain Map per attribute set would.
test('private provider histograms: interleaved attribute sets count into their own series, across delta collections', async () => {
  const require = createRequire(import.meta.url);
  const { LocalHistograms } = require(path.join(ROOT, 'dist/exporters/otel/histograms.js'));
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  for (const delta of [false, true]) {
    const producer = new LocalHistograms(() => resourceFromAttributes({}), delta);
    const h = producer.create('t', { description: '', unit: 's', boundaries: [1, 10] });
    const sets = [Object.freeze({ p: 'a' }), Object.freeze({ p: 'b' }), Object.freeze({ p: 'c' })];
    const expected = sets.map(() => ({ count: 0, sum: 0 }));
    const order = [0, 0, 1, 0, 2, 2, 2, 1, 0, 1, 1, 2];
    const collected = sets.map(() => ({ count: 0, sum: 0 }));
    const take = async () => {
      const { resourceMetrics } = await producer.collect();
      const points = resourceMetrics.scopeMetrics[0]?.metrics[0].dataPoints ?? [];
      for (const point of points) {
        const i = sets.findIndex((s) => s.p === point.attributes.p);
        // Cumulative: the latest collection holds everything; delta: the collections add up.
        if (!delta) collected[i] = { count: 0, sum: 0 };
        collected[i].count += point.value.count;
        collected[i].sum += point.value.sum;
      }
    };
    for (const [k, i] of order.entries()) {
      h.record(k, sets[i]);
      expected[i].count++;
      expected[i].sum += k;
      if (k === 5) await take(); // mid-run: a delta collection resets the series in place
    }
    await take();
    assert.deepEqual(collected, expected, delta ? 'delta' : 'cumulative');
  }
});
