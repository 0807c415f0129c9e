/**
 * The key a per-address budget counts a client under (sign-in failures, claims, the sampling of
 * anonymous refusals' audit rows). An IPv4 address is one client. An IPv6 client holds a whole
 * /64: a provider gives every customer at least one, and a host on it makes up new addresses at
 * will (SLAAC privacy addresses, RFC 8981), so a budget per full IPv6 address would give one
 * guesser 2^64 budgets — enough to try every password against a locked account, since a lock
 * still lets an address that never failed on it try the right one. IPv6 clients are therefore
 * counted per /64 network, as the large identity providers count them.
 * @module
 */
import { isIP } from "node:net";

/** IPv6 clients are counted per network of this prefix length. */
export const IPV6_CLIENT_PREFIX = 64;

/**
 * The budget key for a client address: an IPv4 address as it is (also when spelled as an
 * IPv4-mapped IPv6 address), an IPv6 address as its /64 network (`2001:db8:1:2::/64`); anything
 * else (an empty or unknown remote) as it is.
 */
export function addressKey(ip: string): string {
  const bare = ip.replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped && isIP(mapped[1]) === 4) return mapped[1];
  if (isIP(bare) !== 6) return ip;
  const groups = hextets(bare);
  return `${groups.slice(0, IPV6_CLIENT_PREFIX / 16).join(":")}::/${IPV6_CLIENT_PREFIX}`;
}

/** The eight 16-bit groups of a valid IPv6 address, in lowercase hex without leading zeros. */
function hextets(ip: string): string[] {
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  let text = ip;
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    text = ip.slice(0, quad.index) + ((a << 8) | b).toString(16) + ":" +
      ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.split("::");
  const split = (s: string | undefined) => s ? s.split(":") : [];
  const left = split(head);
  const right = split(tail);
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16).toString(16));
}
