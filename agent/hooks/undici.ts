// undici (and so fetch): its own diagnostics channels tell which request is on which socket and
// how far it got. undici reports a peer FIN as "other side closed" on idle sockets too; only a
// socket with a request in flight makes that a reset (classify.ts).
import { now } from '../clock';
import { activeContext } from '../trace-context';
import { httpOf, type HttpState, type RequestMark } from '../internal-types';
import { requestMark } from '../symbols';
import { guard } from '../guard';
import { stateOf } from '../sockets';
import { subscribeAll, unsubscribeAll, type Handlers } from './channels';
import { advertisedKeepAliveMs } from '../keep-alive';
import { queueMicrotask } from '../timers';

/** What we read of the messages of undici's diagnostics channels. */
type UndiciRequest = object;
type Msg = { request: UndiciRequest; socket?: object; response?: { headers?: unknown } };
type ConnectMsg = { connectParams?: { port?: string | number; protocol?: string; hostname?: string } };

const handlers: Handlers = {
  'undici:client:beforeConnect': (m: ConnectMsg) => guard('undici.connect', beforeConnect, m),
  'undici:request:create': (m: Msg) => guard('undici.create', create, m),
  'undici:client:sendHeaders': (m: Msg) => guard('undici.send', sendHeaders, m),
  'undici:request:bodySent': (m: Msg) => guard('undici.bodySent', responsePhase, m),
  'undici:request:headers': (m: Msg) => guard('undici.headers', headers, m),
  'undici:request:trailers': (m: Msg) => guard('undici.trailers', complete, m),
  'undici:request:error': (m: Msg) => guard('undici.error', failed, m),
};

export function enable(): void {
  subscribeAll(handlers);
}

export function disable(): void {
  unsubscribeAll(handlers);
}

/**
 * The port undici is dialling now, or -1. Its `beforeConnect` message comes just before its
 * connector calls net.connect, in the same synchronous run: ./client.ts marks the socket it dials
 * to that port as HTTP, so that a connect refused says `http/1.1` as node:http's does (no request
 * is on the socket yet to say so). Cleared in a microtask: a connector that dials later (a proxy's)
 * or elsewhere marks no other socket.
 */
export let dialling = -1;
/** The host undici is dialling now (its origin's; undici takes the brackets off an IPv6 address), or undefined. */
export let diallingHost: string | undefined;

function beforeConnect({ connectParams: p }: ConnectMsg): void {
  dialling = Number(p?.port) || (p?.protocol === 'https:' ? 443 : 80);
  diallingHost = typeof p?.hostname === 'string' ? p.hostname : undefined;
  queueMicrotask(dialled);
}

function dialled(): void {
  dialling = -1;
  diallingHost = undefined;
}

function create({ request }: Msg): void {
  requestMark.set(request, { start: now(), context: activeContext() } satisfies RequestMark);
}

function sendHeaders({ request, socket }: Msg): void {
  const state = socket ? stateOf(socket) : undefined;
  const mark: RequestMark | undefined = requestMark.get(request);
  if (!state || !mark) return;
  const http = httpOf(state);
  http.inflight = request;
  http.inflightPhase = 'request';
  mark.state = state;
  mark.reused = http.exchanges > 0;
  // Where this request's response begins: a reset before any byte past it lost nothing (retry.ts).
  http.readMark = (socket as { bytesRead?: number }).bytesRead ?? 0;
  if (mark.reused) mark.idleBeforeReuseMs = Math.round((now() - http.idleSince) * 1000) / 1000;
}

function ownHttp(request: UndiciRequest): HttpState | undefined {
  const http = requestMark.get(request)?.state?.http;
  return http && http.inflight === request ? http : undefined;
}

function responsePhase({ request }: Msg): void {
  const http = ownHttp(request);
  if (http) http.inflightPhase = 'response';
}

function headers({ request, response }: Msg): void {
  const http = ownHttp(request);
  if (!http) return;
  http.inflightPhase = 'response';
  http.serverKeepAliveMs = advertisedKeepAliveMs(response?.headers);
}

function complete({ request }: Msg): void {
  const http = ownHttp(request);
  if (!http) return;
  http.inflight = undefined;
  // A CONNECT (a forward proxy's tunnel: undici's ProxyAgent, EnvHttpProxyAgent, Node's env proxy)
  // or an upgrade hands the socket on: the request that follows on it is its first, not a reuse
  // (clients trial: every tunnelled request read as a keep-alive race, "retry safe").
  const r = request as { method?: string; upgrade?: unknown };
  if (r.method === 'CONNECT' || r.upgrade) return;
  http.exchanges++;
  http.idleSince = now();
}

function failed({ request }: Msg): void {
  // The socket's own error (seen by errorMonitor) comes first; this only clears the request.
  const http = ownHttp(request);
  if (http) http.inflight = undefined;
}
