// The BridgeTunnel's framed connection over a real node:tls mTLS pair on loopback: bytes both
// ways with half-close, backpressure by the credit window, and a peer that ignores the window
// is cut off.
import { concatBytes } from "../../../_fixtures/bytes.ts";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects } from "../../../_fixtures/assert.ts";
import { createCA, issueNodeCert } from "../../../../src/shared/crypto/pki.ts";
import { FramedConn, FrameType, WINDOW } from "../../../../src/cloud/interrelay/frames.ts";

async function pair(): Promise<
  { a: FramedConn; raw: tls.TLSSocket; b: FramedConn; stop(): Promise<void> }
> {
  const ca = await createCA({ commonName: "test internal CA" });
  const s = await issueNodeCert({ ca, commonName: "node-a", hostnames: ["127.0.0.1"] });
  const c = await issueNodeCert({ ca, commonName: "node-b", hostnames: ["127.0.0.1"] });
  let got!: (x: FramedConn) => void;
  const accepted = new Promise<FramedConn>((r) => (got = r));
  const server = tls.createServer({
    key: Buffer.from(s.keyPem),
    cert: Buffer.from(s.certPem),
    ca: [Buffer.from(ca.certPem)],
    requestCert: true,
    rejectUnauthorized: true,
  }, (sock) => got(new FramedConn(sock)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const raw = tls.connect({
    host: "127.0.0.1",
    port: (server.address() as { port: number }).port,
    ca: [Buffer.from(ca.certPem)],
    cert: Buffer.from(c.certPem),
    key: Buffer.from(c.keyPem),
    checkServerIdentity: () => undefined,
  });
  await new Promise((r) => raw.once("secureConnect", r));
  const b = await accepted;
  return {
    a: new FramedConn(raw),
    raw,
    b,
    async stop() {
      raw.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function readAll(c: FramedConn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(70_000);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  return concatBytes(...parts);
}

async function writeAll(c: FramedConn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.byteLength;) off += await c.write(data.subarray(off));
}

Deno.test("frames: control frames, then bytes both ways with half-close", async () => {
  const p = await pair();
  try {
    p.a.sendControl(FrameType.OPEN, { hello: 1 });
    assertEquals(await p.b.control(5_000), { type: FrameType.OPEN, body: { hello: 1 } });
    const up = crypto.getRandomValues(new Uint8Array(60_000));
    const big = new Uint8Array(3 * WINDOW + 12345).map((_, i) => i % 251);
    const reading = readAll(p.b);
    await writeAll(p.a, big);
    await p.a.closeWrite();
    assertEquals(await reading, big);
    // The other direction still flows after the first one ended.
    const back = readAll(p.a);
    await writeAll(p.b, up);
    await p.b.closeWrite();
    assertEquals(await back, up);
  } finally {
    await p.stop();
  }
});

Deno.test("frames: a writer waits once the receiver holds a full window unread", async () => {
  const p = await pair();
  try {
    const chunk = new Uint8Array(64 << 10);
    let sent = 0;
    const writer = (async () => {
      for (;;) sent += await p.a.write(chunk);
    })().catch(() => {});
    // Give the writer every chance to run ahead, then check it stopped at the window.
    for (let i = 0; i < 50 && sent < WINDOW; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(sent, WINDOW, "the sender stops at the credit window");
    // Reading frees credit and the writer moves on.
    const buf = new Uint8Array(64 << 10);
    let read = 0;
    while (read < WINDOW) read += (await p.b.read(buf))!;
    for (let i = 0; i < 100 && sent <= WINDOW; i++) await new Promise((r) => setTimeout(r, 20));
    assert(sent > WINDOW, "credit returned, writing resumed");
    p.a.close();
    await writer;
  } finally {
    await p.stop();
  }
});

Deno.test("frames: a peer that ignores the credit window is cut off", async () => {
  const p = await pair();
  try {
    // Raw DATA frames straight on the socket, never waiting for credit.
    const frame = Buffer.alloc(5 + 65536);
    frame[0] = FrameType.DATA;
    frame.writeUInt32BE(65536, 1);
    for (let i = 0; i < WINDOW / 65536 + 4; i++) p.raw.write(frame);
    // Nobody reads on the receiving side, so no credit goes back: the overrun is seen.
    for (let i = 0; i < 250 && !p.b.isClosed; i++) await new Promise((r) => setTimeout(r, 20));
    assert(p.b.isClosed, "the receiver cut the connection");
    const err = await assertRejects(() => readAll(p.b));
    assert(/credit window/.test(err.message), err.message);
  } finally {
    await p.stop();
  }
});
