/**
 * The control relay process (`connector cloud control-relay`, started by the cloud itself, never
 * by hand). It owns the agents' gRPC-over-mTLS listener and nothing else: Deno's node:http2 can
 * abort the whole process inside nghttp2 when a peer's GOAWAY meets a stream it just closed
 * (denoland/deno#36788 — the fuzzer found it from a well-behaved agent's reconnects in minutes),
 * and no JavaScript can catch that. The relay therefore ends TLS itself (node:tls, client
 * certificate required) and hands grpc-js the decrypted bytes through goaway_filter.ts, which
 * keeps the agents' GOAWAY frames from nghttp2: since then the fuzzer's `control` target has not
 * reached the abort. Should another native fault remain, in its own process it costs the agents
 * one reconnect, not the node: the HTTP API, the browser proxy, the RTSP gateway and every open
 * tunnel live in the cloud process and keep going while it restarts this one.
 *
 * It reads its configuration (keys included) from stdin — never from the command line — and
 * forwards every stream's message bytes untouched (relay_wire.ts); when stdin ends it stops.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import * as tls from "node:tls";
import { dropClientGoaway } from "./goaway_filter.ts";
import { controlServiceDefinition } from "../../shared/protocol/control.ts";
import {
  decodeDeny,
  encodeRelayFrame,
  type Frame,
  readRelayFrames,
  RelayFrame,
} from "./relay_wire.ts";
import { TlsIdentity } from "./tls_identity.ts";
import { bindRefusal, RELAY_BIND_EXIT } from "../listen_error.ts";

/** What the cloud sends the relay at start. */
export interface RelayConfig {
  host: string;
  port: number;
  caPem: string;
  certPem: string;
  keyPem: string;
  options: grpc.ServerOptions;
}

type RawCall = grpc.ServerDuplexStream<Buffer, Buffer>;

/** The control service with byte-for-byte (de)serializers: the cloud process parses. */
function rawDefinition(): grpc.ServiceDefinition {
  const def = controlServiceDefinition as unknown as Record<
    string,
    grpc.MethodDefinition<unknown, unknown>
  >;
  return {
    Connect: {
      ...def.Connect,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
    },
  } as unknown as grpc.ServiceDefinition;
}

/** Runs the relay until stdin ends; returns the exit code. */
export async function relayMain(): Promise<number> {
  const out = Deno.stdout.writable.getWriter();
  const send = (type: number, id: number, payload?: Uint8Array) => {
    out.write(encodeRelayFrame(type, id, payload)).catch(() => {});
  };
  const calls = new Map<number, RawCall>();
  let nextId = 1;
  let server: grpc.Server | null = null;
  let identity: TlsIdentity | null = null;
  /** Each live connection's verified client certificate, by `address:port` (call.getPeer()). */
  const peers = new Map<string, { cn: string; raw?: Uint8Array }>();

  const connect = (call: RawCall) => {
    const id = nextId++;
    calls.set(id, call);
    // The certificate the TLS listener verified for this call's connection.
    const peer = peers.get(call.getPeer());
    const cn = peer?.cn ?? "";
    let gone = false;
    const finish = () => {
      if (gone) return;
      gone = true;
      calls.delete(id);
      send(RelayFrame.GONE, id);
    };
    // The certificate itself, for the cloud's expiry and issuing-CA checks.
    if (peer?.raw instanceof Uint8Array) send(RelayFrame.PEER, id, new Uint8Array(peer.raw));
    send(RelayFrame.OPEN, id, new TextEncoder().encode(cn));
    call.on("data", (b: Buffer) => {
      if (!gone) send(RelayFrame.DATA, id, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    });
    call.on("end", () => {
      if (!gone) send(RelayFrame.END, id);
    });
    call.on("error", finish);
    call.on("cancelled", finish);
    call.on("close", finish);
  };

  const apply = (f: Frame) => {
    const call = calls.get(f.id);
    if (!call) return;
    try {
      switch (f.type) {
        case RelayFrame.SEND:
          call.write(Buffer.from(f.payload));
          break;
        case RelayFrame.FINISH:
          call.end();
          break;
        case RelayFrame.DENY: {
          const { code, details } = decodeDeny(f.payload);
          call.emit("error", { code, details, metadata: new grpc.Metadata() });
          break;
        }
      }
    } catch { /* the stream went away meanwhile */ }
  };

  try {
    for await (const f of readRelayFrames(Deno.stdin.readable)) {
      if (f.type === RelayFrame.CONFIG && !server) {
        const c = JSON.parse(new TextDecoder().decode(f.payload)) as RelayConfig;
        server = new grpc.Server(c.options);
        server.addService(rawDefinition(), { Connect: connect });
        const id = identity = new TlsIdentity(c.caPem, { certPem: c.certPem, keyPem: c.keyPem });
        // TLS ends here, not in grpc-js: the decrypted client bytes pass through the GOAWAY
        // filter (goaway_filter.ts) before the HTTP/2 engine sees them.
        const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
        const secure = () => ({ ca: id.caPem, cert: id.pair.certPem, key: id.pair.keyPem });
        const listener = tls.createServer({
          ...secure(),
          requestCert: true,
          rejectUnauthorized: true,
          ALPNProtocols: ["h2"],
        }, (sock) => {
          const cert = sock.getPeerCertificate();
          const key = `${sock.remoteAddress}:${sock.remotePort}`;
          peers.set(key, { cn: String(cert?.subject?.CN ?? ""), raw: cert?.raw });
          sock.once("close", () => peers.delete(key));
          sock.setNoDelay(true);
          injector.injectConnection(dropClientGoaway(sock));
        });
        id.onChange(() => listener.setSecureContext(secure()));
        listener.on("tlsClientError", (err: Error, sock?: { remoteAddress?: string }) =>
          send(
            RelayFrame.REFUSED,
            0,
            new TextEncoder().encode(
              JSON.stringify({ remote: sock?.remoteAddress ?? "unknown", reason: err.message }),
            ),
          ));
        const port = await new Promise<number>((resolve, reject) => {
          listener.once("error", reject);
          listener.listen(
            c.port,
            c.host,
            () => resolve((listener.address() as { port: number }).port),
          );
        });
        const p = new Uint8Array(4);
        new DataView(p.buffer).setUint32(0, port);
        send(RelayFrame.READY, 0, p);
        continue;
      }
      if (f.type === RelayFrame.IDENTITY && identity) {
        // A renewed server certificate or a new set of trusted agent CAs (rotation).
        const c = JSON.parse(new TextDecoder().decode(f.payload)) as Omit<RelayConfig, "host">;
        identity.updateCa(c.caPem);
        identity.update({ certPem: c.certPem, keyPem: c.keyPem });
        continue;
      }
      apply(f);
    }
  } catch (e) {
    // A refused bind is said by the cloud, which knows the flag (listen_error.ts).
    const refusal = bindRefusal(e);
    if (refusal) return RELAY_BIND_EXIT[refusal];
    console.error(`control relay: ${(e as Error).message}`);
  }
  // The cloud closed our stdin: leave at once. No graceful shutdown on purpose — it would send
  // each agent a GOAWAY, the very frame that can abort a Deno HTTP/2 peer; a closed connection
  // makes them reconnect just the same.
  void server;
  return 0;
}
