// The metrics endpoint: its own small HTTP/1.1 server (default 127.0.0.1:9465, not 9464, which the
// OpenTelemetry Prometheus exporter uses), on a plain net.Server (./http1.ts says why not
// node:http). It never keeps the process alive (the server and every connection it accepts are
// unref'd), bounds header size, header/request time and connections, and a port in use costs one
// warning line: the app runs on. Routes: GET|HEAD /metrics, /resets, /healthz; other paths 404,
// other methods 405; with RESETWATCH_METRICS_TOKEN, no token → 401.
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../agent/config';
import { diag } from '../../agent/diag';
import { guard, reportFailure } from '../../agent/guard';
import { awake } from '../../agent/awake';
import { disown } from '../../agent/sockets';
import { Connection, SERVER_OPTIONS, type EndpointRequest, type EndpointResponse } from './http1';
import type { ResetRecord } from './recent';
import { listen2 } from './family-name';
import { appAsking, appHolds, holdPort, ownServer, releasePort } from './step-aside';
import { setTimeout } from '../../agent/timers';

export const LIMITS = {
  /** Request header bytes (Node's default is 16 KiB). */
  maxHeaderSize: 8192,
  /** Time for a client to send a request's head: from connecting, or beyond the keep-alive time. */
  headersTimeoutMs: 5000,
  /** A connection that takes nothing of a response being written for this long is closed. */
  idleTimeoutMs: 15000,
  /**
   * Between requests, a kept-alive connection is closed after this long: beyond Prometheus'
   * 5 minutes (its scrape client's idle limit, above any sane scrape interval), so the scraper
   * reuses one connection and closes it itself. A new connection per scrape (Node's 5 s default
   * closed it between 15 s scrapes) costs the idle app ~1 ms of CPU more per scrape
   * (docs/benchmarks.md); an idle kept-alive socket costs no timer wake-up.
   */
  keepAliveTimeoutMs: 310000,
  /** Concurrent connections; more are closed at once. */
  maxConnections: 64,
  /** Highest ?limit= for /resets. */
  maxRecentLimit: 100000,
};

const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface Handlers {
  exposition(openMetrics: boolean): Promise<string>;
  recentResets(limit: number): Promise<{ events: ResetRecord[]; workers?: { answered: number; total: number }; family?: number }>;
}

let bound: AddressInfo | undefined;

/** The address the endpoint listens on in this process, once bound (tests, demo). */
export function metricsAddress(): AddressInfo | undefined {
  return bound;
}

/**
 * The app's own listen() on the endpoint's port (./step-aside.ts), and the endpoint's return once
 * the port is free, were said: each once per process, then at debug (an app that listens and
 * closes again and again would use up the agent's lines).
 */
let appFirstSaid = false;
let appFreeSaid = false;

/** After a family leader exited, its port can take a moment to be free: tries this often, 100 ms apart. */
const TAKEOVER_TRIES = 30;

/**
 * A port another program holds is tried again after 1 s, then twice as long each time up to 30 s,
 * silently and for as long as the process runs: the endpoint comes up once that program exits (a
 * script run beside a service, under the same NODE_OPTIONS but in another session, while the
 * service restarted).
 */
const BUSY_RETRY_MS = 1000;
const BUSY_RETRY_MAX_MS = 30_000;

/**
 * The port held by another program is said once the process has run this long with it still held:
 * a short-lived process under the same NODE_OPTIONS (a health check or script exec'd into a
 * container, in another session than the service) serves no metrics worth a line, and said it at
 * every run (the frameworks trial). The timer is unref'd: such a process exits without the line.
 */
const BUSY_WARN_MS = 5000;

