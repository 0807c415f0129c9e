/**
 * The whole agent ↔ cloud wire protocol in one place (rathole style): the version constant,
 * the ports, and the data channel's framing. The control channel's messages are in
 * `proto/control.proto` (wrapped by `control.ts`); this file holds what is not protobuf.
 *
 * Control channel: one gRPC bidi stream `Control/Connect` over mTLS (agent CA) on the control
 * port (default 8443). Policy — who may reach what — is decided there, before bytes flow.
 *
 * Data channel: a few long-lived TLS connections per agent, dialed by the agent to the cloud's
 * data port (default 8444) when the cloud asks for one (OpenData on the control stream, with a
 * one-time ticket). It starts with a fixed 24-byte preface:
 *
 * ```
 * offset 0  4 bytes  magic "NDT\x02"  (\x02 = DATA_VERSION, the framing of mux.ts)
 * offset 4  4 bytes  reserved, zero
 * offset 8 16 bytes  ticket from OpenData (one-time, expires after TICKET_TTL_MS)
 * ```
 *
 * then carries many tunnels as streams of frames (`mux.ts`, `proto/mux.md`). The data listener
 * is a plain TLS server (Deno's TLS listener cannot ask for a client certificate), so no
 * certificate or CN is checked on this leg: the connection becomes one of the agent's data
 * connections by the ticket alone — 128 random bits, single use, live for TICKET_TTL_MS, sent
 * only to the one agent it is for over that agent's mTLS control stream. Whoever presents a live
 * ticket first gets the connection. The byte pumps above the streams never parse what they carry.
 * @module
 */
import { MUX_VERSION } from "./mux.ts";

/**
 * Version of the control protocol; sent in Hello and Welcome. 2: tunnels are streams on
 * multiplexed data connections (OpenData, `mux.ts`). 3: a side may grow the window it grants a
 * stream beyond INITIAL_WINDOW ("Growing windows" in `proto/mux.md`); each side does so only
 * when the other said 3, since a sender of protocol 2 takes the extra credit for an idle stream.
 * 4: the data listener's certificate also names DATA_SERVER_NAME, and an agent welcomed by a
 * node of protocol 4 checks that name on its data connections instead of the control host's.
 */
export const PROTOCOL_VERSION = 4;
/** The oldest agent protocol the cloud serves (below it the control stream is refused). */
export const MIN_AGENT_PROTOCOL = 2;
/** The first protocol whose mux senders accept windows that grow (see PROTOCOL_VERSION). */
export const GROWING_WINDOWS_PROTOCOL = 3;
/** The first protocol whose data listener certificate names DATA_SERVER_NAME. */
export const DATA_SERVER_NAME_PROTOCOL = 4;
/**
 * The name an agent asks for and checks on a data connection to a node of protocol 4 or later.
 * Deno's TLS client trusts its built-in public roots as well as the pinned agent CA it is given
 * (the control channel's `node:tls` trusts only the pinned CA), so a certificate for the cloud's
 * public host name from any public authority would pass on the data leg. No public authority may
 * certify a name under `.invalid` (RFC 6761; the CA/Browser Forum's rules forbid internal names),
 * so with this name only the pinned agent CA can vouch for the data listener.
 */
export const DATA_SERVER_NAME = "agent-data.nanodems-connector.invalid";
/** Version byte of the data channel preface: the framing of `mux.ts`. */
export const DATA_VERSION = MUX_VERSION;
/** Default cloud port of the agent control channel (gRPC over mTLS). */
export const DEFAULT_CONTROL_PORT = 8443;
/** Default cloud port of the agent data channel (TLS, a few multiplexed connections per agent). */
export const DEFAULT_DATA_PORT = 8444;
/** How often the agent sends a heartbeat. */
export const HEARTBEAT_MS = 5_000;
/** How long a presence lease lives without a heartbeat. */
export const PRESENCE_TTL_MS = 90_000;
/** How long a data connection ticket waits for its connection. */
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
