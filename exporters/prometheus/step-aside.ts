// The app's own listen on the metrics endpoint's port: the endpoint steps aside before the app
// binds. Without it an app that listens on that port (its own port given as RESETWATCH_PORT, or an
// app of its own on 9465) fails with EADDRINUSE whenever the agent bound first: `next start`
// listens ~1.5 s after the preload and exited 1 (the Next.js trial). The app must run as without
// the agent (promise 1); the endpoint can wait. A cluster primary binds for its workers through the
// same listen(), so a worker's port is seen there. A listen in another process of the family (a
// child, when the parent holds the endpoint) is not seen: README "Limits".
import * as net from 'node:net';
import { guard } from '../../agent/guard';
import { patch, unpatch } from '../../agent/patch';

/** The endpoint in this process, while it listens: its server, its port, and how it steps aside. */
let held: { server: net.Server; port: number; stepAside: () => void } | undefined;

/** From now on an app's listen() on `port` (any host) calls `stepAside` first. One endpoint per process. */
export function holdPort(server: net.Server, port: number, stepAside: () => void): void {
  held = { server, port, stepAside };
  patch(
    net.Server.prototype,
    'listen',
    (original) =>
      function listen(this: net.Server) {
        // biome-ignore lint/complexity/noArguments: passed on as they came (hooks/client.ts)
        const args = arguments as unknown as unknown[];
        if (held !== undefined && this !== held.server) guard('prometheus.stepAside', checkListen, args.length > 0 ? args[0] : undefined);
        return original.apply(this, args);
      },
  );
}

/** The endpoint `server` no longer listens (closed, or stepped aside): nothing to watch for. */
export function releasePort(server: net.Server): void {
  if (held?.server !== server) return;
  held = undefined;
  unpatch(net.Server.prototype, 'listen');
}

function checkListen(first: unknown): void {
  if (held === undefined) return;
  // listen(port, …), listen('9465', …) or listen({ port, … }); a path, a handle or an fd is no port.
  const raw = first !== null && typeof first === 'object' ? (first as { port?: unknown }).port : first;
  const port = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
  if (port !== held.port) return;
  const { server, stepAside } = held;
  releasePort(server);
  stepAside();
}
