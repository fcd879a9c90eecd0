// One mapping from a ResetEvent to flat attribute names, shared by spans, log lines and /resets:
// OpenTelemetry semantic conventions where one exists, our own under `resetwatch.*`.
import { isIP } from 'node:net';
import type { ResetEvent } from '../../agent/types';

export type Attributes = Record<string, string | number | boolean>;

export function toAttributes(e: ResetEvent): Attributes {
  const a: Attributes = {
    'error.type': e.errorType,
    'network.transport': 'tcp',
    'resetwatch.direction': e.direction,
    'resetwatch.phase': e.phase,
    'resetwatch.code': e.code,
    'resetwatch.message': e.message,
    'resetwatch.tls': e.tls,
    'resetwatch.bytes_received': e.bytesReceived,
    'resetwatch.bytes_sent': e.bytesSent,
    'resetwatch.connection.age_ms': e.connectionAgeMs,
    'resetwatch.protocol': e.protocol,
    'resetwatch.idle_ms': e.idleMs,
    'resetwatch.retry': e.retry,
    'resetwatch.fatal': e.fatal,
  };
  if (e.syscall !== undefined) a['resetwatch.syscall'] = e.syscall;
  if (e.peerAddress !== undefined) {
    a['network.peer.address'] = e.peerAddress;
    const family = isIP(e.peerAddress);
    if (family !== 0) a['network.type'] = family === 6 ? 'ipv6' : 'ipv4';
  }
  if (e.peerPort !== undefined) a['network.peer.port'] = e.peerPort;
  if (e.serverAddress !== undefined) a['server.address'] = e.serverAddress;
  if (e.serverPort !== undefined) a['server.port'] = e.serverPort;
  if (e.localAddress !== undefined) a['network.local.address'] = e.localAddress;
  if (e.localPort !== undefined) a['network.local.port'] = e.localPort;
  if (e.tlsVersion !== undefined) {
    a['tls.protocol.name'] = 'tls';
    a['tls.protocol.version'] = e.tlsVersion.replace(/^TLSv/, '');
  }
  if (e.protocol === 'http/1.1') {
    a['network.protocol.name'] = 'http';
    a['network.protocol.version'] = '1.1';
  } else if (e.protocol === 'h2') {
    a['network.protocol.name'] = 'http';
    a['network.protocol.version'] = '2';
  }
  if (e.request !== undefined) {
    a['http.request.method'] = e.request.method;
    if (e.request.host !== undefined) a['resetwatch.request.host'] = e.request.host;
    if (e.request.ageMs !== undefined) a['resetwatch.request.age_ms'] = e.request.ageMs;
  }
  if (e.reusedSocket !== undefined) a['resetwatch.reused_socket'] = e.reusedSocket;
  if (e.idleBeforeReuseMs !== undefined) a['resetwatch.idle_before_reuse_ms'] = e.idleBeforeReuseMs;
  if (e.hint !== undefined) {
    a['resetwatch.hint.id'] = e.hint.id;
    a['resetwatch.hint'] = e.hint.text;
  }
  return a;
}
