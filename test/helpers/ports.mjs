// A free loopback port for a server a test starts later (Prometheus, nginx, a database, an app
// with a fixed RESETWATCH_PORT).
//
// Not `listen(0)`: the kernel hands that out from its ephemeral range (ip_local_port_range,
// 32768–60999 here), the same range every outgoing connection takes its local port from. Between
// the check and the server's own bind, any test running beside this one could take the port for
// a connection of its own, and the server then fails "already in use" (seen in CI: a family
// member's endpoint). A port below the ephemeral range is never given to a connection; it is
// picked at random (so that test files running at once rarely pick the same one), checked by a
// bind, and never handed out twice by this process.
import net from 'node:net';
import { readFileSync } from 'node:fs';

const LOW = 20000; // above the usual services' ports (databases, Prometheus, resetwatch's 9464)

/** The first port of the kernel's ephemeral range: ports from here on may be any connection's. */
function ephemeralStart() {
  const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  if (!(range[0] > LOW + 1000)) throw new Error(`ip_local_port_range starts at ${range[0]}: no room below it for test ports`);
  return range[0];
}

const HIGH = ephemeralStart();
const given = new Set();

/** Resolves if 127.0.0.1:port could be bound just now, else rejects with the bind's error. */
function bindable(port) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve()));
  });
}

/** A loopback port below the ephemeral range that was free a moment ago. */
export async function freePort() {
  for (let tries = 0; tries < 200; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    try {
      await bindable(port);
    } catch (err) {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') continue;
      throw err;
    }
    given.add(port);
    return port;
  }
  throw new Error(`no free loopback port found in ${LOW}–${HIGH - 1} after 200 tries`);
}
