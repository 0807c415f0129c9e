/**
 * The data-plane choice, measured: the same bytes one way over (a) a grpc-js bidi stream with
 * mTLS (Frame{bytes} per chunk) and (b) one node:tls mTLS connection, both with the project's
 * own PKI on loopback. The spine keeps the faster one; this re-measures it.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import {
  createCA,
  createCsr,
  generateKeyPem,
  issueServerCert,
  signClientCsr,
} from "../src/shared/crypto/pki.ts";

/** Throughput of both candidate data planes for `bytes` one way, in Gbit/s. */
export async function measureDataPlanes(
  bytes: number,
): Promise<{ grpcMtls: number; tlsMtls: number; denoTls: number }> {
  const ca = await createCA({ commonName: "bench CA" });
  const server = await issueServerCert({
    ca,
    commonName: "localhost",
    hostnames: ["localhost", "127.0.0.1"],
  });
  const keyPem = await generateKeyPem();
  const { certPem } = await signClientCsr({
    ca,
    csrPem: await createCsr({ keyPem, commonName: "x" }),
    commonName: "ag",
  });
  const chunk = Buffer.alloc(64 << 10, 7);
  const n = Math.ceil(bytes / chunk.byteLength);

  // (a) gRPC bidi stream.
  const id = (b: Buffer) => b;
  const def = {
    Pipe: {
      path: "/bench.Pipe/Pipe",
      requestStream: true,
      responseStream: true,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    },
  } as unknown as grpc.ServiceDefinition;
  const gs = new grpc.Server();
  let got = 0;
  let doneA!: () => void;
  const a = new Promise<void>((r) => (doneA = r));
  gs.addService(def, {
    Pipe: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (d: Buffer) => (got += d.byteLength));
      call.on("end", () => {
        call.end();
        doneA();
      });
    },
  });
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(ca.certPem),
    [{ private_key: Buffer.from(server.keyPem), cert_chain: Buffer.from(server.certPem) }],
    true,
  );
  const port = await new Promise<number>((ok, no) =>
    gs.bindAsync("127.0.0.1:0", creds, (e, p) => e ? no(e) : ok(p))
  );
  const Client = grpc.makeGenericClientConstructor(def, "Pipe");
  const client = new Client(
    `localhost:${port}`,
    grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(keyPem), Buffer.from(certPem)),
  );
  // deno-lint-ignore no-explicit-any
  const call = (client as any).Pipe() as grpc.ClientDuplexStream<Buffer, Buffer>;
  call.on("data", () => {});
  call.on("error", () => {});
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (!call.write(chunk)) await new Promise((r) => call.once("drain", r));
  }
  call.end();
  await a;
  const grpcMtls = (got * 8) / ((performance.now() - t0) / 1000) / 1e9;
  client.close();
  gs.forceShutdown();

  // (b) one node:tls mTLS connection.
  let got2 = 0;
  let doneB!: () => void;
  const b = new Promise<void>((r) => (doneB = r));
  const ts = tls.createServer(
    {
      ca: ca.certPem,
      cert: server.certPem,
      key: server.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (s) => {
      s.on("data", (d: Uint8Array) => (got2 += d.byteLength));
      s.on("end", () => {
        s.end();
        doneB();
      });
    },
  );
  await new Promise<void>((r) => ts.listen(0, "127.0.0.1", () => r()));
  const tport = (ts.address() as { port: number }).port;
  const c = tls.connect({
    host: "127.0.0.1",
    port: tport,
    servername: "localhost",
    ca: ca.certPem,
    cert: certPem,
    key: keyPem,
  });
  await new Promise((r) => c.once("secureConnect", r));
  t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (!c.write(chunk)) await new Promise((r) => c.once("drain", r));
  }
  c.end();
  await b;
  const tlsMtls = (got2 * 8) / ((performance.now() - t0) / 1000) / 1e9;
  c.destroy();
  ts.close();
  // (c) Deno's own TLS (what the product uses: Deno.listenTls / Deno.connectTls).
  const dl = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.certPem,
    key: server.keyPem,
  });
  const sink = (async () => {
    const conn = await dl.accept();
    const buf = new Uint8Array(64 << 10);
    let n = 0;
    for (let r; (r = await conn.read(buf)) !== null;) n += r;
    conn.close();
    return n;
  })();
  const dc = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: (dl.addr as Deno.NetAddr).port,
    caCerts: [ca.certPem],
  });
  await dc.handshake();
  t0 = performance.now();
  for (let i = 0; i < n; i++) {
    let off = 0;
    while (off < chunk.byteLength) off += await dc.write(chunk.subarray(off));
  }
  await dc.closeWrite();
  const got3 = await sink;
  const denoTls = (got3 * 8) / ((performance.now() - t0) / 1000) / 1e9;
  dc.close();
  dl.close();
  return { grpcMtls, tlsMtls, denoTls };
}
