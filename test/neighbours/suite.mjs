// resetwatch next to other agents ("neighbours"), each installed from test/neighbours/ into
// ~/.cache/resetwatch/neighbours and sending only to a loopback stand-in for its backend (run by
// test/neighbours.test.mjs, in a network namespace with only loopback when root). For each
// neighbour, module system (the app as CommonJS or ESM, each agent loaded the way its vendor
// documents) and load order (neighbour first, resetwatch first), the fixture app
// (test/fixtures/neighbours) makes three known resets, and:
// - resetwatch records exactly the resets it records alone (direction, phase, error type);
// - the neighbour sends the spans/transactions it sends alone;
// - under OpenTelemetry-based neighbours, each `connection reset` span is a child of the
//   neighbour's span for the request that met the reset: the CLIENT span of the http.request or
//   the fetch, the SERVER span of the incoming request;
// - the neighbour's pino instrumentation leaves resetwatch's own lines alone (no fields injected,
//   nothing forwarded, and for New Relic nothing counted in its Logging/lines metric) while it
//   still instruments the app's pino;
// - the exit code and stderr are those of the app with the neighbour alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import os from 'node:os';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { runNode, resetLines, describeRun, fixture, ROOT } from '../helpers/subprocess.mjs';
import { startReceiver } from '../helpers/otlp-receiver.mjs';
import { freePort } from '../helpers/ports.mjs';
import { neighboursDir, appDir, resolveIn, startIntake } from '../helpers/neighbours.mjs';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const RW_CJS = ['--require', ROOT];
const RW_ESM = ['--import', new URL(`file://${path.join(ROOT, 'dist/agent/index.mjs')}`).href];
/** What the fixture makes and resetwatch records alone (checked below, not assumed). */
const EXPECTED_RESETS = ['client/response/ECONNRESET', 'client/response/ECONNRESET', 'server/response/ECONNRESET'];
const CALLER_SPANS = { work: '00f067aa0ba902b7', slow: '00f067aa0ba902b8' };

let dir;
let app;
let msgpack;

before(() => {
  dir = neighboursDir();
  app = appDir(dir);
  msgpack = createRequire(path.join(dir, 'package.json'))('@msgpack/msgpack');
});
after(() => {
  if (app && existsSync(app)) rmSync(app, { recursive: true, force: true });
});

const signature = (lines) => lines.map((l) => `${l['resetwatch.direction']}/${l['resetwatch.phase']}/${l['error.type']}`).sort();

/** stderr without resetwatch's lines, numbers masked (pids, ports, times), as a sorted list. */
function otherStderr(text) {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('"name":"resetwatch"') && !l.startsWith('resetwatch: '))
    .map((l) => l.replace(/\d+/g, '#'))
    .sort();
}

// ---- each vendor's intake, decoded to a flat list of spans { id, parent, kind, name, own } ----

function otlpSpans(rx) {
  return rx.spans.map((s) => ({
    id: s.spanId,
    parent: s.parentSpanId,
    name: s.name,
    own: s.scope.name === 'resetwatch',
    kind:
      s.scope.name === 'resetwatch'
        ? 'reset'
        : `${['', 'INTERNAL', 'SERVER', 'CLIENT'][s.kind] ?? s.kind}:${s.scope.name.replace('@opentelemetry/instrumentation-', '')}`,
    text: JSON.stringify(s.attributes),
  }));
}

function ddSpans(rx) {
  const out = [];
  for (const r of rx.requests) {
    if (!/^\/v0\.[45]\/traces/.test(r.path)) continue;
    const decoded = msgpack.decode(r.body, { useBigInt64: true });
    // v0.4: [[span, …], …]; v0.5: [strings, [[[…]]]] (not used: DD_TRACE_AGENT_PROTOCOL_VERSION stays 0.4).
    for (const trace of decoded) {
      for (const s of trace)
        out.push({
          id: String(s.span_id),
          parent: String(s.parent_id),
          name: s.name,
          kind: s.name,
          own: false,
          text: `${s.resource} ${JSON.stringify(s.meta)}`,
        });
    }
  }
  return out;
}

function elasticSpans(rx) {
  const out = [];
  for (const r of rx.requests) {
    if (r.path !== '/intake/v2/events') continue;
    for (const line of r.body.toString().split('\n')) {
      if (!line.trim()) continue;
      const o = JSON.parse(line);
      if (o.transaction)
        out.push({
          id: o.transaction.id,
          parent: o.transaction.parent_id ?? '',
          name: o.transaction.name,
          kind: `transaction:${o.transaction.type}`,
          own: false,
          text: line,
        });
      if (o.span)
        out.push({
          id: o.span.id,
          parent: o.span.parent_id,
          name: o.span.name,
          kind: `span:${o.span.type}/${o.span.subtype}`,
          own: false,
          text: line,
        });
    }
  }
  return out;
}

