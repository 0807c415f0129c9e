/**
 * Address expansion for "bulk add": operators add many cameras to a site in one step by typing a
 * single IPv4 address, a range or a CIDR block, and each resulting address becomes a device with
 * default ports. This module turns that one line of operator input into the list of addresses
 * (or a message that says exactly what is wrong with it), and picks the default ports. It is
 * pure, with no I/O, so the parsing rules and limits are tested on their own.
 * @module
 */

/** Largest number of addresses one bulk-add request may expand to. */
export const MAX_BULK_ADDRESSES = 1024;

/** Bad bulk-add input. The message is written for the operator and is shown as-is (HTTP 400). */
export class RangeInputError extends Error {
  /** Creates the error; `message` is user-facing. */
  constructor(message: string) {
    super(message);
    this.name = "RangeInputError";
  }
}

const ACCEPTED_FORMS = "Use a single IPv4 address (192.0.2.10), a range (192.0.2.10-192.0.2.20, " +
  "or 192.0.2.10-20 for the last octet) or a CIDR block (192.0.2.0/28).";

const IPV4 = String.raw`\d+\.\d+\.\d+\.\d+`;
const SINGLE_RE = new RegExp(`^(${IPV4})$`);
const RANGE_RE = new RegExp(String.raw`^(${IPV4})\s*-\s*(${IPV4}|\d+)$`);
const CIDR_RE = new RegExp(String.raw`^(${IPV4})\s*/\s*(\d+)$`);
const WITH_PORT_RE = new RegExp(String.raw`^${IPV4}:\d+$`);

function malformed(input: string): RangeInputError {
  return new RangeInputError(`Can't read "${input}" as an address or range. ${ACCEPTED_FORMS}`);
}

/** Validates one decimal octet ("0"–"255", no leading zeros); `what` names it in messages. */
function parseOctet(text: string, what: string): number {
  if (text.length > 1 && text.startsWith("0")) {
    throw new RangeInputError(
      `${what} has a leading zero ("${text}"); write octets without leading zeros ` +
        `(leading zeros can mean octal to other tools).`,
    );
  }
  const n = Number(text);
  if (text.length > 3 || n > 255) {
    throw new RangeInputError(`${what} has an octet above 255 ("${text}").`);
  }
  return n;
}

/** Parses a dotted-quad IPv4 address (already shape-checked) to an unsigned 32-bit number. */
function parseAddress(text: string): number {
  let value = 0;
  for (const part of text.split(".")) {
    value = value * 256 + parseOctet(part, `"${text}"`);
  }
  return value;
}

