/**
 * Webhook URL checks (issue 15 item 7), at save and again before every send, so a tenant cannot
 * turn webhooks into a probe of the cloud's own network: https only (http only to loopback, and
 * loopback only when the cloud runs with `--allow-loopback-webhooks`, for development); the host
 * name is resolved and EVERY address must be acceptable: never unspecified, link-local
 * (169.254/16 — the cloud metadata service — fe80::/10), a known metadata address or name,
 * multicast or reserved; private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) only
 * with `--allow-private-webhooks`; no user name or password in the URL.
 * @module
 */
import { BlockList } from "node:net";
import { addressOf } from "../tenancy/device_host.ts";

/** What the cloud accepts. */
export interface WebhookUrlPolicy {
  /** `--allow-loopback-webhooks`: http(s) to 127.0.0.0/8 and ::1 (development). */
  allowLoopback: boolean;
  /** `--allow-private-webhooks`: private ranges. */
  allowPrivate: boolean;
  /** Resolves a host name to its addresses (default: DNS A and AAAA). */
  resolve?: (host: string) => Promise<string[]>;
}

/** A refused URL; the message is shown to the user as is (400). */
export class WebhookUrlError extends Error {
  /** Creates the error; `message` is user-facing. */
  constructor(message: string) {
    super(message);
    this.name = "WebhookUrlError";
  }
}

const list = (entries: [string, number, "ipv4" | "ipv6"][]) => {
  const b = new BlockList();
  for (const [net, bits, family] of entries) b.addSubnet(net, bits, family);
  return b;
};

const NEVER = list([
  ["0.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"],
  ["224.0.0.0", 4, "ipv4"],
  ["240.0.0.0", 4, "ipv4"],
  ["100.100.100.200", 32, "ipv4"], // a cloud's metadata service outside link-local
  ["::", 128, "ipv6"],
  ["fe80::", 10, "ipv6"],
  ["ff00::", 8, "ipv6"],
  ["fd00:ec2::254", 128, "ipv6"],
  ["64:ff9b::", 96, "ipv6"], // NAT64: an IPv4 address in disguise
]);
const LOOPBACK = list([["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]]);
const PRIVATE = list([
  ["10.0.0.0", 8, "ipv4"],
  ["172.16.0.0", 12, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["fc00::", 7, "ipv6"],
]);
const METADATA_NAMES = new Set(["metadata.google.internal", "metadata", "instance-data"]);

/** Why one resolved address is refused, or null. */
export function addressRefusal(address: string, policy: WebhookUrlPolicy): string | null {
  const a = addressOf(address);
  if (!a) return `"${address}" is not an IP address`;
  if (NEVER.check(a.address, a.family)) {
    return `${a.address} is a link-local, metadata, unspecified, multicast or reserved address`;
  }
  if (LOOPBACK.check(a.address, a.family) && !policy.allowLoopback) {
    return `${a.address} is a loopback address (allowed only when the cloud runs with --allow-loopback-webhooks)`;
  }
  if (PRIVATE.check(a.address, a.family) && !policy.allowPrivate) {
    return `${a.address} is a private address (allowed only when the cloud runs with --allow-private-webhooks)`;
  }
  return null;
}

async function resolveDns(host: string): Promise<string[]> {
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      out.push(...await Deno.resolveDns(host, type));
    } catch { /* no such record */ }
  }
  return out;
}

/** Checks a webhook URL; returns it parsed with the addresses it resolves to, or throws. */
export async function checkWebhookUrl(
  raw: string,
  policy: WebhookUrlPolicy,
): Promise<{ url: URL; addresses: string[] }> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlError(`"${raw.slice(0, 100)}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new WebhookUrlError("a webhook URL must start with https://");
  }
  if (url.username || url.password) {
    throw new WebhookUrlError("a webhook URL must not carry a user name or password");
  }
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.$/, "");
  if (METADATA_NAMES.has(host)) {
    throw new WebhookUrlError(`${host} is a cloud metadata service`);
  }
  const literal = addressOf(host);
  const addresses = literal
    ? [literal.address]
    : host === "localhost"
    ? ["127.0.0.1"]
    : await (policy.resolve ?? resolveDns)(host);
  if (!addresses.length) throw new WebhookUrlError(`${host} does not resolve`);
  for (const a of addresses) {
    const refusal = addressRefusal(a, policy);
    if (refusal) throw new WebhookUrlError(`webhook URL refused: ${host} → ${refusal}`);
  }
  if (url.protocol === "http:") {
    const loopback = addresses.every((a) => {
      const x = addressOf(a);
      return x !== null && LOOPBACK.check(x.address, x.family);
    });
    if (!loopback || !policy.allowLoopback) {
      throw new WebhookUrlError("a webhook URL must start with https://");
    }
  }
  return { url, addresses };
}
