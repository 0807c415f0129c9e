/**
 * What each allowlisted port of a device speaks (HTTP, HTTPS, RTSP, SSH or plain TCP) and the
 * RTSP stream path remembered per port. The protocol is chosen when the port is added (with a
 * default from its number) and editable afterwards; the console's pills act on it. Both backends
 * keep the maps normalized the same way: every port of the device has exactly one protocol, a
 * stream path only for a port the device still has.
 * @module
 */

/** The protocols a device port can be marked with. */
export const PORT_PROTOCOLS = ["http", "https", "rtsp", "ssh", "tcp"] as const;

/** One of {@linkcode PORT_PROTOCOLS}. */
export type PortProtocol = typeof PORT_PROTOCOLS[number];

const DEFAULTS: Record<number, PortProtocol> = {
  80: "http",
  8080: "http",
  443: "https",
  8443: "https",
  554: "rtsp",
  8554: "rtsp",
  22: "ssh",
};

/** The protocol a port gets when none is chosen: 80/8080 HTTP, 443/8443 HTTPS, 554/8554 RTSP, 22 SSH, else TCP. */
export function defaultProtocol(port: number): PortProtocol {
  return DEFAULTS[port] ?? "tcp";
}

/** Whether `x` names a protocol. */
export function isPortProtocol(x: unknown): x is PortProtocol {
  return typeof x === "string" && (PORT_PROTOCOLS as readonly string[]).includes(x);
}

/**
 * One protocol per port of `ports`: the one `chosen` names, else the one the port had
 * (`previous`), else the default. Ports not in `ports` are dropped; an unknown protocol throws.
 */
export function normalizeProtocols(
  ports: number[],
  chosen?: Record<number, string>,
  previous?: Record<number, string>,
): Record<number, PortProtocol> {
  const out: Record<number, PortProtocol> = {};
  for (const p of ports) {
    const c = chosen?.[p];
    if (c !== undefined && !isPortProtocol(c)) throw new RangeError(`unknown protocol ${c}`);
    const prev = previous?.[p];
    out[p] = c ?? (isPortProtocol(prev) ? prev : defaultProtocol(p));
  }
  return out;
}

/**
 * The remembered stream paths after a change: `previous` with `changes` applied (an empty path
 * forgets the port's path), kept only for ports in `ports`.
 */
export function normalizeStreamPaths(
  ports: number[],
  changes?: Record<number, string>,
  previous?: Record<number, string>,
): Record<number, string> {
  const merged: Record<number, string> = { ...(previous ?? {}), ...(changes ?? {}) };
  const out: Record<number, string> = {};
  for (const p of ports) {
    const v = merged[p];
    if (typeof v === "string" && v !== "") out[p] = v;
  }
  return out;
}

/** What a device's port speaks (its chosen protocol; the default for a port it does not list). */
export function protocolOf(
  device: { protocols?: Record<number, PortProtocol> },
  port: number,
): PortProtocol {
  return device.protocols?.[port] ?? defaultProtocol(port);
}
