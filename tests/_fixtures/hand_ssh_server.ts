/**
 * SSH's unencrypted opening spoken by hand (RFC 4253: the identification line, binary packets
 * without a cipher, KEXINIT and a key exchange reply), for the tests of the browser terminal's SSH
 * client that need bytes no real server sends: a host key blob it cannot sign for, a reply cut or
 * lying, identification lines of every kind. Everything a real server would encrypt is out of
 * reach here; `ssh2`'s own server (ssh_mfa_server.ts) and OpenSSH (sshd.ts) speak the rest.
 * @module
 */
import { concatBytes } from "./bytes.ts";
import { serveConns } from "./conn_server.ts";

const enc = new TextEncoder();

/** SSH message numbers used here. */
export const SSH_MSG = {
  DISCONNECT: 1,
  IGNORE: 2,
  UNIMPLEMENTED: 3,
  DEBUG: 4,
  KEXINIT: 20,
  NEWKEYS: 21,
  KEX_ECDH_INIT: 30,
  KEX_ECDH_REPLY: 31,
} as const;

/** An SSH `string`: a 32-bit big-endian length, then the bytes. */
export function sshString(bytes: Uint8Array | string): Uint8Array {
  const b = typeof bytes === "string" ? enc.encode(bytes) : bytes;
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length);
  out.set(b, 4);
  return out;
}

/**
 * `payload` as an unencrypted binary packet: packet_length, padding_length, payload and 4 to 11
 * bytes of padding, a multiple of 8 in all (`paddingLength` and `packetLength` lie when given).
 */
export function sshPacket(
  payload: Uint8Array,
  o: { paddingLength?: number; packetLength?: number } = {},
): Uint8Array {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const out = new Uint8Array(5 + payload.length + pad);
  const view = new DataView(out.buffer);
  view.setUint32(0, o.packetLength ?? 1 + payload.length + pad);
  out[4] = o.paddingLength ?? pad;
  out.set(payload, 5);
  return out;
}

/** The name-lists of a KEXINIT, in their wire order. */
export interface KexLists {
  kex: string;
  hostKey: string;
  ciphers: string;
  macs: string;
  compression: string;
  languages: string;
}

/** What a plain server offers: what ssh2's client takes, with an Ed25519 host key only. */
export const SERVER_LISTS: KexLists = {
  kex: "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256",
  hostKey: "ssh-ed25519",
  ciphers: "aes128-ctr,aes256-ctr,aes128-gcm@openssh.com",
  macs: "hmac-sha2-256,hmac-sha2-512",
  compression: "none",
  languages: "",
};

/** A KEXINIT payload with these lists (each sent for both directions). */
export function kexInit(
  l: KexLists = SERVER_LISTS,
  cookie: Uint8Array = new Uint8Array(16),
): Uint8Array {
  return concatBytes(
    new Uint8Array([SSH_MSG.KEXINIT]),
    cookie,
    sshString(l.kex),
    sshString(l.hostKey),
    sshString(l.ciphers),
    sshString(l.ciphers),
    sshString(l.macs),
    sshString(l.macs),
    sshString(l.compression),
    sshString(l.compression),
    sshString(l.languages),
    sshString(l.languages),
    new Uint8Array([0, 0, 0, 0, 0]),
  );
}

/** An Ed25519 public key blob (`ssh-ed25519`, then the 32-byte key). */
export function ed25519Blob(key: Uint8Array): Uint8Array {
  return concatBytes(sshString("ssh-ed25519"), sshString(key));
}

/**
 * A KEX_ECDH_REPLY: the host key blob, the server's ephemeral key and a signature — here of
 * nothing, since no private key stands behind the blob.
 */
export function ecdhReply(hostKey: Uint8Array, ephemeral: Uint8Array, sig: Uint8Array) {
  return concatBytes(
    new Uint8Array([SSH_MSG.KEX_ECDH_REPLY]),
    sshString(hostKey),
    sshString(ephemeral),
    sshString(sig),
  );
}

/** A connection's reads, by line (the identification) and by packet (unencrypted). */
export class SshReader {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);

  /** Reads from `conn`. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(16 << 10);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.#buf = concatBytes(this.#buf, chunk.subarray(0, n));
    return true;
  }

  /** The client's identification line (without CR LF), or null when it hung up first. */
  async line(): Promise<string | null> {
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl >= 0) {
        const text = new TextDecoder("latin1").decode(this.#buf.subarray(0, nl));
        this.#buf = this.#buf.subarray(nl + 1);
        return text.replace(/\r$/, "");
      }
      if (this.#buf.length > 8192 || !(await this.#more())) return null;
    }
  }

  /** The next unencrypted packet's payload, or null when the client hung up first. */
  async packet(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#buf.length >= 5) {
        const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0);
        if (len > 35_000) return null;
        if (this.#buf.length >= 4 + len) {
          const padding = this.#buf[4];
          const payload = this.#buf.slice(5, 4 + len - padding);
          this.#buf = this.#buf.subarray(4 + len);
          return payload;
        }
      }
      if (!(await this.#more())) return null;
    }
  }
}

/** A hand server: `serve` speaks to each connection (closed when it returns). */
export interface HandSshServer {
  port: number;
  close(): Promise<void>;
}

/** Starts a hand SSH server on `hostname` (a loopback address) and `port` (default: any). */
export function handSshServer(
  hostname: string,
  serve: (conn: Deno.Conn, reader: SshReader) => Promise<void>,
  port = 0,
): HandSshServer {
  const listener = Deno.listen({ hostname, port });
  const s = serveConns(listener, (conn) => serve(conn, new SshReader(conn)));
  return { port: s.port, close: () => s.close() };
}

/** Writes every byte (false when the peer is gone). */
export async function writeAllTo(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    return true;
  } catch {
    return false;
  }
}
