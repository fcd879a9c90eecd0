// A request whose socket is still on its way: Node's env proxy (NODE_USE_ENV_PROXY, an Agent's
// `proxyEnv`) dials an https: target's tunnel inside the request's constructor, listens on it
// itself ('error') and hands the request the socket, or its error, only once the proxy has answered
// the CONNECT. A proxy that refuses or resets the tunnel meanwhile fails the request a tick later:
// with no 'error' listener on the request the app crashes, though the socket had a listener. The
// socket dialled in the request's constructor is linked to it here (Node ≥ 22.12 announces the
// request, `http.client.request.created`, right after its agent dialled), so that the reset is
// known to be fatal (classify.ts crashes). Only sockets with an 'error' listener of their own by
// then are linked: Node's agents add none before they hand a socket over.
import { EventEmitter } from 'node:events';
import type { SocketState, Sock } from './internal-types';
import { now } from './clock';

type Pending = { socket?: unknown; listenerCount?: (name: string) => number };

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
  awaiting.set(socket, request);
  any = true;
}

/** The request a socket is still being readied for (it has not been given it yet), or undefined. */
export function awaitingRequest(socket: Sock): Pending | undefined {
  if (!any) return undefined;
  const req = awaiting.get(socket);
  return req !== undefined && req.socket == null ? req : undefined;
}
