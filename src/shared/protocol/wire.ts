/**
 * The whole agent ↔ cloud wire protocol in one place (rathole style): the version constant,
 * the ports, and the data channel's framing. The control channel's messages are in
 * `proto/control.proto` (wrapped by `control.ts`); this file holds what is not protobuf.
 *
 * Control channel: one gRPC bidi stream `Control/Connect` over mTLS (agent CA) on the control
 * port (default 8443). Policy — who may reach what — is decided there, before bytes flow.
 *
 * Data channel: one TLS connection per tunnel, dialed by the agent to the cloud's data port
 * (default 8444). It starts with a fixed 24-byte header
 * and then carries the tunnel's bytes raw in both directions, with TCP half-close:
 *
 * ```
 * offset 0  4 bytes  magic "NDT\x01"  (\x01 = DATA_VERSION)
 * offset 4  4 bytes  reserved, zero
 * offset 8 16 bytes  ticket from OpenTunnel (one-time, expires after TICKET_TTL_MS)
 * ```
 *
 * The data listener is a plain TLS server (Deno's TLS listener cannot ask for a client
 * certificate), so no certificate or CN is checked on this leg: the connection is bound to its
 * tunnel by the ticket alone — 128 random bits, single use, live for TICKET_TTL_MS, sent only to
 * the one agent it is for over that agent's mTLS control stream. Whoever presents a live ticket
 * first gets the tunnel. The byte pump after the header never parses.
 * @module
 */

/** Version of the control protocol; sent in Hello and Welcome. */
export const PROTOCOL_VERSION = 1;
/** Version byte of the data channel header. */
export const DATA_VERSION = 1;
/** Default cloud port of the agent control channel (gRPC over mTLS). */
export const DEFAULT_CONTROL_PORT = 8443;
/** Default cloud port of the agent data channel (TLS, one connection per tunnel). */
export const DEFAULT_DATA_PORT = 8444;
/** How often the agent sends a heartbeat. */
export const HEARTBEAT_MS = 5_000;
/** How long a presence lease lives without a heartbeat. */
export const PRESENCE_TTL_MS = 90_000;
/** How long a ticket waits for its data connection. */
export const TICKET_TTL_MS = 15_000;
/** Size of the data channel header in bytes. */
export const DATA_HEADER_SIZE = 24;
/** Size of a ticket in bytes. */
export const TICKET_SIZE = 16;

const MAGIC = [0x4e, 0x44, 0x54, DATA_VERSION]; // "NDT" + version

/** Builds the data channel header for a ticket. */
export function encodeDataHeader(ticket: Uint8Array): Uint8Array {
  if (ticket.byteLength !== TICKET_SIZE) throw new RangeError("ticket must be 16 bytes");
  const h = new Uint8Array(DATA_HEADER_SIZE);
  h.set(MAGIC, 0);
  h.set(ticket, 8);
  return h;
}

/** Parses a data channel header; returns the ticket or null when the header is not ours. */
export function decodeDataHeader(header: Uint8Array): Uint8Array | null {
  if (header.byteLength !== DATA_HEADER_SIZE) return null;
  for (let i = 0; i < 4; i++) if (header[i] !== MAGIC[i]) return null;
  for (let i = 4; i < 8; i++) if (header[i] !== 0) return null;
  return header.slice(8, 24);
}
