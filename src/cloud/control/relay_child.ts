/**
 * The control relay process (`connector cloud control-relay`, started by the cloud itself, never
 * by hand). It owns the agents' gRPC-over-mTLS listener and nothing else: Deno's node:http2 can
 * abort the whole process inside nghttp2 when a peer's GOAWAY meets a stream it just closed
 * (denoland/deno#36788 — the fuzzer finds it from a well-behaved agent's reconnects in minutes),
 * and no JavaScript can catch that. In its own process such an abort costs the agents one
 * reconnect, not the node: the HTTP API, the browser proxy, the RTSP gateway and every open
 * tunnel live in the cloud process and keep going while it restarts this one.
 *
 * It reads its configuration (keys included) from stdin — never from the command line — and
 * forwards every stream's message bytes untouched (relay_wire.ts); when stdin ends it stops.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { controlServiceDefinition } from "../../shared/protocol/control.ts";
import {
  decodeDeny,
  encodeRelayFrame,
  type Frame,
  readRelayFrames,
  RelayFrame,
} from "./relay_wire.ts";
import { TlsIdentity } from "./tls_identity.ts";

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

  const connect = (call: RawCall) => {
    const id = nextId++;
    calls.set(id, call);
    const peer = call.getAuthContext()?.sslPeerCertificate as
      | { subject?: { CN?: string }; raw?: Uint8Array }
      | undefined;
    const cn = String(peer?.subject?.CN ?? "");
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
        identity = new TlsIdentity(c.caPem, { certPem: c.certPem, keyPem: c.keyPem });
        const creds = identity.serverCredentials();
        const host = c.host.includes(":") ? `[${c.host}]` : c.host;
        const port = await new Promise<number>((resolve, reject) =>
          server!.bindAsync(`${host}:${c.port}`, creds, (e, p) => e ? reject(e) : resolve(p))
        );
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
    console.error(`control relay: ${(e as Error).message}`);
  }
  // The cloud closed our stdin: leave at once. No graceful shutdown on purpose — it would send
  // each agent a GOAWAY, the very frame that can abort a Deno HTTP/2 peer; a closed connection
  // makes them reconnect just the same.
  void server;
  return 0;
}
