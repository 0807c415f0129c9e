/**
 * A TLS front on loopback, as a balancer or a company's TLS-inspecting proxy stands before the
 * cloud: it ends TLS with a certificate of its own authority (not one the runtime trusts) and
 * passes each connection's bytes to `upstream` (the cloud's plain HTTP port). `validFrom` moves
 * the certificate's validity, so a client's clock can be "behind" (a certificate not valid yet)
 * or "ahead" (one that expired) without touching any clock.
 * @module
 */
import { pipeConns } from "../../src/shared/transport/pipe.ts";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { echoServer, Stack } from "./stack.ts";
import { readHead, serveConns } from "./conn_server.ts";

/** A running front. */
export interface TlsFront {
  port: number;
  /** `https://127.0.0.1:port`. */
  url: string;
  /** The PEM of the authority that signed the front's certificate. */
  caPem: string;
  close(): Promise<void>;
}

/**
 * Starts a front for `upstream` (a loopback port); its certificate names 127.0.0.1 and is valid
 * for 30 days from `validFrom` (default: now). `blockWebSockets`: as some inspecting proxies do,
 * a connection whose first request asks for a WebSocket gets the proxy's own 403 page.
 */
export async function startTlsFront(
  upstream: number,
  opts: { validFrom?: number; blockWebSockets?: boolean } = {},
): Promise<TlsFront> {
  const ca = await createCA({ commonName: "Company TLS inspection (test)" });
  const leaf = await issueServerCert({
    ca,
    commonName: "127.0.0.1",
    hostnames: ["127.0.0.1"],
    validDays: 30,
    now: opts.validFrom,
  });
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
  });
  const server = serveConns(listener, async (conn, track) => {
    await conn.handshake();
    let head: Uint8Array = new Uint8Array(0);
    if (opts.blockWebSockets) {
      head = await readHead(conn);
      if (/\r\nupgrade:\s*websocket/i.test(new TextDecoder().decode(head))) {
        const page = "<html><head><title>Blocked</title><style>h1{color:red}</style></head>" +
          "<body><h1>Access denied</h1><p>WebSocket connections are not allowed by company " +
          "policy.</p></body></html>";
        await conn.write(new TextEncoder().encode(
          "HTTP/1.1 403 Forbidden\r\nServer: InspectingProxy\r\nContent-Type: text/html\r\n" +
            `Content-Length: ${page.length}\r\nConnection: close\r\n\r\n${page}`,
        ));
        return;
      }
    }
    const up = await Deno.connect({ hostname: "127.0.0.1", port: upstream });
    track(up);
    if (head.length) await up.write(head);
    await pipeConns(conn, up);
  });
  return {
    port: server.port,
    url: `https://127.0.0.1:${server.port}`,
    caPem: ca.certPem,
    close: server.close,
  };
}

/** A stack with an echo target behind a TLS front, and the front's authority in a file. */
export interface FrontedStack {
  stack: Stack;
  echo: { port: number };
  front: TlsFront;
  /** `company-ca.pem` in the stack's directory: the front's authority, for `--ca-file`. */
  caFile: string;
}

/**
 * Starts a stack, an echo target and a TLS front before the cloud's HTTP port (each closed with
 * the stack), and writes the front's authority to a file. The caller stops the stack.
 */
export async function startFrontedStack(): Promise<FrontedStack> {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  const front = await startTlsFront(stack.ports.http);
  stack.defer(front.close);
  const caFile = `${stack.dir}/company-ca.pem`;
  await Deno.writeTextFile(caFile, front.caPem);
  return { stack, echo, front, caFile };
}