function sentrySpans(rx) {
  const out = [];
  const add = (id, parent, name, op, raw) =>
    out.push({
      id,
      parent: parent ?? '',
      name,
      kind: name === 'connection reset' ? 'reset' : op,
      own: name === 'connection reset',
      text: JSON.stringify(raw),
    });
  for (const r of rx.requests) {
    if (!r.path.startsWith('/api/1/envelope/')) continue;
    const lines = r.body.toString().split('\n');
    for (let i = 1; i + 1 < lines.length; i += 2) {
      const header = JSON.parse(lines[i]);
      const item = JSON.parse(lines[i + 1]);
      if (header.type === 'transaction') {
        const t = item.contexts.trace;
        add(t.span_id, t.parent_span_id, item.transaction, t.op, { ...t, transaction: item.transaction, request: item.request });
        for (const s of item.spans ?? []) add(s.span_id, s.parent_span_id, s.description, s.op, s);
      } else if (header.type === 'span') {
        for (const s of item.items ?? [item]) add(s.span_id, s.parent_span_id, s.name, s.attributes?.['sentry.op']?.value, s);
      }
    }
  }
  return out;
}

// New Relic's collector protocol: POST /agent_listener/invoke_raw_method?method=<name>, JSON.
const nrMethod = (req) => new URL(req.path ?? req.url, 'https://collector').searchParams.get('method');
const nrPayloads = (rx, method) => rx.requests.filter((r) => nrMethod(r) === method).map((r) => JSON.parse(r.body.toString()));

/** Its transaction, span and error events ([run id, meta, [[intrinsics, user, agent], …]]). */
function newRelicSpans(rx) {
  const out = [];
  for (const method of ['analytic_event_data', 'span_event_data', 'error_event_data']) {
    for (const [, , events] of nrPayloads(rx, method)) {
      for (const [e, user, agent] of events) {
        const kind =
          method === 'analytic_event_data'
            ? `transaction:${e.name}`
            : method === 'span_event_data'
              ? `span:${e.category}/${e['span.kind'] ?? '-'}`
              : `error:${e['error.class']}`;
        out.push({
          id: e.guid ?? '',
          parent: e.parentId ?? '',
          name: e.name ?? e['error.class'],
          kind,
          own: false,
          text: JSON.stringify([e, user, agent]),
        });
      }
    }
  }
  return out;
}

/** The log records it forwarded (log_event_data: [{ common, logs: [record, …] }]). */
const newRelicLogs = (rx) => nrPayloads(rx, 'log_event_data').flatMap((batches) => batches.flatMap((b) => b.logs ?? []));

/** Its `Logging/lines` count (metric_data: [run id, from, to, [[{ name, scope }, [count, …]], …]]). */
function newRelicLoggingLines(rx) {
  let count = 0;
  for (const [, , , metrics] of nrPayloads(rx, 'metric_data'))
    for (const [{ name, scope }, [calls]] of metrics) if (name === 'Logging/lines' && !scope) count += calls;
  return count;
}

/** The stand-in collector's answers: preconnect sends the agent back here, connect starts a run. */
function newRelicAnswer(req) {
  const method = nrMethod(req);
  let value = null;
  if (method === 'preconnect') value = { redirect_host: `127.0.0.1:${req.socket.localPort}` };
  else if (method === 'connect')
    value = {
      agent_run_id: 'neighbours-run',
      // Events every 500 ms after the harvest it makes 1 s after connecting (metrics: only then,
      // and every 60 s after).
      event_harvest_config: {
        report_period_ms: 500,
        harvest_limits: { analytic_event_data: 1000, custom_event_data: 1000, error_event_data: 100, log_event_data: 1000 },
      },
      span_event_harvest_config: { report_period_ms: 500, harvest_limit: 1000 },
      collect_errors: true,
      collect_traces: true,
      sampling_target: 100,
    };
  return JSON.stringify({ return_value: value });
}

/**
 * New Relic forwards and counts the app's own pino line, and none of resetwatch's: its records
 * with resetwatch are those it sends alone, and `Logging/lines` counts the one line of the app.
 * The count is read from the metrics harvest it makes 1 s after connecting (the next is 60 s on),
 * which must come after the app's work, when all three resets are logged: else this says nothing.
 */
function newRelicLogsCheck({ what, run, alone }) {
  const records = newRelicLogs(run.rx);
  const own = records.filter((l) => l.name === 'resetwatch');
  const appRecords = records.filter((l) => l.message === 'app-log');
  assert.equal(newRelicLogs(alone.rx).filter((l) => l.message === 'app-log').length, 1, `${what}: alone, it forwards the app's line`);
  assert.equal(appRecords.length, 1, `${what}: it forwards the app's own pino line: ${JSON.stringify(records)}`);
  assert.deepEqual(
    own.map((l) => l.message),
    [],
    `${what}: New Relic forwarded resetwatch's lines (log_event_data) as the app's logs`,
  );
  assert.equal(records.length, newRelicLogs(alone.rx).length, `${what}: the records it forwards alone: ${JSON.stringify(records)}`);
  const harvests = run.rx.requests.filter((q) => nrMethod(q) === 'metric_data').map((q) => q.at);
  assert.ok(
    run.resultAt !== undefined && harvests.length > 0 && harvests[0] > run.resultAt,
    `${what}: its metrics harvest (${harvests.map((t) => t - run.resultAt)} ms after the app's work) comes after the app's work`,
  );
  assert.equal(newRelicLoggingLines(alone.rx), 1, `${what}: alone, Logging/lines counts the app's line`);
  assert.equal(newRelicLoggingLines(run.rx), 1, `${what}: Logging/lines counts the app's one line, not resetwatch's`);
}