/** `takeover`: this process replaces a family's previous leader (./family.ts). */
export function startMetricsServer(config: Config, handlers: Handlers, takeover = false): () => void {
  let tries = takeover ? TAKEOVER_TRIES : 0;
  let busyRetry = 0; // the next wait once the port was found held by another program; 0: not yet
  let busySaid = false; // the "already in use" line was written
  let closed = false;
  const tokenDigest = config.metricsToken === '' ? undefined : digest(config.metricsToken);
  const connections = new Set<net.Socket>();
  const server = net.createServer(SERVER_OPTIONS, (socket) =>
    guard('prometheus.connection', () => {
      ownSocket(socket);
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      new Connection(socket, LIMITS, (req, res) => {
        const ok = guard('prometheus.request', () => {
          handle(req, res, handlers, tokenDigest);
          return true;
        });
        if (ok !== true) reply(res, 500, 'internal error\n', true); // counted in resetwatch_agent_errors_total
      });
    }),
  );
  server.maxConnections = LIMITS.maxConnections;
  ownServer(server);
  let byApp = false; // the port was the app's own (./step-aside.ts)
  const where = `${config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host}:${config.port}`;
  const relisten = (ms: number) =>
    setTimeout(
      () =>
        guard('prometheus.relisten', () => {
          if (!closed) listen();
        }),
      ms,
    ).unref();
  // The app listens on this port itself (./step-aside.ts): it comes first.
  const appFirst = (what: string) => {
    diag(
      appFirstSaid ? 'debug' : 'warn',
      `metrics endpoint on ${where} ${what}: the app listens on port ${config.port} itself, and the app comes first. Set RESETWATCH_PORT to another port, 0 (any free port) or off; the endpoint starts once the port is free.`,
    );
    appFirstSaid = true;
    byApp = true;
    busySaid = true;
    tries = 0;
    busyRetry = BUSY_RETRY_MS * 2;
    relisten(BUSY_RETRY_MS);
  };
  const stepAside = () => {
    const was = server.listening ? 'closed' : 'not started';
    releasePort(server);
    bound = undefined;
    server.close(); // also cancels a bind still waiting for its look-up
    for (const socket of connections) socket.destroy();
    appFirst(was);
  };
  server.on('error', (err: Error & { code?: string }) => {
    releasePort(server);
    if (err.code === 'EADDRINUSE' && appHolds() && busyRetry === 0) appFirst('not started');
    else if (err.code === 'EADDRINUSE' && tries > 0) {
      tries--;
      relisten(100);
    } else if (err.code === 'EADDRINUSE' && busyRetry > 0) {
      relisten(busyRetry);
      busyRetry = Math.min(busyRetry * 2, BUSY_RETRY_MAX_MS);
    } else if (err.code === 'EADDRINUSE') {
      // On Linux, processes with the agent and the same settings share the port (./family.ts).
      const by =
        process.platform === 'linux' || config.port === 0
          ? 'by a program other than resetwatch, by resetwatch in another session or container, or with other RESETWATCH_* settings'
          : `by another process: on ${process.platform} processes do not share the endpoint`;
      const say = () => {
        busySaid = true;
        diag(
          'warn',
          `metrics endpoint not started: ${where} is already in use (${by}); the app runs on, and the endpoint starts once the port is free. Set RESETWATCH_PORT to a free port, 0 (any free port) or off.`,
        );
      };
      if (config.port === 0) say();
      else {
        const later = () => guard('prometheus.busy', () => !closed && !server.listening && say());
        setTimeout(later, BUSY_WARN_MS).unref();
        relisten(BUSY_RETRY_MS);
        busyRetry = BUSY_RETRY_MS * 2;
      }
    } else {
      diag('warn', `metrics endpoint not started on ${where}: ${err.message}; the app runs on.`);
    }
  });
  const listen = () => {
    // An app's listen() on this port is under way (a DNS look-up first): it binds first.
    if (config.port !== 0 && appAsking()) {
      relisten(BUSY_RETRY_MS);
      return;
    }
    // From the bind on, not only once it listens: a bind that waits for a look-up (a host name)
    // is cancelled by an app's listen() meanwhile.
    if (config.port !== 0) holdPort(server, stepAside);
    if (typeof config.port !== 'number' || !bindDirect(server, config.host, config.port))
      server.listen({ host: config.host, port: config.port, exclusive: true });
  };
  server.on('listening', () => {
    guard('prometheus.listening', () => {
      // An app's listen() began while this bind waited for a look-up: the app comes first.
      if (config.port !== 0 && appAsking()) return stepAside();
      const addr = server.address() as AddressInfo;
      bound = addr;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const url = `http://${host}:${addr.port}/metrics`;
      if (config.port === 0) diag('warn', `metrics endpoint listening on ${url} (RESETWATCH_PORT=0 picked a free port)`);
      else if (busySaid) {
        diag(byApp && appFreeSaid ? 'debug' : 'warn', `metrics endpoint listening on ${url}: the port is free now`);
        if (byApp) appFreeSaid = true;
      } else diag('info', `metrics endpoint listening on ${url}`);
      if (tokenDigest === undefined && !isLoopback(config.host)) {
        diag('warn', `metrics endpoint is reachable beyond loopback (${config.host}) without RESETWATCH_METRICS_TOKEN`);
      }
    });
  });
  listen();
  server.unref();
  return () => {
    closed = true;
    bound = undefined;
    releasePort(server);
    server.close();
    for (const socket of connections) socket.destroy();
  };
}

