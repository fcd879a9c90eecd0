// HTTP/1.1 upgrades (WebSocket) and CONNECT tunnels: once the 101 (or the CONNECT's 200) has been
// exchanged, Node frees the socket's HTTP parser (`socket.parser = null`, while `'parser' in
// socket` stays true) and hands the socket to the app's 'upgrade'/'connect' listener. From then on
// the connection carries no HTTP request: a reset on it is `established`, not an HTTP phase.
// Everything here is read at reset time only: Node announces no upgrade on a diagnostics channel
// (a server upgrade skips http.server.request.start), so nothing is spent per request.
import type { SocketState, Sock } from './internal-types';

/**
 * The socket left HTTP/1 through an upgrade or CONNECT. Server: the parser was freed while the
 * socket is still open (Node frees it otherwise only in 'close', after classification). fastify's
 * WebSocket routes (@fastify/websocket, @fastify/http-proxy) assign the upgraded socket a
 * ServerResponse of their own that never finishes: with one, once `ws` claimed the socket.
 * Client: a pooled idle socket has a freed parser too, but its agent still listens for 'free'; an
 * upgraded one was removed from its agent ('agentRemove' drops that listener). A request without
 * an agent closes its socket after the response, so it never sits idle either.
 */
export function isUpgraded(socket: Sock, state: SocketState): boolean {
  if (!('parser' in socket)) return state.direction === 'client' && state.http !== undefined && undiciUpgraded(socket);
  if (socket.parser != null) return false;
  // Until the WebSocket claims the socket, a framework's response on it is still an HTTP answer
  // in progress (fastify runs its hooks, auth among them, before the 101).
  if (state.direction === 'server') return socket._httpMessage == null || upgradeProtocol(socket) !== undefined;
  if (socket._httpMessage != null) return false;
  return state.http?.inflight === undefined && socket.listenerCount('free') === 0;
}

/**
 * What the upgraded connection speaks, when a WebSocket implementation marked the socket: `ws`
 * (and what builds on it: socket.io, graphql-ws, ...) keeps its WebSocket under its own
 * `Symbol('websocket')`; undici's (Node's global WebSocket) see undiciWebSocket().
 */
export function upgradeProtocol(socket: Sock): 'websocket' | undefined {
  return wsKey(socket) !== undefined || undiciWebSocket(socket) ? 'websocket' : undefined;
}

/** The key `ws` keeps its WebSocket under on the socket (its own `Symbol('websocket')`), if any. */
function wsKey(socket: Sock): symbol | undefined {
  for (const sym of Object.getOwnPropertySymbols(socket)) if (sym.description === 'websocket') return sym;
  return undefined;
}

/**
 * Whether the peer had closed the WebSocket (`ws` read its close frame) before the connection
 * was reset: a browser that closes a page sends its close frame and then closes the connection at
 * once, frames of this side still unread, which draws its kernel's RST.
 */
export function closeFrameReceived(socket: Sock): boolean {
  const key = wsKey(socket);
  if (key === undefined) return false;
  return (socket as unknown as Record<symbol, { _closeFrameReceived?: unknown } | undefined>)[key]?._closeFrameReceived === true;
}

/**
 * undici (fetch's HTTP client and Node's global WebSocket; no `parser` on its sockets) lets go of
 * a socket an upgrade took over: the socket's `Symbol('client')` link to its pool is set to null.
 */
function undiciUpgraded(socket: Sock): boolean {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    if (sym.description === 'client') return (socket as unknown as Record<symbol, unknown>)[sym] === null;
  }
  return false;
}

/**
 * undici's WebSocket: older undici (Node 20, 22) sets `socket.ws`; undici 7 (Node 24+) marks
 * nothing, but reads the socket with its own `onSocketData` listener.
 */
function undiciWebSocket(socket: Sock): boolean {
  const ws = (socket as { ws?: { constructor?: { name?: string } } }).ws;
  if (ws != null && typeof ws === 'object' && ws.constructor?.name === 'WebSocket') return true;
  return socket.listeners('data').some((fn) => fn.name === 'onSocketData');
}