/** Sentry's envelopes that carry log items (its pino integration's). */
function sentryLogs(rx) {
  return rx.requests.filter((r) => r.path.startsWith('/api/1/envelope/') && r.body.toString().includes('"type":"log"'));
}

// ---- the neighbours ----

const OTEL_ENV = (rx, logs) => ({
  OTEL_SERVICE_NAME: 'neighbours-app',
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
  OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${logs.url}/v1/logs`,
  // The default `all` probes cloud metadata endpoints (169.254.169.254): only local detectors.
  OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_BLRP_SCHEDULE_DELAY: '100',
});
const DD = NODE_MAJOR >= 22 ? 'dd-trace' : 'dd-trace-node20'; // dd-trace 6 needs Node >= 22
const NR = NODE_MAJOR >= 22 ? 'newrelic' : 'newrelic-node20'; // newrelic 14 needs Node >= 22
const TLS = path.join(ROOT, 'test/fixtures/tls');

const NEIGHBOURS = {
  opentelemetry: {
    otel: true,
    load: {
      cjs: () => ['--require', resolveIn(dir, '@opentelemetry/auto-instrumentations-node/register')],
      esm: () => ['--import', './otel-esm.mjs'],
    },
    receiver: () => startReceiver(),
    env: OTEL_ENV,
    spans: otlpSpans,
    // Spans of the app's own work that must be there: SERVER /work and /slow, the two CLIENT requests.
    expect: ['SERVER:http', 'SERVER:http', 'CLIENT:http', 'CLIENT:undici'],
    // The app's own pino line gets the active span's ids from the neighbour's instrumentation,
    // and is forwarded as a log record (OTLP /v1/logs).
    appPinoField: 'trace_id',
    forwardsAppLogs: true,
    clientKinds: ['CLIENT:http', 'CLIENT:undici'],
    serverKind: 'SERVER:http',
  },
  'dd-trace': {
    load: { cjs: () => ['--require', `${DD}/init`], esm: () => ['--import', `${DD}/initialize.mjs`] },
    receiver: () => startIntake(),
    env: (rx) => ({
      DD_TRACE_AGENT_URL: rx.url,
      DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
      DD_REMOTE_CONFIGURATION_ENABLED: 'false',
      DD_PROFILING_ENABLED: 'false',
      DD_RUNTIME_METRICS_ENABLED: 'false',
      DD_TRACE_STARTUP_LOGS: 'false',
      DD_APPSEC_ENABLED: 'false',
      DD_DATA_STREAMS_ENABLED: 'false',
      DD_CRASHTRACKING_ENABLED: 'false',
      DD_DOGSTATSD_URL: `udp://127.0.0.1:${rx.port}`,
      DD_LOGS_INJECTION: 'true',
      DD_TRACE_FLUSH_INTERVAL: '100',
      DD_SERVICE: 'neighbours-app',
      DD_ENV: 'test',
    }),
    spans: ddSpans,
    expect: ['web.request', 'web.request', 'http.request', 'http.request'],
    appPinoField: 'dd',
  },
  'elastic-apm-node': {
    // Its documented ESM way: the loader hook plus the CommonJS start module.
    load: {
      cjs: () => ['--require', 'elastic-apm-node/start'],
      esm: () => ['--experimental-loader=elastic-apm-node/loader.mjs', '--require', 'elastic-apm-node/start'],
    },
    agentFlag: { esm: 'require' },
    receiver: () => startIntake((req) => (req.url === '/' ? JSON.stringify({ version: '8.15.0' }) : '{}')),
    env: (rx) => ({
      ELASTIC_APM_SERVER_URL: rx.url,
      ELASTIC_APM_CLOUD_PROVIDER: 'none',
      ELASTIC_APM_CENTRAL_CONFIG: 'false',
      ELASTIC_APM_METRICS_INTERVAL: '0s',
      ELASTIC_APM_API_REQUEST_TIME: '200ms',
      ELASTIC_APM_SERVICE_NAME: 'neighbours-app',
      ELASTIC_APM_LOG_LEVEL: 'warning',
      ELASTIC_APM_CAPTURE_EXCEPTIONS: 'false',
    }),
    spans: elasticSpans,
    // Node 22: `--experimental-loader=elastic-apm-node/loader.mjs` with an ESM entry exits 1 before
    // the app runs (ERR_METHOD_NOT_IMPLEMENTED: resolveSync, from require(esm) under async loader hooks).
    brokenAlone: (mode) => mode === 'esm' && NODE_MAJOR === 22,
    // Alone it sends /work's transaction and its http.request span (not /slow, cut off by its
    // client, nor fetch).
    expect: ['transaction:request', 'span:external/http'],
  },
  '@sentry/node 10': {
    otel: true,
    load: { cjs: () => ['--require', './sentry-init.cjs'], esm: () => ['--import', './sentry-init.mjs'] },
    receiver: () => startIntake(),
    env: (rx) => ({ SENTRY_DSN: `http://key@127.0.0.1:${rx.port}/1`, SENTRY_PACKAGE: '@sentry/node' }),
    spans: sentrySpans,
    logRequests: sentryLogs,
    forwardsAppLogs: true,
    expect: ['http.server', 'http.server', 'http.client', 'http.client'],
    clientKinds: ['http.client'],
    serverKind: 'http.server',
  },
  // 11 no longer sets up OpenTelemetry by default: no parent to find, resetwatch's spans stay out
  // of Sentry; resets, exit code and stderr are still checked, and the log lines' trace from the
  // sentry-trace header it injects. It only takes --import.
  '@sentry/node 11': {
    sentryHeader: true,
    load: { cjs: () => ['--import', './sentry-init.mjs'], esm: () => ['--import', './sentry-init.mjs'] },
    agentFlag: { cjs: 'import' },
    receiver: () => startIntake(),
    env: (rx) => ({ SENTRY_DSN: `http://key@127.0.0.1:${rx.port}/1`, SENTRY_PACKAGE: 'sentry-node-11' }),
    spans: sentrySpans,
    logRequests: sentryLogs,
    forwardsAppLogs: true,
    expect: ['http.server', 'http.server', 'http.client', 'http.client'],
  },
  // Its collector protocol over HTTPS to a loopback stand-in (test/fixtures/tls: CN localhost, IP
  // 127.0.0.1), trusted through its own `certificates` setting. Application logging on, as by
  // default in 13 and 14: it counts (Logging/lines) and forwards (log_event_data) every pino
  // line that goes through pino/lib/tools.js's asJson, where it injects a channel of its own
  // (@apm-js-collab/tracing-hooks on Module.prototype._compile).
  'New Relic': {
    load: {
      cjs: () => ['--require', NR],
      esm: () => ['--import', `${NR}/esm-loader.mjs`, '--require', NR],
    },
    receiver: async () =>
      startIntake(newRelicAnswer, {
        port: await freePort(),
        tls: { key: readFileSync(path.join(TLS, 'key.pem')), cert: readFileSync(path.join(TLS, 'cert.pem')) },
      }),
    env: (rx) => ({
      NEW_RELIC_NO_CONFIG_FILE: 'true',
      NEW_RELIC_LICENSE_KEY: '0123456789abcdef0123456789abcdef01234567',
      NEW_RELIC_APP_NAME: 'neighbours-app',
      NEW_RELIC_HOST: '127.0.0.1',
      NEW_RELIC_PORT: String(rx.port),
      NEW_RELIC_CERTIFICATES: readFileSync(path.join(TLS, 'cert.pem'), 'utf8'),
      NEW_RELIC_APPLICATION_LOGGING_ENABLED: 'true',
      NEW_RELIC_APPLICATION_LOGGING_FORWARDING_ENABLED: 'true',
      NEW_RELIC_APPLICATION_LOGGING_METRICS_ENABLED: 'true',
      // No cloud metadata probes (169.254.169.254 and the like), no file of its own log.
      NEW_RELIC_UTILIZATION_DETECT_AWS: 'false',
      NEW_RELIC_UTILIZATION_DETECT_AZURE: 'false',
      NEW_RELIC_UTILIZATION_DETECT_AZUREFUNCTION: 'false',
      NEW_RELIC_UTILIZATION_DETECT_GCP: 'false',
      NEW_RELIC_UTILIZATION_DETECT_PCF: 'false',
      NEW_RELIC_UTILIZATION_DETECT_DOCKER: 'false',
      NEW_RELIC_UTILIZATION_DETECT_KUBERNETES: 'false',
      NEW_RELIC_LOG_ENABLED: 'false',
    }),
    spans: newRelicSpans,
    // Each record it forwarded, as one request's body for the checks every neighbour gets.
    logRequests: (rx) => newRelicLogs(rx).map((record) => ({ body: JSON.stringify(record) })),
    forwardsAppLogs: true,
    // Transaction events of /work and /slow, its span events for them and for the two outgoing
    // requests (http.request and fetch). It adds no field to the app's pino line by default
    // (local decorating off).
    expect: [
      'transaction:WebTransaction/NormalizedUri/*',
      'transaction:WebTransaction/NormalizedUri/*',
      'span:generic/server',
      'span:generic/server',
      'span:http/client',
      'span:http/client',
    ],
    check: newRelicLogsCheck,
  },
};