/**
 * An IP address is bound without the dns.lookup listen() runs for any host, an IP address too: an
 * APM's dns instrumentation (dd-trace, OpenTelemetry's) traced it as a root span of the app's at
 * every start. A host name goes through listen(). False when it did not bind: listen() then.
 */
function bindDirect(server: net.Server, host: string, port: number): boolean {
  const family = net.isIP(host);
  return family !== 0 && listen2(server, host, port, family);
}

/** The endpoint's own connections are not the app's: not watched, not counted, never keeping the process alive. */
function ownSocket(socket: net.Socket): void {
  // Node emits 'connection' before publishing net.server.socket: the socket is marked as not the
  // app's and the server hook skips it. Should a Node version publish first, the watch is undone.
  disown(socket);
  socket.unref();
}

function handle(req: EndpointRequest, res: EndpointResponse, handlers: Handlers, tokenDigest: Buffer | undefined): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (tokenDigest !== undefined && !authorized(req.headers.authorization, tokenDigest)) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="resetwatch"');
    reply(res, 401, 'unauthorized: send Authorization: Bearer <RESETWATCH_METRICS_TOKEN>\n', true);
    return;
  }
  const url = originForm(req.url);
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  if (path !== '/metrics' && path !== '/resets' && path !== '/healthz') {
    reply(res, 404, 'not found: try /metrics, /resets or /healthz\n', true);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, 'method not allowed: use GET\n', true);
    return;
  }
  if (path === '/healthz') {
    reply(res, 200, 'ok\n');
    return;
  }
  if (path === '/metrics') {
    const om = wantsOpenMetrics(req.headers.accept);
    // Settled in guard(): a throw here would be an unhandled rejection, which ends the app.
    handlers.exposition(om).then(
      (body) => guard('prometheus.send', send, res, 200, om ? OPENMETRICS : TEXT, body),
      (err) =>
        guard('prometheus.send', () => {
          reportFailure('prometheus.metrics', err);
          reply(res, 500, 'internal error collecting metrics\n', true);
        }),
    );
    return;
  }
  let limit = Number.MAX_SAFE_INTEGER;
  const raw = new URLSearchParams(query).get('limit');
  if (raw !== null) {
    if (!/^\d{1,6}$/.test(raw) || Number(raw) > LIMITS.maxRecentLimit) {
      reply(res, 400, 'bad limit: expected an integer 0..100000\n', true);
      return;
    }
    limit = Number(raw);
  }
  handlers.recentResets(limit).then(
    ({ events, workers, family }) =>
      guard('prometheus.send', () => {
        if (workers) res.setHeader('X-Resetwatch-Workers', `${workers.answered}/${workers.total}`);
        if (family !== undefined) res.setHeader('X-Resetwatch-Family', String(family));
        send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(events, null, 1)}\n`);
      }),
    (err) =>
      guard('prometheus.send', () => {
        reportFailure('prometheus.resets', err);
        reply(res, 500, 'internal error collecting resets\n', true);
      }),
  );
}

/**
 * The request target as a path: the absolute form (`http://host:port/metrics`, what a client sends
 * through a forward proxy, and which a server must accept: RFC 9112 3.2.2) loses its scheme and
 * authority; any other form is kept as sent.
 */
function originForm(target: string): string {
  const m = ABSOLUTE_FORM.exec(target);
  if (m === null) return target;
  const rest = target.slice(m[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

function reply(res: EndpointResponse, status: number, body: string, close = false): void {
  if (close) res.setHeader('Connection', 'close');
  send(res, status, 'text/plain; charset=utf-8', body);
}

function send(res: EndpointResponse, status: number, type: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
  awake(); // a scrape woke the process: the agent's due chores run now (agent/awake.ts)
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function authorized(header: string | undefined, tokenDigest: Buffer): boolean {
  if (typeof header !== 'string') return false;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return m !== null && timingSafeEqual(digest(m[1]), tokenDigest);
}

/**
 * OpenMetrics when the Accept header ranks it at least as high as the text format (Prometheus sends
 * `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`).
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let om = 0;
  let text = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let qv = 1;
    for (const p of params) if (p.startsWith('q=')) qv = Number(p.slice(2)) || 0;
    if (type === 'application/openmetrics-text') om = Math.max(om, qv);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, qv);
  }
  return om > 0 && om >= text;
}

/** 127.0.0.0/8 and ::1 in any spelling (`0:0:0:0:0:0:0:1`, `::ffff:127.0.0.1`). */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const family = net.isIP(host);
  if (family === 0) return false;
  const loopback = new net.BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  return loopback.check(host, family === 6 ? 'ipv6' : 'ipv4');
}
