/**
 * Which device addresses the cloud accepts. A device is a (host, port) the site's agent dials,
 * so some addresses are never a camera: the unspecified addresses (`0.0.0.0`, `0.x.y.z`, `::`,
 * which reach the agent's own machine on most systems) are always refused, and link-local and
 * cloud-metadata addresses (`169.254.0.0/16` — where `169.254.169.254` serves cloud credentials —
 * `fe80::/10`, `fd00:ec2::254`, `metadata.google.internal`) are refused unless the cloud runs with
 * `--allow-link-local-devices` (some cameras fall back to a link-local address). Hosts are read
 * as the agent's resolver would read them: `0`, `2852039166` and `0xa9.0xfe.0xa9.0xfe` are the
 * addresses they spell.
 * @module
 */
import { BlockList, isIP } from "node:net";

const UNSPECIFIED = new BlockList();
UNSPECIFIED.addSubnet("0.0.0.0", 8, "ipv4");
UNSPECIFIED.addAddress("::", "ipv6");

const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet("169.254.0.0", 16, "ipv4");
LINK_LOCAL.addSubnet("fe80::", 10, "ipv6");
LINK_LOCAL.addAddress("fd00:ec2::254", "ipv6");

const METADATA_NAMES = new Set(["metadata.google.internal", "metadata", "instance-data"]);

/** The address a host string spells (IPv4 shorthand and IPv4-mapped IPv6 unfolded), or null. */
export function addressOf(host: string): { address: string; family: "ipv4" | "ipv6" } | null {
  const bare = host.replace(/^\[|\]$/g, "");
  if (isIP(bare) === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
    return mapped ? { address: mapped[1], family: "ipv4" } : { address: bare, family: "ipv6" };
  }
  let name: string;
  try {
    name = new URL(`http://${bare}/`).hostname;
  } catch {
    return null;
  }
  return isIP(name) === 4 ? { address: name, family: "ipv4" } : null;
}

/** Why a device host is refused, or null when it is acceptable. */
export function deviceHostRefusal(host: string, allowLinkLocal: boolean): string | null {
  const a = addressOf(host.trim());
  if (a && UNSPECIFIED.check(a.address, a.family)) {
    return `host ${host}: an unspecified address (${a.address}) is not a device`;
  }
  if (allowLinkLocal) return null;
  const name = host.trim().toLowerCase().replace(/\.$/, "");
  if ((a && LINK_LOCAL.check(a.address, a.family)) || METADATA_NAMES.has(name)) {
    return `host ${host}: link-local and cloud metadata addresses are refused ` +
      `(start the cloud with --allow-link-local-devices to allow them)`;
  }
  return null;
}
