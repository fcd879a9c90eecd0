// A request whose socket is still on its way: Node's env proxy (NODE_USE_ENV_PROXY, an Agent's
// `proxyEnv`) dials an https: target's tunnel inside the request's constructor, listens on it
// itself ('error') and hands the request the socket, or its error, only once the proxy has answered
// the CONNECT and the TLS handshake over the tunnel is done. A proxy that refuses or resets the
// tunnel meanwhile fails the request a tick later: with no 'error' listener on the request the app
// crashes, though the socket had a listener. The socket dialled in the request's constructor is
// linked to it here (Node ≥ 22.12 announces the request, `http.client.request.created`, right after
// its agent dialled), and the TLS socket over it inherits the link (hooks/tls.ts), so that the
// reset is known to be fatal (classify.ts crashes) and the event names the request (event.ts: the
// tunnel's CONNECT, or over its TLS the request itself). Linked only where it is that tunnel: a
// socket with an 'error' listener of its own by then (Node's agents add none before they hand a
// socket over), dialled to the proxy of the request's agent, for a request not waiting in that
// agent's queue (a re-trial: a pg socket dialled just before a request queued behind `maxSockets`
// was linked to it, and its reset read fatal).
import { EventEmitter } from 'node:events';
import type { SocketState, Sock } from './internal-types';
import { now } from './clock';

type Pending = { socket?: unknown; listenerCount?: (name: string) => number; agent?: unknown };
type ProxyConfig = { proxyConnectionOptions?: { host?: unknown; port?: unknown } };
type AgentLike = { requests?: Record<string, unknown[] | undefined> } & Record<symbol, ProxyConfig | undefined>;

const listenerCount = EventEmitter.prototype.listenerCount;
/** Socket → the request it is being dialled for. A WeakMap: few sockets ever have one. */
const awaiting = new WeakMap<object, Pending>();
let any = false;

/**
 * Dialled this long before the request's announcement, the socket was dialled in its constructor
 * (a cold first request took ~1 ms here). An older one was dialled for something else.
 */
const SAME_RUN_MS = 50;

/** hooks/http.ts: `request` was created just after `socket` was dialled. */
export function dialledFor(socket: Sock, state: SocketState | undefined, request: Pending): void {
  if (state === undefined || state.direction !== 'client' || socket._httpMessage != null) return;
  if (listenerCount.call(socket, 'error') === 0 || now() - state.start > SAME_RUN_MS) return;
  if (!tunnelFor(request, state)) return;
  awaiting.set(socket, request);
  any = true;
}

/**
 * hooks/tls.ts: the TLS client Node's env proxy starts over the tunnel once the proxy answered 200
 * is the same wait: the request gets it only after its handshake, and a reset meanwhile fails the
 * request (a trial beside APM agents: a crash read `fatal: false`).
 */
export function carryOver(raw: object, tls: object): void {
  if (!any) return;
  const request = awaiting.get(raw);
  if (request !== undefined) awaiting.set(tls, request);
}

/** The request a socket is still being readied for (it has not been given it yet), or undefined. */
export function awaitingRequest(socket: Sock): Pending | undefined {
  if (!any) return undefined;
  const req = awaiting.get(socket);
  return req !== undefined && req.socket == null ? req : undefined;
}

/** The request's agent has a proxy (Node's `kProxyConfig`), the socket was dialled to it, and the request is not queued. */
function tunnelFor(request: Pending, state: SocketState): boolean {
  const agent = request.agent as AgentLike | null | undefined;
  if (agent == null || typeof agent !== 'object') return false;
  const key = Object.getOwnPropertySymbols(agent).find((k) => k.description === 'kProxyConfig');
  const proxy = key === undefined ? undefined : agent[key]?.proxyConnectionOptions;
  if (proxy == null || String(proxy.port) !== String(state.dial?.port) || proxy.host !== state.dial?.host) return false;
  const queues = agent.requests;
  if (queues != null) for (const name in queues) if (queues[name]?.includes(request)) return false;
  return true;
}