async function runApp(name, mode, order, { env = {}, onStdout, entry = mode === 'cjs' ? 'app.cjs' : 'app.mjs' } = {}) {
  const n = NEIGHBOURS[name];
  const rx = await n.receiver();
  const logs = await startIntake();
  const flag = n.agentFlag?.[mode] ?? (mode === 'cjs' ? 'require' : 'import');
  const rw = flag === 'require' ? RW_CJS : RW_ESM;
  const nb = n.load[mode]();
  const pre = order === 'alone' ? nb : order === 'neighbour-first' ? [...nb, ...rw] : [...rw, ...nb];
  let resultAt; // when the app printed RESULT: its resets are all logged by then
  try {
    const r = await runNode([...pre, path.join(app, entry)], {
      cwd: app,
      timeout: 40000,
      onStdout: (text, child) => {
        if (resultAt === undefined && text.includes('RESULT ')) resultAt = Date.now();
        onStdout?.(text, child);
      },
      env: { RESETWATCH_LOG: 'stderr', RESETWATCH_PORT: '0', APP_PINO: '1', LINGER_MS: '1200', ...n.env(rx, logs), ...env },
    });
    // Whatever the exporter sent before the app exited has arrived by now or not at all.
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { r, spans: n.spans(rx), logs: n.logRequests?.(rx) ?? logs.requests, rx, resultAt };
  } finally {
    await rx.close();
    await logs.close();
  }
}

