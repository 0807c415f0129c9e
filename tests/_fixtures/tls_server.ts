/**
 * A TLS server on loopback serving one certificate: each connection is handshaken, whatever the
 * client sends is counted and dropped, and the connection is closed when the client is done. For
 * tests of who a client trusts (the agent's route race, its data dial, an impostor on the path).
 * @module
 */
import type { KeyAndCert } from "../../src/shared/crypto/pki.ts";

/** A running server. */
export interface TlsServer {
  port: number;
  /** Bytes received from clients after their handshakes, all connections together. */
  received(): number;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 and a free port. */
export function startTlsServer(pair: KeyAndCert): TlsServer {
  const l = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pair.certPem,
    key: pair.keyPem,
  });
  let received = 0;
  const serving = (async () => {
    for await (const c of l) {
      (async () => {
        const buf = new Uint8Array(1024);
        for (let n; (n = await c.read(buf)) !== null;) received += n;
      })().catch(() => {}).finally(() => c.close());
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    received: () => received,
    async close() {
      l.close();
      await serving;
    },
  };
}