function formatAddress(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

function checkCount(input: string, count: number, max: number): void {
  if (count > max) {
    throw new RangeInputError(
      `"${input}" expands to ${count} addresses; at most ${max} per request — split it ` +
        `into smaller ranges.`,
    );
  }
}

function sequence(first: number, count: number): string[] {
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = formatAddress(first + i);
  return out;
}

/**
 * Expands bulk-add input into IPv4 addresses in ascending order. Accepted forms:
 * - a single address: `"192.0.2.10"`;
 * - a range: `"192.0.2.10-192.0.2.20"` (inclusive; may cross octet boundaries);
 * - last-octet shorthand: `"192.0.2.10-20"` (same as `"192.0.2.10-192.0.2.20"`);
 * - a CIDR block: `"192.0.2.0/28"`. For /30 and shorter prefixes the network and broadcast
 *   addresses are skipped (`/28` gives 14 addresses, `/24` gives 254); /31 and /32 keep every
 *   address. Host bits in the address are ignored, so `"192.0.2.5/28"` means `"192.0.2.0/28"`.
 *
 * Leading and trailing whitespace is ignored, as is whitespace around `-` and `/`.
 *
 * @param input the operator's text.
 * @param max the most addresses the input may expand to (default {@link MAX_BULK_ADDRESSES}).
 * @returns the addresses, ascending, without duplicates.
 * @throws {RangeInputError} with a user-facing message for malformed input, octets above 255 or
 *   with leading zeros, a range that ends before it starts, a prefix above 32, input expanding
 *   to more than `max` addresses, and any IPv6 input.
 * @throws {RangeError} when `max` is not a positive integer (a programming error).
 */
export function expandAddresses(input: string, max: number = MAX_BULK_ADDRESSES): string[] {
  if (!Number.isInteger(max) || max < 1) {
    throw new RangeError(`max must be a positive integer, got ${max}`);
  }
  const text = input.trim();
  if (text === "") {
    throw new RangeInputError(`Enter the addresses to add. ${ACCEPTED_FORMS}`);
  }
  if (WITH_PORT_RE.test(text)) {
    throw new RangeInputError(
      `"${text}" includes a port; enter only the address and choose ports separately. ` +
        ACCEPTED_FORMS,
    );
  }
  if (text.includes(":")) {
    throw new RangeInputError("IPv6 ranges are not supported; add IPv6 devices one at a time.");
  }

  let m = SINGLE_RE.exec(text);
  if (m) return [formatAddress(parseAddress(m[1]))];

  m = RANGE_RE.exec(text);
  if (m) {
    const start = parseAddress(m[1]);
    let end: number;
    if (m[2].includes(".")) {
      end = parseAddress(m[2]);
    } else {
      const last = parseOctet(m[2], `The range end "${m[2]}"`);
      end = (start - (start % 256)) + last;
    }
    if (end < start) {
      throw new RangeInputError(
        `The range "${text}" ends (${formatAddress(end)}) before it starts ` +
          `(${formatAddress(start)}); put the lower address first.`,
      );
    }
    const count = end - start + 1;
    checkCount(text, count, max);
    return sequence(start, count);
  }

  m = CIDR_RE.exec(text);
  if (m) {
    const address = parseAddress(m[1]);
    const prefixText = m[2];
    const prefix = Number(prefixText);
    if (prefix > 32) {
      throw new RangeInputError(
        `The prefix "/${prefixText}" in "${text}" is above 32; an IPv4 prefix is /0 to /32.`,
      );
    }
    if (prefixText.length > 1 && prefixText.startsWith("0")) {
      throw new RangeInputError(
        `The prefix "/${prefixText}" in "${text}" has a leading zero; write /${prefix}.`,
      );
    }
    const size = 2 ** (32 - prefix);
    const network = address - (address % size);
    // Network and broadcast addresses are not hosts, except in /31 (RFC 3021) and /32.
    const skipEnds = prefix <= 30;
    const count = skipEnds ? size - 2 : size;
    checkCount(text, count, max);
    return sequence(skipEnds ? network + 1 : network, count);
  }

  throw malformed(text);
}

/** A protocol bulk add can set up on each new device. */
export type BulkProtocol = "http" | "https" | "rtsp" | "ssh";

/**
 * Default ports per protocol for bulk add. ONVIF has no entry of its own: it is served over
 * HTTP, so the `http` entry covers it.
 */
export const DEFAULT_PORTS: Record<BulkProtocol, number[]> = {
  http: [80],
  https: [443],
  rtsp: [554],
  ssh: [22],
};

/** The ports used when no protocol is chosen: a camera's usual web, secure web and RTSP. */
const CAMERA_DEFAULT_PORTS = [80, 443, 554];

/**
 * The default ports for the chosen protocols: the union of their {@link DEFAULT_PORTS}, sorted
 * ascending and deduplicated. No protocols gives a camera's usual mix, `[80, 443, 554]`.
 * Always returns a new array.
 * @throws {RangeInputError} for a protocol that has no default ports (input not checked
 *   against {@link BulkProtocol}).
 */
export function portsFor(protocols: BulkProtocol[]): number[] {
  if (protocols.length === 0) return [...CAMERA_DEFAULT_PORTS];
  const ports = new Set<number>();
  for (const protocol of protocols) {
    if (!Object.hasOwn(DEFAULT_PORTS, protocol)) {
      throw new RangeInputError(
        `Unknown protocol "${protocol}"; choose from ${Object.keys(DEFAULT_PORTS).join(", ")}.`,
      );
    }
    for (const port of DEFAULT_PORTS[protocol]) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}