if (process.getuid?.() === 0) {
  test('as root the neighbours run in a network namespace with nothing but loopback', () => {
    assert.equal(process.env.RESETWATCH_NEIGHBOURS_NETNS, '1');
    assert.deepEqual(Object.keys(os.networkInterfaces()), ['lo']);
  });
}

test("alone, resetwatch records the fixture's three resets", async () => {
  const r = await runNode([...RW_CJS, path.join(app, 'app.cjs')], { cwd: app, env: { RESETWATCH_LOG: 'stderr', LINGER_MS: '0' } });
  assert.equal(r.code, 0, describeRun(r));
  assert.deepEqual(signature(resetLines(r.stderr)), EXPECTED_RESETS, describeRun(r));
});

for (const name of Object.keys(NEIGHBOURS)) {
  for (const mode of ['cjs', 'esm']) {
    test(`${name}, ${mode === 'cjs' ? 'CommonJS' : 'ESM'} app: both load orders`, async () => {
      const n = NEIGHBOURS[name];
      const [alone, ...runs] = await Promise.all(
        ['alone', 'neighbour-first', 'resetwatch-first'].map((order) => runApp(name, mode, order)),
      );
      if (n.brokenAlone?.(mode)) {
        // The neighbour's documented setup does not start the app on this Node, resetwatch or
        // not: then the app must fail the same way with resetwatch.
        assert.notEqual(alone.r.code, 0, `${name} alone now works on Node ${NODE_MAJOR}: drop brokenAlone\n${describeRun(alone.r)}`);
        for (const { r } of runs) {
          assert.equal(r.code, alone.r.code, describeRun(r));
          assert.deepEqual(otherStderr(r.stderr), otherStderr(alone.r.stderr), describeRun(r));
        }
        return;
      }
      assert.equal(alone.r.code, 0, `${name} alone\n${describeRun(alone.r)}`);
      const kinds = (spans) => spans.filter((s) => !s.own).map((s) => s.kind);
      for (const k of new Set(n.expect)) {
        assert.ok(
          kinds(alone.spans).filter((x) => x === k).length >= n.expect.filter((x) => x === k).length,
          `${name} alone sends its spans (${k}): ${JSON.stringify(kinds(alone.spans))}`,
        );
      }
      const appLine = (r) =>
        r.stdout
          .split('\n')
          .filter((l) => l.includes('"app-log"'))
          .map((l) => JSON.parse(l))[0];
      if (n.appPinoField)
        assert.ok(appLine(alone.r)?.[n.appPinoField] !== undefined, `${name} instruments the app's pino: ${alone.r.stdout}`);

      for (const [order, run] of [
        ['neighbour first', runs[0]],
        ['resetwatch first', runs[1]],
      ]) {
        const { r, spans, logs } = run;
        const what = `${name}, ${mode}, ${order}`;
        assert.equal(r.code, alone.r.code, `${what}: exit code\n${describeRun(r)}`);
        assert.deepEqual(
          otherStderr(r.stderr),
          otherStderr(alone.r.stderr),
          `${what}: stderr besides resetwatch's lines\n${describeRun(r)}`,
        );
        const lines = resetLines(r.stderr);
        assert.deepEqual(signature(lines), EXPECTED_RESETS, `${what}: the resets resetwatch records alone\n${describeRun(r)}`);

        // The neighbour's own spans: exactly what it sends alone, kind by kind, with resetwatch's
        // metrics endpoint on as by default (a free port), in both orders. resetwatch never loads
        // node:http (its endpoint and OTLP sender speak HTTP/1.1 on net sockets), so OpenTelemetry
        // in an ESM app, loaded first, does not patch node:http a second time either (it did while
        // the endpoint was node:http: two nested CLIENT spans per request). Nor does the
        // endpoint's bind add a `dns.lookup` span (dd-trace traced one: Node's listen() resolves
        // its host even when it is an IP address; the endpoint binds an IP without listen()).
        const allowed = (_k, a) => [a];
        for (const k of new Set([...kinds(alone.spans), ...kinds(spans)])) {
          const a = kinds(alone.spans).filter((x) => x === k).length;
          const w = kinds(spans).filter((x) => x === k).length;
          assert.ok(
            allowed(k, a).includes(w),
            `${what}: ${name}'s ${k} spans: ${w} with resetwatch, ${a} alone\nalone: ${JSON.stringify(kinds(alone.spans))}\nwith: ${JSON.stringify(kinds(spans))}`,
          );
        }

        n.check?.({ what, run, alone });

        // pino: resetwatch's lines are its own; the app's pino is still the neighbour's.
        for (const l of lines) {
          for (const key of ['trace_flags', 'dd', 'span.id', 'trace.id'])
            assert.equal(l[key], undefined, `${what}: ${key} injected into resetwatch's line ${JSON.stringify(l)}`);
        }
        if (n.appPinoField)
          assert.ok(appLine(r)?.[n.appPinoField] !== undefined, `${what}: the app's pino line keeps ${n.appPinoField}: ${r.stdout}`);
        for (const req of logs)
          assert.ok(!req.body.includes('connection reset'), `${what}: resetwatch's lines forwarded as the app's logs`);
        if (n.forwardsAppLogs)
          assert.ok(
            logs.some((req) => req.body.includes('app-log')),
            `${what}: the app's own pino line is forwarded`,
          );

        if (n.sentryHeader) {
          // It injects only its own sentry-trace header: each client reset's line names the
          // http.client span that made its request, and that span's trace.
          const clientSpans = new Map(spans.filter((s) => s.kind === 'http.client').map((s) => [s.id, JSON.parse(s.text)]));
          const clientLines = lines.filter((l) => l['resetwatch.direction'] === 'client');
          assert.equal(clientLines.length, 2, what);
          for (const l of clientLines) {
            const span = clientSpans.get(l.span_id);
            assert.ok(
              span !== undefined,
              `${what}: the line names a Sentry http.client span: ${JSON.stringify(l)}\n${JSON.stringify([...clientSpans])}`,
            );
            assert.equal(l.trace_id, span.trace_id, `${what}: the line's trace is the span's`);
          }
        }
        if (!n.otel) continue;
        const byId = new Map(spans.map((s) => [s.id, s]));
        const resets = spans.filter((s) => s.own);
        assert.equal(resets.length, 3, `${what}: resetwatch spans through the neighbour's provider: ${JSON.stringify(spans)}`);
        const parents = resets.map((s) => byId.get(s.parent)?.kind ?? `missing parent ${s.parent}`);
        const clientParents = parents.filter((k) => n.clientKinds.includes(k));
        const serverParents = parents.filter((k) => k === n.serverKind);
        assert.equal(
          clientParents.length,
          2,
          `${what}: the client resets are children of the CLIENT spans that met them; parents: ${JSON.stringify(parents)}\n${JSON.stringify(spans, null, 1)}`,
        );
        assert.equal(
          serverParents.length,
          1,
          `${what}: the server reset is a child of the SERVER span; parents: ${JSON.stringify(parents)}`,
        );
        // Each of the two outgoing requests has its own reset child, and the server's is /slow's.
        assert.equal(new Set(resets.map((s) => s.parent)).size, 3, `${what}: one reset per request span`);
        const server = byId.get(resets.find((s) => byId.get(s.parent)?.kind === n.serverKind).parent);
        if (name === 'opentelemetry')
          assert.equal(server.parent, CALLER_SPANS.slow, `${what}: /slow's SERVER span continues the caller's trace`);
        // The log line names the same parent as the span.
        assert.deepEqual(
          lines.map((l) => l.span_id).sort(),
          resets.map((s) => s.parent).sort(),
          `${what}: log lines carry the parent span ids`,
        );
      }
    });
  }
}

