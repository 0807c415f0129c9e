/**
 * The BridgeTunnel carrier, measured: the same bytes one way between two sibling nodes' ends
 * over (a) a grpc-js bidi stream with mTLS (one message per chunk — what guide §5.3 describes)
 * and (b) the framed node:tls mTLS connection with a credit window that the cloud uses
 * (src/cloud/interrelay/frames.ts, read through its Deno.Conn face as the byte pump does). Both
 * on the internal-CA PKI, in one process, loopback. `measureDataPlanes` gives (a)'s figure too;
 * this one measures (b) exactly as the product runs it.
 * @module
 */
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { createCA, issueNodeCert } from "../src/shared/crypto/pki.ts";
import { FramedConn } from "../src/cloud/interrelay/frames.ts";
import type { PictureLag } from "./live.ts";

/** Gbit/s of `bytes` one way through a FramedConn pair (mTLS on a fresh internal CA). */
export async function measureFramedBridge(bytes: number): Promise<number> {
  const ca = await createCA({ commonName: "bench internal CA" });
  const a = await issueNodeCert({ ca, commonName: "node-a", hostnames: ["127.0.0.1"] });
  const b = await issueNodeCert({ ca, commonName: "node-b", hostnames: ["127.0.0.1"] });
  let serverConn!: (c: FramedConn) => void;
  const accepted = new Promise<FramedConn>((r) => (serverConn = r));
  const server = tls.createServer({
    key: Buffer.from(a.keyPem),
    cert: Buffer.from(a.certPem),
    ca: [Buffer.from(ca.certPem)],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (s) => serverConn(new FramedConn(s)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ca: [Buffer.from(ca.certPem)],
    cert: Buffer.from(b.certPem),
    key: Buffer.from(b.keyPem),
    minVersion: "TLSv1.3",
    checkServerIdentity: () => undefined,
  });
  await new Promise((r) => socket.once("secureConnect", r));
  const client = new FramedConn(socket);
  const sink = await accepted;
  const chunk = new Uint8Array(64 << 10).fill(7);
  const t0 = performance.now();
  const reading = (async () => {
    const buf = new Uint8Array(64 << 10);
    let got = 0;
    for (;;) {
      const n = await sink.read(buf);
      if (n === null) return got;
      got += n;
    }
  })();
  for (let sent = 0; sent < bytes;) {
    sent += await client.write(chunk.subarray(0, Math.min(chunk.byteLength, bytes - sent)));
  }
  await client.closeWrite();
  const got = await reading;
  const gbps = (got * 8) / ((performance.now() - t0) / 1000) / 1e9;
  client.close();
  sink.close();
  await new Promise<void>((r) => server.close(() => r()));
  return gbps;
}

/**
 * Bulk through a WebSocket tunnel entering on the node that holds the agent (direct) and on its
 * sibling (bridged), real processes on one shared store: `bytes` echoed back (so both ways),
 * best of `runs` each, in Gbit/s of payload one way.
 */
export async function measureBridgedVsDirect(
  bytes: number,
  runs = 3,
): Promise<{ direct: number; bridged: number }> {
  const { Stack, echoServer, echoThrough, randomBytes } = await import(
    "../tests/_fixtures/stack.ts"
  );
  const n1 = await Stack.start();
  const n2 = await Stack.start({ joining: n1, node: "node-2" });
  const echo = await echoServer();
  try {
    const q = await n1.quickstart([echo.port]);
    await n1.agentFor(q);
    const handle = q.device.handles[echo.port];
    const data = randomBytes(bytes);
    const once = async (node: typeof n1) => {
      const ws = await node.openTunnel(handle, q.apiToken);
      const t0 = performance.now();
      const r = await echoThrough(ws, data);
      if (r.received.byteLength !== bytes) {
        throw new Error(`short echo: ${r.received.byteLength} of ${bytes} (${r.code} ${r.reason})`);
      }
      return (bytes * 8) / ((performance.now() - t0) / 1000) / 1e9;
    };
    let direct = 0;
    let bridged = 0;
    for (let i = 0; i < runs; i++) {
      direct = Math.max(direct, await once(n1));
      bridged = Math.max(bridged, await once(n2));
    }
    return { direct, bridged };
  } finally {
    await echo.close();
    await n2.stop();
    await n1.stop();
  }
}

/**
 * The live view's time to first picture through the node that holds the agent and through its
 * sibling, which subscribes to the owner's camera session (interrelay/live_feed.ts): cold (the
 * viewer's open starts the session, through the bridge for the sibling) and warm (a second viewer
 * joins), p50 of `runs` each, in ms; and, over `lagSeconds` with a viewer on each node, how
 * much later each picture reaches the sibling's viewer than the owner's (bench/live.ts
 * `pictureLag`). The reason, when the camera fixture is missing.
 */
export async function measureLiveThroughSibling(
  runs: number,
  lagSeconds: number,
): Promise<
  | {
    owner: { cold: number; warm: number };
    sibling: { cold: number; warm: number };
    lag: PictureLag;
  }
  | string
> {
  const { Stack } = await import("../tests/_fixtures/stack.ts");
  const { startCamera, CAMERA_PATH } = await import("./rtsp.ts");
  const { timeToFirstPicture, pictureLag } = await import("./live.ts");
  const cam = await startCamera();
  if ("unavailable" in cam) return cam.unavailable;
  const n1 = await Stack.start();
  try {
    const n2 = await Stack.start({ joining: n1, node: "node-2" });
    try {
      const q = await n1.quickstart([cam.port]);
      await n1.agentFor(q);
      const handle = q.device.handles[cam.port];
      const url = (n: typeof n1) =>
        `${n.url.replace(/^http/, "ws")}/api/live/${handle}?path=/${CAMERA_PATH}`;
      // node-2 reads the agent's presence from the store: wait until it would serve.
      for (let i = 0; i < 100; i++) {
        const r = await fetch(url(n2).replace(/^ws/, "http"), {
          headers: { authorization: `Bearer ${q.apiToken}` },
        });
        await r.body?.cancel();
        if (r.status === 426) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        owner: await timeToFirstPicture(url(n1), q.apiToken, runs),
        sibling: await timeToFirstPicture(url(n2), q.apiToken, runs),
        lag: await pictureLag(url(n1), url(n2), q.apiToken, lagSeconds),
      };
    } finally {
      await n2.stop();
    }
  } finally {
    await n1.stop();
    await cam.close();
  }
}

if (import.meta.main) {
  const { measureDataPlanes } = await import("./dataplane.ts");
  const mib = Number(Deno.args[0] ?? 256);
  const e2e = await measureBridgedVsDirect(mib << 20);
  console.log(
    `WS tunnel, ${mib} MiB echoed: direct ${e2e.direct.toFixed(2)} Gbit/s, bridged ` +
      `${e2e.bridged.toFixed(2)} Gbit/s (${(e2e.bridged / e2e.direct).toFixed(2)}×)`,
  );
  for (let i = 0; i < 3; i++) {
    const framed = await measureFramedBridge(mib << 20);
    const dp = await measureDataPlanes(mib << 20);
    console.log(
      `${mib} MiB one way: framed node:tls bridge ${framed.toFixed(2)} Gbit/s; ` +
        `gRPC bidi ${dp.grpcMtls.toFixed(2)}; raw node:tls ${dp.tlsMtls.toFixed(2)}; ` +
        `Deno TLS ${dp.denoTls.toFixed(2)}`,
    );
  }
}
