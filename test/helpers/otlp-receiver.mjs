// An in-test OTLP/HTTP receiver on 127.0.0.1: accepts /v1/traces and /v1/metrics in protobuf
// (decoded with protobufjs and the subset of the OTLP schema below) and JSON, and normalises both
// to plain objects: spans { traceId, spanId, parentSpanId, name, kind, attributes, events, status,
// resource, scope } and metric points { name, unit, type, monotonic, attributes, value | count,
// sum, buckets, bounds, resource, scope }. `behaviour` makes it misbehave: 'ok' (default),
// '503', 'reset' (RST on every request), 'hang' (never answers), or a function (req, res, n) that
// answers request number n itself and returns true (false: answered as 'ok'). Also `run()`: a fixture app under
// `node --require resetwatch`, with its `NAME <json>` stdout markers parsed.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { ROOT } from './root.mjs';

export { ROOT };

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const SCHEMA = `
syntax = "proto3";
package otlp;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
  double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Event events = 11; Status status = 15; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Status { string message = 2; int32 code = 3; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message Metric { string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; } }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint { repeated KeyValue attributes = 7; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; } }
message HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 time_unix_nano = 3; fixed64 count = 4;
  optional double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
  optional double min = 11; optional double max = 12; }
`;
const root = protobuf.parse(SCHEMA, { keepCase: false }).root;
const TraceRequest = root.lookupType('otlp.ExportTraceServiceRequest');
const MetricsRequest = root.lookupType('otlp.ExportMetricsServiceRequest');
const TO_OBJECT = { longs: String, bytes: Buffer, defaults: false, arrays: true };

const hex = (v) =>
  v == null
    ? ''
    : typeof v === 'string'
      ? /^[0-9a-f]*$/i.test(v)
        ? v.toLowerCase()
        : Buffer.from(v, 'base64').toString('hex')
      : Buffer.from(v).toString('hex');
const num = (v) => (v == null ? undefined : Number(v));

function anyValue(v) {
  if (v == null) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}
function attrs(list) {
  const out = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

function normaliseSpans(req) {
  const spans = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name,
          kind: num(s.kind) ?? 0,
          startMs: Number(BigInt(s.startTimeUnixNano ?? 0) / 1000000n),
          endMs: Number(BigInt(s.endTimeUnixNano ?? 0) / 1000000n),
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
          status: { code: num(s.status?.code) ?? 0, message: s.status?.message ?? '' },
          resource,
          scope: { name: ss.scope?.name, version: ss.scope?.version },
        });
      }
    }
  }
  return spans;
}

function normaliseMetrics(req) {
  const points = [];
  for (const rm of req.resourceMetrics ?? []) {
    const resource = attrs(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const base = { name: m.name, unit: m.unit ?? '', resource, scope: { name: sm.scope?.name } };
        if (m.sum || m.gauge) {
          const d = m.sum ?? m.gauge;
          for (const p of d.dataPoints ?? []) {
            points.push({
              ...base,
              type: m.sum ? 'sum' : 'gauge',
              monotonic: !!m.sum?.isMonotonic,
              attributes: attrs(p.attributes),
              value: Number(p.asInt ?? p.asDouble ?? 0),
            });
          }
        } else if (m.histogram) {
          for (const p of m.histogram.dataPoints ?? []) {
            points.push({
              ...base,
              type: 'histogram',
              attributes: attrs(p.attributes),
              count: Number(p.count ?? 0),
              sum: num(p.sum),
              buckets: (p.bucketCounts ?? []).map(Number),
              bounds: (p.explicitBounds ?? []).map(Number),
              min: num(p.min),
              max: num(p.max),
              temporality: Number(m.histogram.aggregationTemporality ?? 0),
            });
          }
        }
      }
    }
  }
  return points;
}

/**
 * `tls: true` serves HTTPS with test/fixtures/otel-tls (CN localhost); `rx.url` is then https://localhost:port.
 * `port`: listen on that one (default: any free port). `rx.requests[i].at` and `rx.closes` are Date.now()
 * when each request ended and each connection closed; a traces request's `resourceSpans` is how many
 * ResourceSpans entries it held.
 */