// The readings that lean on Node's and undici's internals, added after the suite above: an
// upstream down met by node:http, fetch and a dual-stack name (all http/1.1), an idle pooled socket this host aborts
// (ECONNABORTED, local_abort, read behind Node 22+'s pool guard) and the server end hearing it, TLS
// client and server with node:tls first loaded by the app (a client that resets under its TLS
// session while its request waits, a server that drops a response midway), and a connection handed
// over IPC to a forked child (which both agents are preloaded in) reset by its client while its
// request waits: adopted by resetwatch under the neighbour's HTTP server wrapper.
const later = (lines) =>
  lines
    .map((l) =>
      ['resetwatch.direction', 'resetwatch.phase', 'error.type', 'resetwatch.protocol', 'resetwatch.hint.id', 'resetwatch.tls']
        .map((k) => l[k] ?? '-')
        .join('/'),
    )
    .sort();
const LATER = [
  'client/connect/ECONNREFUSED/http/1.1/upstream_down/false',
  'client/connect/ECONNREFUSED/http/1.1/upstream_down/false',
  'client/connect/ECONNREFUSED/http/1.1/upstream_down/false',
  'client/established/ECONNRESET/unknown/-/false',
  'client/idle/ECONNABORTED/http/1.1/local_abort/false',
  'client/response/peer_closed/http/1.1/-/true',
  'server/idle/ECONNRESET/http/1.1/idle_reset/false',
  'server/response/ECONNRESET/http/1.1/client_abort/false',
  'server/response/ECONNRESET/http/1.1/client_abort/true',
];

