/**
 * `deno task bench [--quick]`: measures on this machine, in one run, (1) the two candidate data
 * planes and (2) bulk echo through the real cloud + agent processes against the direct path,
 * and prints ratios. Never a pass/fail test. Results also go to bench/results/latest.json.
 * @module
 */
import "reflect-metadata";
import { measureDataPlanes } from "./dataplane.ts";
import { echoServer, echoThrough, randomBytes, Stack } from "../tests/_fixtures/stack.ts";

const quick = Deno.args.includes("--quick");
const MiB = 1 << 20;
const size = (quick ? 8 : 256) * MiB;

console.error(`data planes, ${size / MiB} MiB one way …`);
const dp = await measureDataPlanes(size);

console.error("starting cloud + agent …");
const stack = await Stack.start();
const echo = await echoServer();
let tunnelGbps = 0;
let directGbps = 0;
try {
  const q = await stack.quickstart([echo.port]);
  await stack.agentFor(q);
  const data = randomBytes(size);
  // Direct: the same echo, no tunnel.
  let t0 = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: echo.port });
  const w = (async () => {
    const wr = conn.writable.getWriter();
    for (let i = 0; i < size; i += 65536) await wr.write(data.subarray(i, i + 65536));
    await conn.closeWrite();
  })();
  const back = await new Response(conn.readable).arrayBuffer();
  await w;
  directGbps = (back.byteLength * 2 * 8) / ((performance.now() - t0) / 1000) / 1e9;
  console.error("tunnel echo …");
  t0 = performance.now();
  const ws = await stack.openTunnel(q.device.handles[echo.port], q.apiToken);
  const r = await echoThrough(ws, data);
  tunnelGbps = (r.received.byteLength * 2 * 8) / ((performance.now() - t0) / 1000) / 1e9;
} finally {
  await echo.close();
  await stack.stop();
}

const rows = [
  ["data plane: gRPC bidi stream, mTLS (one way)", dp.grpcMtls, dp.grpcMtls / dp.denoTls],
  ["data plane: node:tls mTLS connection (one way)", dp.tlsMtls, dp.tlsMtls / dp.denoTls],
  ["data plane: Deno TLS connection, in use (one way)", dp.denoTls, 1],
  ["echo through WebSocket tunnel (both ways)", tunnelGbps, tunnelGbps / directGbps],
  ["echo direct TCP (both ways)", directGbps, 1],
] as const;
console.log(`\n| path (${size / MiB} MiB) | Gbit/s | ratio |\n| --- | --- | --- |`);
for (const [name, g, ratio] of rows) {
  console.log(`| ${name} | ${g.toFixed(2)} | ${ratio.toFixed(2)} |`);
}
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/latest.json", import.meta.url),
  JSON.stringify(
    { at: new Date().toISOString(), sizeBytes: size, ...dp, tunnelGbps, directGbps },
    null,
    2,
  ),
);
