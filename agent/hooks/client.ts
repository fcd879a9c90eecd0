// Client sockets: every outgoing TCP connection goes through net.Socket.prototype.connect —
// net.connect, tls.connect, http/https agents, undici/fetch and http2 alike, on every Node
// version (the net.client.socket channel misses tls.connect and Socket#connect before 22.17).
// The prototype is shared by CommonJS and ESM, so `import { connect } from 'node:net'` is covered.
import * as net from 'node:net';
import { now } from '../clock';
import { activeContext } from '../trace-context';
import { SocketState, SocketExtras, httpOf } from '../internal-types';
import { guard } from '../guard';
import { watch, watchable } from '../sockets';
import { patch, raiseStackLimit, restoreStackLimit, unpatch } from '../patch';
import * as undici from './undici';
import { ipFamily } from '../ip-family';

export function enable(): void {
  patch(
    net.Socket.prototype,
    'connect',
    (original) =>
      function connect(this: net.Socket) {
        // `arguments`, not a rest array: passed on as they came (their count tells Node which one is
        // the callback); V8 forwards `apply(this, arguments)` without an array per call.
        // biome-ignore lint/complexity/noArguments: no array per call (above)
        const args = arguments as unknown as unknown[];
        const n = args.length;
        guard('client.connect', onConnect, this, n > 0 ? args[0] : undefined, n > 1 ? args[1] : undefined);
        // An error made inside (ERR_SOCKET_BAD_PORT, thrown) has this frame too: one more frame
        // keeps all of the app's (Node keeps 10), as they read without the agent (patch.ts).
        const limit = raiseStackLimit();
        try {
          return original.apply(this, args);
        } finally {
          restoreStackLimit(limit);
        }
      },
  );
}

export function disable(): void {
  unpatch(net.Socket.prototype, 'connect');
}

interface ConnectOptions {
  host?: string;
  hostname?: string;
  port?: number | string;
  path?: string;
  lookup?: unknown;
}

/** `first` and `second`: connect()'s first two arguments. */
function onConnect(socket: net.Socket, first: unknown, second: unknown): void {
  if (!watchable(socket)) return; // watched already, or superseded
  // net.connect passes its normalised [options, cb] array as the first argument.
  if (Array.isArray(first)) first = first[0];
  let host: string | undefined;
  let port: number | undefined;
  if (first !== null && typeof first === 'object') {
    const o = first as ConnectOptions;
    if (o.path) return; // Unix-domain socket: not TCP, not watched (README). http passes path: null.
    host = o.host ?? o.hostname;
    port = o.port === undefined ? undefined : Number(o.port);
    // undici ≥ 8.10 dials a plain-HTTP origin given as an IP under the request's host name, with a
    // lookup that answers that IP: the app dialled the IP (or its proxy's), as with undici 7.
    const ip = undici.diallingHost;
    if (port === undici.dialling && typeof o.lookup === 'function' && ip !== undefined && ipFamily(ip) !== 0) host = ip;
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    port = Number(first);
    if (typeof second === 'string') host = second;
  } else {
    return; // connect(path): Unix-domain socket.
  }
  const dial = new SocketExtras(host ?? 'localhost', port, activeContext());
  const state = new SocketState('client', now(), (socket as { encrypted?: boolean }).encrypted === true, dial);
  watch(socket, state);
  if (port === undici.dialling) httpOf(state); // undici's connection: HTTP from the start
  if (ANNOUNCES_CREATED) lastDialled = socket;
}

/** The socket dialled last, until an HTTP request's creation takes it (./http.ts, ../tunnel.ts). */
let lastDialled: net.Socket | undefined;
const [MAJOR, MINOR] = process.versions.node.split('.').map(Number);
/** Node ≥ 22.12 announces each HTTP request as it is created (`http.client.request.created`); on older ones nothing would take the socket. */
const ANNOUNCES_CREATED = MAJOR > 22 || (MAJOR === 22 && MINOR >= 12);

export function takeDialled(): net.Socket | undefined {
  const s = lastDialled;
  lastDialled = undefined;
  return s;
}