test('alone, resetwatch reads the later paths so', async () => {
  const r = await runNode([...RW_CJS, path.join(app, 'later-paths.cjs')], { cwd: app, env: { RESETWATCH_LOG: 'stderr' } });
  assert.equal(r.code, 0, describeRun(r));
  assert.deepEqual(later(resetLines(r.stderr)), LATER, describeRun(r));
});

for (const name of Object.keys(NEIGHBOURS)) {
  test(`${name}: the undici dial's protocol and the pool guard's abort read the same beside it, both load orders`, async () => {
    const runs = await Promise.all(
      ['alone', 'neighbour-first', 'resetwatch-first'].map((order) => runApp(name, 'cjs', order, { entry: 'later-paths.cjs' })),
    );
    const [alone, ...withRw] = runs;
    assert.equal(alone.r.code, 0, `${name} alone\n${describeRun(alone.r)}`);
    for (const [order, { r }] of [
      ['neighbour first', withRw[0]],
      ['resetwatch first', withRw[1]],
    ]) {
      const what = `${name}, ${order}`;
      assert.equal(r.code, 0, `${what}: exit code\n${describeRun(r)}`);
      assert.equal(r.stdout, alone.r.stdout, `${what}: stdout`);
      assert.deepEqual(otherStderr(r.stderr), otherStderr(alone.r.stderr), `${what}: stderr besides resetwatch's lines\n${describeRun(r)}`);
      assert.deepEqual(later(resetLines(r.stderr)), LATER, `${what}\n${describeRun(r)}`);
    }
  });
}

test("a scrape of resetwatch's metrics endpoint is not traced by a neighbour", async () => {
  await Promise.all(
    ['opentelemetry', 'dd-trace', 'elastic-apm-node', '@sentry/node 10', 'New Relic'].map(async (name) => {
      const port = await freePort();
      let scrape;
      const { r, spans } = await runApp(name, 'cjs', 'neighbour-first', {
        env: { RESETWATCH_PORT: String(port), LINGER_MS: '1500' },
        // Once the app's work is done: the endpoint has been up since the preload.
        onStdout: (text) => {
          if (scrape === undefined && text.includes('RESULT '))
            scrape = fetch(`http://127.0.0.1:${port}/metrics`).then(
              (res) => res.status,
              (err) => err.message,
            );
        },
      });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(await scrape, 200, `${name}: the scrape`);
      assert.ok(spans.length > 0, `${name} sent its spans`);
      const traced = spans.filter((s) => s.text?.includes('/metrics'));
      assert.deepEqual(traced, [], `${name} traced the scrape`);
    }),
  );
});

// resetwatch loads Node's built-ins past require hooks (build/bundle.js): a neighbour that
// instruments a module when it is required (require-in-the-middle) must not see resetwatch's
// require of one the app never required. An app that requires only node:http got OpenTelemetry's
// `tcp.connect` spans once resetwatch was loaded after it (a trial of proxied clients beside APM
// agents): node:net was instrumented for the app by resetwatch's own require of it.
test("next to a neighbour loaded first, an app that requires only node:http gets the neighbour's spans it gets alone", async () => {
  const entry = path.relative(app, fixture('http-only-client.cjs'));
  // All at once: the suite runs as one test of the runner's, under its per-test timeout.
  const names = ['opentelemetry', 'dd-trace', '@sentry/node 10'];
  const runs = await Promise.all(
    names.flatMap((name) => ['alone', 'neighbour-first'].map((order) => runApp(name, 'cjs', order, { entry, env: { LINGER_MS: '1200' } }))),
  );
  for (const [i, name] of names.entries()) {
    const [alone, first] = runs.slice(2 * i, 2 * i + 2);
    assert.equal(alone.r.code, 0, `${name} alone\n${describeRun(alone.r)}`);
    assert.equal(first.r.code, 0, `${name}, neighbour first\n${describeRun(first.r)}`);
    const kinds = (spans) =>
      spans
        .filter((s) => !s.own)
        .map((s) => s.kind)
        .sort();
    assert.ok(alone.spans.length > 0, `${name} alone sent its spans\n${describeRun(alone.r)}`);
    assert.deepEqual(kinds(first.spans), kinds(alone.spans), `${name}: its spans with resetwatch loaded after it, and alone`);
  }
});

