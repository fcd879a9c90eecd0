// HTTP/1 request boundaries from Node's own diagnostics channels: when a client request starts we
// note the time and the active OpenTelemetry context (the parent for a reset span); when an
// exchange completes we note when the socket went idle. Per request, not per chunk. (For each
// channel anyone subscribes to, Node builds a message object per request: docs/benchmarks.md.)
// A server's requests cost no message: the activity hook counts a connection's reads since its
// last write, which tells at reset time whether a request was arriving and since when (Node's
// parser.duration() cannot: Node 22 does not reset it between requests). Only with the activity
// hook off are the http.server.* channels subscribed instead.
// The context is taken where `http.request()` runs when Node announces that
// (`http.client.request.created`, Node ≥ 22.12): a tracer's CLIENT span is active there and no
// longer when the app calls `end()` (`http.client.request.start`; trace-context.ts).
import { now } from '../clock';
import { activeContext } from '../trace-context';
import { httpOf, type RequestMark, type Sock } from '../internal-types';
import { createdContext, requestMark } from '../symbols';
import { guard } from '../guard';
import { stateOf, classify } from '../sockets';
import { subscribeAll, unsubscribeAll, type Handlers } from './channels';
import { advertisedKeepAliveMs } from '../keep-alive';
import { takeDialled } from './client';
import { dialledFor } from '../tunnel';
import type { Config } from '../config';

/** What we read of the messages of Node's http diagnostics channels. */
type Msg = {
  request: { socket?: Sock | null; reusedSocket?: boolean; res?: unknown };
  response?: unknown;
  socket?: Sock;
  error?: { code?: string; syscall?: string };
};

const handlers: Handlers = {
  'http.client.request.created': (m: Msg) => guard('http.client.created', clientCreated, m),
  'http.client.request.start': (m: Msg) => guard('http.client.start', clientStart, m),
  'http.client.response.finish': (m: Msg) => guard('http.client.finish', clientFinish, m),
  'http.client.request.error': (m: Msg) => guard('http.client.error', clientError, m),
};

/**
 * Server side: only with the activity hook off (RESETWATCH_DISABLED_HOOKS). With it on, a server
 * connection's reads since its last write tell at reset time whether a request was arriving and
 * since when (hooks/activity.ts, classify.ts): Node then builds no message per server request.
 */
const serverHandlers: Handlers = {
  'http.server.request.start': (m: Msg) => guard('http.server.start', serverStart, m),
  'http.server.response.finish': (m: Msg) => guard('http.server.finish', serverFinish, m),
};

let serverChannels = false;

export function enable(config: Config): void {
  subscribeAll(handlers);
  serverChannels = config.disabledHooks.includes('activity');
  if (serverChannels) subscribeAll(serverHandlers);
}

export function disable(): void {
  unsubscribeAll(handlers);
  if (serverChannels) unsubscribeAll(serverHandlers);
  serverChannels = false;
}

function clientCreated({ request }: Msg): void {
  createdContext.set(request, activeContext());
  // The socket its agent dialled for it, if any (Node's env proxy's tunnel: ../tunnel.ts).
  const dialled = takeDialled();
  if (dialled !== undefined && request.socket == null) dialledFor(dialled as Sock, stateOf(dialled), request);
}

// The request's age counts from here, when it is sent, on every Node version.
function clientStart({ request }: Msg): void {
  const context = createdContext.has(request) ? createdContext.get(request) : activeContext();
  const start = now();
  const socket = request.socket;
  const http = socket ? stateOf(socket)?.http : undefined;
  // How long the socket was pooled, taken now: by the time it resets, this request's own response
  // headers (clientFinish) have moved idleSince. Unknown when they already have (a streamed body
  // answered before its end: its start is published at that end, Node 20 to 26).
  const idleBeforeReuseMs =
    http !== undefined && request.reusedSocket === true && request.res == null && http.idleSince > 0 ? start - http.idleSince : undefined;
  const mark: RequestMark = { start, context, idleBeforeReuseMs };
  requestMark.set(request, mark);
  // A reused socket: its previous response has been read to the end (the socket was free), so
  // this is where this request's response begins (retry.ts). Not at that response's headers
  // (clientFinish): body chunks after them would count as bytes of this response.
  if (http !== undefined && socket) http.readMark = socket.bytesRead;
}

function clientFinish({ request, response }: Msg): void {
  const state = request.socket ? stateOf(request.socket) : undefined;
  if (!state) return;
  const http = httpOf(state);
  http.exchanges++;
  http.idleSince = now();
  http.serverKeepAliveMs = advertisedKeepAliveMs((response as { rawHeaders?: unknown } | undefined)?.rawHeaders);
  // Where the next request's response begins, unless clientStart of that request marks it later
  // (Node publishes this at the response's headers, before its body).
  if (request.socket) http.readMark = request.socket.bytesRead;
}

// A peer FIN while the request still waits for its response: Node emits 'socket hang up' on the
// request from the socket's 'end', before the socket closes. Without an 'error' listener the app
// crashes right there, so the event is published now rather than from 'close' (which never comes).
function clientError({ request, error }: Msg): void {
  const socket = request?.socket;
  if (!socket || error?.code !== 'ECONNRESET' || error.syscall !== undefined || socket.readableEnded !== true) return;
  const state = stateOf(socket);
  if (state && !state.done) classify().onPeerHangup(socket, state);
}

// Server: the request's start time lives on the connection's state (one request at a time on a
// connection), so nothing is allocated per request.
function serverStart({ socket }: Msg): void {
  const state = socket ? stateOf(socket) : undefined;
  if (state) httpOf(state).requestStart = now();
}

// Server: only where the next request begins is needed (a reset between requests is `idle`).
function serverFinish({ socket }: Msg): void {
  const state = socket ? stateOf(socket) : undefined;
  if (state && socket) httpOf(state).readMark = socket.bytesRead;
}
