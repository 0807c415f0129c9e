/**
 * Early data: the first bytes a local client sends, carried in the tunnel's upgrade request
 * instead of after its answer. The CLI's open is answered once the cloud reached the device;
 * a client that speaks first — a browser, a VMS, an RTSP player, a TLS ClientHello — would then
 * wait one more round trip to the cloud before its first bytes even left the CLI.
 *
 * Why a header and not frames behind the request: RFC 6455 tells a client to wait for the
 * answer, and proxies in front of a cloud differ on bytes sent before it (nginx passes them on;
 * Go's reverse proxy, under Caddy and Traefik, reads past the head and drops what it buffered
 * when it switches protocols). A request header reaches the cloud through any of them. The
 * cloud confirms in its 101 (`EARLY_DATA_HEADER: <count>`) and puts the bytes at the head of the
 * tunnel; without that confirmation (an older cloud, or a node of one during an upgrade) the CLI
 * sends them itself after the answer, as before, so no byte is lost or sent twice either way.
 *
 * `EarlyReader` owns the client's reads during the open: the first read starts at once, its
 * bytes (up to `EARLY_MAX`) go in the header when they are there in time, and `stream()` hands
 * the client to the byte pump with whatever is left — unconfirmed early bytes, the rest of a
 * larger first read, a read still in flight — so no byte is skipped or read twice.
 * @module
 */
import type { ByteStream } from "./byte_stream.ts";
import { clientBinaryFrame } from "./ws_native.ts";

/** The request header that carries early bytes (base64), and the 101's confirmation (a count). */
export const EARLY_DATA_HEADER = "nanodems-early-data";
/**
 * The header of the tunnel endpoint's plain-GET answer (426) naming the device port behind a
 * handle: `tunnel open` learns from it whether the port's server speaks first.
 */
export const DEVICE_PORT_HEADER = "nanodems-device-port";
/**
 * Ports whose protocols have the server speak first (SSH, telnet, FTP, mail): their clients send
 * nothing before the banner, so an open toward them waits for no early bytes.
 */
export const SERVER_FIRST_PORTS: ReadonlySet<number> = new Set([21, 22, 23, 25, 110, 143, 587]);
/** At most this many bytes ride in the header (4 KiB of base64: under every proxy's limits). */
export const EARLY_MAX = 3 << 10;

/** Decodes a request's early-data header; null when it is not base64 of 1..EARLY_MAX bytes. */
export function decodeEarlyData(value: string): Uint8Array | null {
  if (value.length === 0 || value.length > Math.ceil(EARLY_MAX / 3) * 4) return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return null;
  let bin: string;
  try {
    bin = atob(value);
  } catch {
    return null;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.byteLength > 0 && out.byteLength <= EARLY_MAX ? out : null;
}

/**
 * The server side: `rest` (what was read after the request head) with the early bytes put in
 * front as the client's first frame, for the WebSocket reader to meet before anything else.
 */
export function withEarlyFrame(early: Uint8Array, rest: Uint8Array): Uint8Array {
  const frame = clientBinaryFrame(early, true);
  const joined = new Uint8Array(frame.byteLength + rest.byteLength);
  joined.set(frame);
  joined.set(rest, frame.byteLength);
  return joined;
}

/** Base64 of early bytes, for the header. */
export function encodeEarlyData(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.byteLength; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

/** The result of a read: bytes, the client's end (null) or its error. */
type Outcome = { bytes: Uint8Array | null } | { error: unknown };

/** Reads a client's first bytes while its tunnel opens (see the module comment). */
export class EarlyReader {
  #src: ByteStream;
  #read: Promise<Outcome> | null = null;
  #settled: Outcome | null = null;
  /** Bytes taken for the header. */
  #taken: Uint8Array | null = null;
  /** The rest of the first read beyond what the header takes. */
  #rest: Uint8Array | null = null;

  /** Starts reading `src` (one read of up to 16 KiB). */
  constructor(src: ByteStream) {
    this.#src = src;
    const buf = new Uint8Array(16 << 10);
    const read = src.read(buf).then(
      (n): Outcome => ({ bytes: n === null ? null : buf.subarray(0, n) }),
      (error): Outcome => ({ error }),
    );
    this.#read = read;
    read.then((o) => (this.#settled = o));
  }

  /**
   * The client's first bytes for the header: those already read, or read within `waitMs`
   * (0: only if already there). Null when none came in time (the read stays the pump's), or the
   * client ended or failed first. Called once.
   */
  async first(waitMs: number): Promise<Uint8Array | null> {
    if (!this.#settled && waitMs > 0 && this.#read) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#read, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
    const o = this.#settled;
    if (!o || "error" in o || o.bytes === null || o.bytes.byteLength === 0) return null;
    this.#read = null;
    this.#taken = o.bytes.subarray(0, EARLY_MAX);
    this.#rest = o.bytes.byteLength > EARLY_MAX ? o.bytes.subarray(EARLY_MAX) : null;
    return this.#taken;
  }

  /**
   * The client as a byte stream for the pump, once the tunnel is open. `confirmed`: the cloud
   * took the header's bytes; if not, they are the first the pump reads. Then the rest of the
   * first read, or the read in flight (or the end or error it met), then the client itself.
   */
  stream(confirmed: boolean): ByteStream {
    const src = this.#src;
    const queued: Uint8Array[] = [];
    if (this.#taken && !confirmed) queued.push(this.#taken);
    if (this.#rest) queued.push(this.#rest);
    let carried: Promise<Outcome> | null = this.#read;
    this.#read = null;
    return {
      read: async (p) => {
        const head = queued[0];
        if (head) {
          const n = Math.min(head.byteLength, p.byteLength);
          p.set(head.subarray(0, n));
          if (n < head.byteLength) queued[0] = head.subarray(n);
          else queued.shift();
          return n;
        }
        if (carried) {
          const o = await carried;
          carried = null;
          if ("error" in o) throw o.error;
          if (o.bytes === null) return null;
          queued.push(o.bytes);
          const n = Math.min(o.bytes.byteLength, p.byteLength);
          p.set(o.bytes.subarray(0, n));
          if (n < o.bytes.byteLength) queued[0] = o.bytes.subarray(n);
          else queued.shift();
          return n;
        }
        return src.read(p);
      },
      write: (p) => src.write(p),
      closeWrite: () => src.closeWrite(),
      close: () => src.close(),
    };
  }
}