// The app listening on the endpoint's own port (exporters/prometheus/step-aside.ts wraps
// net.Server.prototype.listen) next to a neighbour that may wrap servers too: loaded before
// resetwatch and after it, the app still comes first, serves and exits, and the endpoint is back
// once the app has closed its server.
test("next to a neighbour, the app listening on the endpoint's port comes first; the endpoint comes back after", async () => {
  const entry = path.relative(app, fixture('app-own-port.cjs'));
  for (const name of ['opentelemetry', 'dd-trace', 'elastic-apm-node', '@sentry/node 10', 'New Relic']) {
    await Promise.all(
      ['neighbour-first', 'resetwatch-first'].map(async (order) => {
        const port = await freePort();
        const { r } = await runApp(name, 'cjs', order, {
          entry,
          env: { APP_PORT: String(port), OWN_PORT_PROBE: '1', RESETWATCH_PORT: String(port), LINGER_MS: '0' },
        });
        const what = `${name}, ${order}`;
        assert.equal(r.code, 0, `${what}\n${describeRun(r)}`);
        assert.equal(
          r.stdout,
          'app listening; /metrics answered: 200 the app\napp closed its server\n4 s later: 200 resetwatch metrics\n',
          `${what}\n${describeRun(r)}`,
        );
        const own = r.stderr.split('\n').filter((l) => l.startsWith('resetwatch: metrics endpoint'));
        assert.equal(own.length, 2, `${what}: the step-aside line and the return line\n${describeRun(r)}`);
        assert.match(own[0], new RegExp(`closed: the app listens on port ${port} itself`), what);
        assert.match(own[1], /the port is free now$/, what);
      }),
    );
  }
});

// A TracerProvider that sends nothing counts as none (exporters/otel/global.ts sendsNothing):
// Instana's collector registers one with no span processor, and resetwatch's spans went into it,
// OTLP export asked for or not (a trial). With OTEL_EXPORTER_OTLP_ENDPOINT set they go to
// resetwatch's own exporter; a provider that gets a processor after its registration is the app's
// again, and its exporter gets the span.
test('a registered TracerProvider with no span processor (Instana, the SDK 1.x and 2.x) counts as none', async (t) => {
  const sdk2 = createRequire(path.join(ROOT, 'package.json')).resolve('@opentelemetry/sdk-trace-base');
  const instanaPort = await freePort(); // nothing listens: Instana's collector keeps trying
  // When its agent does not answer, Instana's collector tries the default gateway at that port:
  // only where the suite has a network namespace of its own with nothing but loopback (as root).
  const netns = process.env.RESETWATCH_NEIGHBOURS_NETNS === '1';
  if (!netns) t.diagnostic("Instana's case left out: it runs only in the suite's network namespace (as root)");
  for (const which of [...(netns ? ['instana'] : []), 'sdk1', 'sdk2', 'sdk1-added']) {
    const rx = await startReceiver();
    try {
      const r = await runNode([...RW_CJS, path.join(app, 'silent-provider.cjs')], {
        cwd: app,
        timeout: 30000,
        env: {
          SILENT: which,
          SDK2_PATH: sdk2,
          INSTANA_PORT: String(instanaPort),
          INSTANA_LOG_LEVEL: 'error',
          RESETWATCH_LOG: 'stderr',
          RESETWATCH_PORT: 'off',
          OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_BSP_SCHEDULE_DELAY: '200',
        },
      });
      const what = `${which}\n${describeRun(r)}`;
      assert.equal(r.code, 0, what);
      assert.match(r.stdout, /^provider BasicTracerProvider$/m, what);
      assert.match(r.stdout, /^client ECONNRESET$/m, what);
      // Instana's collector dials its agent and more (refused here): only the app's reset counts.
      assert.equal(resetLines(r.stderr).filter((l) => l['resetwatch.phase'] !== 'connect').length, 1, what);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const own = rx.spans.filter((s) => s.scope.name === 'resetwatch' && s.attributes['resetwatch.phase'] !== 'connect');
      if (which === 'sdk1-added') {
        assert.match(r.stdout, /^app's exporter: 1 spans$/m, what);
        assert.equal(own.length, 0, `${what}: the app's provider has the span, not resetwatch's own exporter`);
      } else {
        assert.equal(own.length, 1, `${what}: the span reached resetwatch's own OTLP exporter: ${JSON.stringify(rx.spans)}`);
        assert.equal(own[0].name, 'connection reset', what);
      }
    } finally {
      await rx.close();
    }
  }
});
