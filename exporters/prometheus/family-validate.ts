// What another local process sends to a family leader (or a leader to its members) is untrusted:
// any process in the namespace can connect to the abstract socket. A snapshot is rebuilt field by
// field against this process's own metric definitions; anything else is refused whole (the
// caller drops the message and counts it). Bounded: series per metric, peers, strings, records.
import type { Snapshot } from './cluster';
import { LABELS } from '../../agent/contract';
import { peerOfLabels } from './peer-labels';
import type { MetricJSON } from './render';
import type { ResetRecord } from './recent';
import type { Sample } from './threads';
import { DIRECTIONS, ERROR_TYPES, PHASES, PROTOCOLS } from '../../agent/types';

/** resetwatch's own metrics, as this process's registry defines them. */
export type Schema = Map<string, { type: 'counter' | 'gauge' | 'histogram'; labels: ReadonlySet<string>; aggregator: string }>;

/** Series (values) one metric may carry: a real one has at most a few thousand (peers × labels). */
export const MAX_SERIES = 4096;
const MAX_LABEL_VALUE = 260;
const MAX_RECORD_KEYS = 48;
const MAX_RECORD_STRING = 1024;
const MAX_RECENT = 1000;
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function count(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** A snapshot rebuilt from untrusted input, or undefined when any part of it is not resetwatch's. */
export function cleanSnapshot(input: unknown, schema: Schema, maxPeers: number): Snapshot | undefined {
  if (!isObject(input) || !Array.isArray(input.metrics) || !Array.isArray(input.recent)) return undefined;
  if (input.metrics.length > schema.size || input.recent.length > MAX_RECENT) return undefined;
  const metrics: MetricJSON[] = [];
  const seen = new Set<string>();
  for (const m of input.metrics as unknown[]) {
    const clean = cleanMetric(m, schema, maxPeers);
    if (clean === undefined || seen.has(clean.name)) return undefined;
    seen.add(clean.name);
    metrics.push(clean);
  }
  const recent: ResetRecord[] = [];
  for (const r of input.recent as unknown[]) {
    const clean = cleanRecord(r);
    if (clean === undefined) return undefined;
    recent.push(clean);
  }
  return { metrics, recent };
}

function cleanMetric(m: unknown, schema: Schema, maxPeers: number): MetricJSON | undefined {
  if (!isObject(m) || typeof m.name !== 'string' || !Array.isArray(m.values) || m.values.length > MAX_SERIES) return undefined;
  const def = schema.get(m.name);
  if (def === undefined || m.type !== def.type) return undefined;
  const base = m.name.replace(/_total$/, '');
  const peers = new Set<string>();
  const values: unknown[] = [];
  for (const v of m.values as unknown[]) {
    if (!isObject(v) || !count(v.value) || !isObject(v.labels)) return undefined;
    const labels: Record<string, string | number> = {};
    for (const [k, lv] of Object.entries(v.labels)) {
      if (!def.labels.has(k)) return undefined;
      if (typeof lv === 'number' && k === 'le' && (Number.isFinite(lv) || lv === Infinity)) labels[k] = lv;
      else if (typeof lv === 'string' && lv.length <= MAX_LABEL_VALUE) labels[k] = lv;
      else return undefined;
    }
    if (labels[LABELS.serverAddress] !== undefined || labels[LABELS.clientAddress] !== undefined) {
      peers.add(peerOfLabels(labels));
      if (peers.size > maxPeers + 1) return undefined; // admitted peers and '_OTHER'
    }
    const out: Record<string, unknown> = { value: v.value, labels };
    if (v.metricName !== undefined) {
      if (typeof v.metricName !== 'string' || ![m.name, `${base}_bucket`, `${base}_sum`, `${base}_count`].includes(v.metricName))
        return undefined;
      out.metricName = v.metricName;
    }
    if (v.exemplar !== undefined && v.exemplar !== null) {
      const e = v.exemplar;
      if (!isObject(e) || !isObject(e.labelSet) || !count(e.value)) return undefined;
      if (e.timestamp !== undefined && !count(e.timestamp)) return undefined;
      const labelSet: Record<string, string> = {};
      if (!HEX32.test(String(e.labelSet.trace_id))) return undefined;
      labelSet.trace_id = String(e.labelSet.trace_id);
      if (e.labelSet.span_id !== undefined) {
        if (!HEX16.test(String(e.labelSet.span_id))) return undefined;
        labelSet.span_id = String(e.labelSet.span_id);
      }
      out.exemplar = { labelSet, value: e.value, timestamp: e.timestamp };
    }
    values.push(out);
  }
  const help = typeof m.help === 'string' ? m.help.slice(0, 512) : '';
  return { name: m.name, help, type: def.type, aggregator: def.aggregator, values } as unknown as MetricJSON;
}

/** A recent-reset record rebuilt key by key: bounded keys and strings, finite numbers. */
export function cleanRecord(r: unknown): ResetRecord | undefined {
  if (!isObject(r)) return undefined;
  const keys = Object.keys(r);
  if (keys.length > MAX_RECORD_KEYS) return undefined;
  const out: ResetRecord = {};
  for (const k of keys) {
    if (!/^[\w.]{1,64}$/.test(k)) return undefined;
    const v = r[k];
    if (typeof v === 'string') out[k] = v.length > MAX_RECORD_STRING ? v.slice(0, MAX_RECORD_STRING) : v;
    else if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    else if (typeof v === 'boolean') out[k] = v;
    else return undefined;
  }
  return out;
}

/** A reset sample rebuilt from untrusted input (label values from the closed sets), or undefined. */
export function cleanSample(input: unknown): Sample | undefined {
  if (!isObject(input)) return undefined;
  const s = input as unknown as Sample;
  if (!DIRECTIONS.includes(s.direction) || !PHASES.includes(s.phase) || !ERROR_TYPES.includes(s.errorType)) return undefined;
  if (typeof s.peer !== 'string' || s.peer.length > 260 || typeof s.tls !== 'boolean') return undefined;
  if (![s.bytesReceived, s.bytesSent, s.connectionAgeMs].every(Number.isFinite)) return undefined;
  if (s.idleBeforeReuseMs !== undefined && !Number.isFinite(s.idleBeforeReuseMs)) return undefined;
  if (s.traceId !== undefined && !HEX32.test(String(s.traceId))) return undefined;
  if (s.spanId !== undefined && !HEX16.test(String(s.spanId))) return undefined;
  const clean: Sample = {
    direction: s.direction,
    phase: s.phase,
    errorType: s.errorType,
    tls: s.tls,
    peer: s.peer,
    bytesReceived: Math.max(0, s.bytesReceived),
    bytesSent: Math.max(0, s.bytesSent),
    connectionAgeMs: Math.max(0, s.connectionAgeMs),
  };
  if (s.idleBeforeReuseMs !== undefined) clean.idleBeforeReuseMs = Math.max(0, s.idleBeforeReuseMs);
  if (PROTOCOLS.includes(s.protocol as (typeof PROTOCOLS)[number])) clean.protocol = s.protocol;
  if (s.traceId !== undefined) clean.traceId = String(s.traceId);
  if (s.spanId !== undefined) clean.spanId = String(s.spanId);
  return clean;
}
