/**
 * Runs one WS-Discovery round on the agent's LAN with `node:dgram`: sends the Probe to the IPv4
 * group (and the IPv6 link-local group where the host has IPv6), and once more shortly after as
 * SOAP-over-UDP asks, collects ProbeMatches for the window, and returns one entry per device (by
 * endpoint reference, else by address). Replies that do not parse or answer another probe are
 * dropped silently; past a budget of bytes and time per round they are counted and not read. The
 * targets are a setting so a probe can also go unicast to a known address (and tests need no
 * multicast).
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { utf8 } from "../../shared/encoding.ts";
import {
  buildProbe,
  newMessageId,
  parseProbeMatches,
  type ProbeMatch,
  WS_DISCOVERY_V4,
  WS_DISCOVERY_V6,
} from "./ws_discovery.ts";

/** Where probes go. */
export interface ProbeTarget {
  address: string;
  port: number;
}

/** The default targets: both WS-Discovery groups. */
export const DEFAULT_PROBE_TARGETS: ProbeTarget[] = [WS_DISCOVERY_V4, WS_DISCOVERY_V6];
/** Default collection window. */
export const DEFAULT_DISCOVERY_MS = 3_000;
/** Longest window a request may ask for. */
export const MAX_DISCOVERY_MS = 10_000;
/** Most devices one round keeps (one LAN host may answer for many endpoints). */
export const MAX_DEVICES = 1024;
/**
 * Most bytes of devices (as JSON) one round's result holds. The result crosses the control stream,
 * whose messages the cloud caps at 1 MiB (a bigger one ends the stream), and a sibling node's
 * bridge: a LAN that answers with more — hundreds of endpoints with long XAddrs, from one host
 * or many — is cut here and the rest counted, instead of taking the agent off line.
 */
export const MAX_RESULT_BYTES = 512 << 10;
/**
 * Most reply bytes one round reads, and most time it spends reading them. Replies come from
 * anything on the LAN, and anything there can read the probe's MessageID off the multicast group
 * and flood the agent with replies built to be slow to read (about 1 ms each at 64 KiB): past
 * either bound the round counts replies (`ignored`) instead of reading them, so the agent's one
 * thread stays free for its tunnels. A LAN of cameras sends a few KiB each.
 */
export const MAX_READ_BYTES = 8 << 20;
/** See MAX_READ_BYTES. */
export const MAX_READ_MS = 500;
/** Most devices past the bounds that are told apart and counted (`dropped` stops there). */
const MAX_DROPPED_COUNTED = 100_000;

/** A 53-bit hash of `s` (cyrb53): what tells the dropped devices apart without keeping them. */
function hash53(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** One discovered device. */
export interface DiscoveredDevice extends ProbeMatch {
  /** The source address of its reply. */
  address: string;
}

/** Clamps a requested window (0 or absent means the default). */
export function discoveryWindow(ms: number | undefined): number {
  if (!ms) return DEFAULT_DISCOVERY_MS;
  return Math.min(MAX_DISCOVERY_MS, Math.max(200, ms));
}

/** Parses "host:port,[v6]:port" into targets; throws on a bad entry. */
export function parseProbeTargets(text: string): ProbeTarget[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
    const port = Number(m?.[3]);
    if (!m || !isIP(m[1] ?? m[2]) || !(port >= 1 && port <= 65535)) {
      throw new Error(`expected IP:PORT (e.g. 239.255.255.250:3702), got "${s}"`);
    }
    return { address: m[1] ?? m[2], port };
  });
}

/** Sends the probe to every target and collects matches for `windowMs`. Never throws. */
export async function probeOnvif(
  o: { windowMs: number; targets?: ProbeTarget[] },
): Promise<{ devices: DiscoveredDevice[]; error: string; dropped: number; ignored: number }> {
  const targets = o.targets ?? DEFAULT_PROBE_TARGETS;
  const messageId = newMessageId();
  const probe = Buffer.from(buildProbe(messageId));
  const found = new Map<string, DiscoveredDevice>();
  let bytes = 0;
  /** Distinct devices that answered but did not fit: their keys' hashes, a few bytes each. */
  const dropped = new Set<number>();
  const errors: string[] = [];
  let readBytes = 0;
  let readMs = 0;
  let ignored = 0;
  const sockets: dgram.Socket[] = [];
  /** The probes that went out (where each socket sent): repeated once below. */
  const sends: { sock: dgram.Socket; to: ProbeTarget }[] = [];
  for (const family of [4, 6] as const) {
    const mine = targets.filter((t) => isIP(t.address) === family);
    if (!mine.length) continue;
    const sock = dgram.createSocket({ type: family === 4 ? "udp4" : "udp6", reuseAddr: true });
    sockets.push(sock);
    sock.on("error", (e) => errors.push(e.message));
    sock.on("message", (msg, rinfo) => {
      if (readBytes + msg.byteLength > MAX_READ_BYTES || readMs >= MAX_READ_MS) {
        ignored++;
        return;
      }
      readBytes += msg.byteLength;
      const started = performance.now();
      const matches = parseProbeMatches(new Uint8Array(msg), messageId);
      readMs += performance.now() - started;
      if (!matches) return;
      for (const m of matches) {
        const key = m.endpoint || `${rinfo.address}|${m.xaddrs.join(" ")}`;
        if (found.has(key)) continue;
        const device = { ...m, address: rinfo.address };
        const size = utf8(JSON.stringify(device)).byteLength;
        if (found.size < MAX_DEVICES && bytes + size <= MAX_RESULT_BYTES) {
          found.set(key, device);
          bytes += size;
        } else if (dropped.size < MAX_DROPPED_COUNTED) dropped.add(hash53(key));
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(0, () => {
          sock.off("error", reject);
          resolve();
        });
      });
      try {
        sock.setMulticastTTL(1);
      } catch { /* unicast-only socket */ }
      for (const t of mine) {
        await new Promise<void>((resolve) =>
          sock.send(probe, t.port, t.address, (e) => {
            if (e) errors.push(`${t.address}: ${e.message}`);
            else sends.push({ sock, to: t });
            resolve();
          })
        );
      }
    } catch (e) {
      errors.push(`udp${family}: ${(e as Error).message}`);
    }
  }
  if (sends.length > 0) {
    const started = performance.now();
    // SOAP-over-UDP (MULTICAST_UDP_REPEAT 1, UDP_MIN_DELAY 50 ms, UDP_MAX_DELAY 250 ms): the same
    // Probe once more, for the cameras a lost datagram kept it from (a busy Wi-Fi LAN). A camera
    // that got both answers once: a repeat has the same MessageID.
    const repeatMs = Math.min(o.windowMs / 2, 50 + Math.random() * 200);
    await new Promise((r) => setTimeout(r, repeatMs));
    for (const { sock, to } of sends) {
      try {
        sock.send(probe, to.port, to.address, () => {/* the first one went */});
      } catch { /* the socket failed since */ }
    }
    const left = o.windowMs - (performance.now() - started);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
  for (const s of sockets) {
    try {
      s.close();
    } catch { /* closed */ }
  }
  return {
    devices: [...found.values()],
    error: sends.length === 0
      ? `could not send the probe (${errors.join("; ") || "no target"})`
      : "",
    dropped: dropped.size,
    ignored,
  };
}