export async function startReceiver({ behaviour = 'ok', tls = false, port = 0 } = {}) {
  const rx = {
    spans: [],
    metrics: [],
    requests: [],
    closes: [],
    errors: [],
    sockets: new Set(),
    maxSockets: 0,
    connections: 0,
    behaviour,
    url: '',
    port: 0,
    /** Resolves with the matching items (spans or metric points) once `pred(list)` holds. */
    async waitFor(what, pred, ms = 10000) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const found = pred(rx[what]);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(
        `receiver: condition on ${what} not met within ${ms} ms; have ${rx[what].length} ${what}: ${JSON.stringify(rx[what].map((x) => x.name)).slice(0, 2000)}`,
      );
    },
    /** The latest value of each metric point (cumulative sums: last export wins). */
    latest(name, match = () => true) {
      const ps = rx.metrics.filter((p) => p.name === name && match(p.attributes));
      const byKey = new Map();
      for (const p of ps) byKey.set(JSON.stringify(p.attributes), p);
      return [...byKey.values()];
    },
    close() {
      for (const s of rx.sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const contentType = String(req.headers['content-type'] ?? '');
      rx.requests.push({ path: req.url, contentType, encoding: req.headers['content-encoding'], at: Date.now() });
      if (typeof rx.behaviour === 'function' && rx.behaviour(req, res, rx.requests.length)) return;
      if (rx.behaviour === 'hang') return;
      if (rx.behaviour === 'reset') {
        req.socket.resetAndDestroy();
        return;
      }
      if (rx.behaviour === '503') {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
        return;
      }
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
        const json = contentType.includes('json');
        if (req.url === '/v1/traces') {
          const msg = json ? JSON.parse(body.toString()) : TraceRequest.toObject(TraceRequest.decode(body), TO_OBJECT);
          rx.spans.push(...normaliseSpans(msg));
          rx.requests.at(-1).resourceSpans = (msg.resourceSpans ?? []).length;
        } else if (req.url === '/v1/metrics') {
          const msg = json ? JSON.parse(body.toString()) : MetricsRequest.toObject(MetricsRequest.decode(body), TO_OBJECT);
          rx.metrics.push(...normaliseMetrics(msg));
        } else {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
      } catch (err) {
        rx.errors.push(err);
        res.writeHead(400).end(String(err));
      }
    });
  };
  const server = tls
    ? https.createServer(
        {
          key: readFileSync(path.join(ROOT, 'test/fixtures/otel-tls/key.pem')),
          cert: readFileSync(path.join(ROOT, 'test/fixtures/otel-tls/cert.pem')),
        },
        handler,
      )
    : http.createServer(handler);
  server.on(tls ? 'secureConnection' : 'connection', (s) => {
    rx.connections++;
    rx.sockets.add(s);
    rx.maxSockets = Math.max(rx.maxSockets, rx.sockets.size);
    s.on('error', () => {});
    s.on('close', () => {
      rx.sockets.delete(s);
      rx.closes.push(Date.now());
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  rx.port = server.address().port;
  rx.url = tls ? `https://localhost:${rx.port}` : `http://127.0.0.1:${rx.port}`;
  return rx;
}

const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('RESETWATCH_')));

/** Runs a fixture under the agent (OTEL_* and RESETWATCH_* variables of the test removed; metrics port and log off); resolves with its output, exit status and parsed markers. */
export function run(file, env = {}, { timeout = 30000, args = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', '-r', 'resetwatch', ...args, file], {
      cwd: ROOT,
      env: { ...CLEAN_ENV, RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'off', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(file)} did not exit within ${timeout} ms\n${stdout}\n${stderr}`));
    }, timeout);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const exitedAt = Date.now();
      const marker = (name) => {
        const line = stdout.split('\n').find((l) => l.startsWith(`${name} `));
        return line === undefined ? undefined : JSON.parse(line.slice(name.length + 1));
      };
      resolve({ code, signal, stdout, stderr, exitedAt, marker });
    });
  });
}
