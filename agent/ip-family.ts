// net.isIP() of the hosts and addresses a process meets, remembered: it runs a regular expression
// over the string, and the same few peers reset again and again (the event builder asks for the
// dialled host at every client reset after an RST, the attributes for the peer address).
// Bounded: at MAX strings the map starts over, so a busy server's one-off client addresses
// cannot crowd out the few dialled hosts for good.
import { isIP } from 'node:net';

const MAX = 256;
const families = new Map<string, number>();

/** 4, 6, or 0 for a string that is not an IP address, as net.isIP(). */
export function ipFamily(host: string): number {
  let family = families.get(host);
  if (family === undefined) {
    family = isIP(host);
    if (host.length <= 64) {
      if (families.size >= MAX) families.clear();
      families.set(host, family);
    }
  }
  return family;
}

/**
 * An IPv4 client on a dual-stack (`::`) listener, as Node reports it: `::ffff:10.0.0.7`. Read as
 * the IPv4 address it is, so that one client is one peer (one label, `network.type` ipv4) whether
 * the server listens on `0.0.0.0` or `::` (a trial of IPv6: two series for one client).
 */
export function unmapped(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.', 7) ? address.slice(7) : address;
}
