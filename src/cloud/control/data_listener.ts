/**
 * The data channel listener: TLS with required client certificates from the agent CA. Each
 * connection reads the fixed header, and is handed to the broker, which binds it to the tunnel
 * whose ticket it presents — or it is closed. After that it is a plain byte stream.
 * @module
 */
import * as tls from "node:tls";
import type { Socket } from "node:net";
import { DATA_HEADER_SIZE, decodeDataHeader } from "../../shared/protocol/wire.ts";
import type { Logger } from "../../shared/log.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { TunnelBroker } from "./tunnels.ts";

/** A running data listener. */
export interface DataListener {
  port: number;
  close(): Promise<void>;
}

/** Reads exactly `n` bytes from a paused socket, then leaves the rest unread. */
function readExactly(sock: tls.TLSSocket, n: number, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let have = 0;
    const timer = setTimeout(() => done(new Error("header timeout")), timeoutMs);
    const done = (err: Error | null, value?: Uint8Array) => {
      clearTimeout(timer);
      sock.off("readable", onReadable);
      sock.off("error", onErr);
      sock.off("end", onEnd);
      if (err) reject(err);
      else resolve(value!);
    };
    const onErr = (e: Error) => done(e);
    const onEnd = () => done(new Error("closed before header"));
    const onReadable = () => {
      let chunk: Uint8Array | null;
      while (have < n && (chunk = sock.read() as Uint8Array | null) !== null) {
        chunks.push(chunk);
        have += chunk.byteLength;
      }
      if (have < n) return;
      const all = new Uint8Array(have);
      let off = 0;
      for (const c of chunks) {
        all.set(c, off);
        off += c.byteLength;
      }
      if (have > n) sock.unshift(all.subarray(n));
      done(null, all.slice(0, n));
    };
    sock.on("readable", onReadable);
    sock.on("error", onErr);
    sock.on("end", onEnd);
    onReadable();
  });
}

/** Starts the data listener. */
export function startDataListener(opts: {
  listen: ListenAddress;
  caPem: string;
  certPem: string;
  keyPem: string;
  broker: TunnelBroker;
  log: Logger;
}): Promise<DataListener> {
  const open = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    ca: opts.caPem,
    cert: opts.certPem,
    key: opts.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    allowHalfOpen: true,
    minVersion: "TLSv1.2",
  }, async (sock) => {
    open.add(sock);
    sock.once("close", () => open.delete(sock));
    sock.setNoDelay(true);
    sock.on("error", () => {});
    const cn = String(sock.getPeerCertificate()?.subject?.CN ?? "");
    try {
      const header = await readExactly(sock, DATA_HEADER_SIZE, 10_000);
      const ticket = decodeDataHeader(header);
      if (!ticket || !cn || !opts.broker.bind(cn, ticket, sock)) {
        opts.log.warn({ cn }, "data connection refused: bad or unknown ticket");
        sock.destroy();
      }
    } catch (e) {
      opts.log.debug({ cn, err: (e as Error).message }, "data connection dropped before header");
      sock.destroy();
    }
  });
  server.on("tlsClientError", (e: Error, s: Socket) => {
    opts.log.debug({ err: e.message }, "data channel TLS handshake failed");
    s.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.listen.port, opts.listen.hostname, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr ? addr.port : opts.listen.port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            for (const s of open) s.destroy();
            setTimeout(r, 1_000);
          }),
      });
    });
  });
}
