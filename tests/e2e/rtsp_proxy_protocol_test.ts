// The RTSP gateway behind a TCP load balancer that sends the PROXY protocol (HAProxy's
// `send-proxy`): a relay in front of :9554 that, for each player connection, dials the gateway
// from 127.0.0.1 (in --trusted-proxies) and writes the v1 line naming the player first. ffprobe
// decodes H.264 through it, and the audit names the player the balancer named — for the opened
// tunnel and for a refused credential — not the balancer. A player without a balancer still plays; a PROXY
// line from a peer that is not a trusted proxy is not believed (it is a bad RTSP request).
import * as net from "node:net";
import type { Buffer } from "node:buffer";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { ffprobe, rtspExchange, startCamera } from "../_fixtures/rtsp.ts";

/** A balancer on 127.0.0.1:port that names every player `client` to the gateway. */
function balancer(gatewayPort: number, client: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
    } catch { /* either side went away */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  (async () => {
    for await (const player of listener) {
      const gw = await Deno.connect({ hostname: "127.0.0.1", port: gatewayPort });
      open.add(player).add(gw);
      const { port: from } = player.remoteAddr as Deno.NetAddr;
      await gw.write(
        new TextEncoder().encode(`PROXY TCP4 ${client} 127.0.0.1 ${from} ${gatewayPort}\r\n`),
      );
      pipe(player, gw);
      pipe(gw, player);
    }
  })().catch(() => {});
  return {
    port,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

async function auditOf(stack: Stack, action: string) {
  const r = await stack.admin<{
    entries: { action: string; actor: string; target: string; detail: Record<string, unknown> }[];
  }>("audit", "--action", action, "--limit", "1000");
  return r.entries;
}

Deno.test("rtsp gateway behind a balancer that sends the PROXY protocol: plays, audits the player", async () => {
  const stack = await Stack.start({ cloudArgs: ["--trusted-proxies", "127.0.0.1/32"] });
  const cam = await startCamera();
  stack.defer(cam.close);
  const lb = balancer(stack.ports.rtsp, "198.51.100.7");
  stack.defer(() => Promise.resolve(lb.close()));
  try {
    const q = await stack.quickstart([cam.port]);
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const minted = await fetch(`${stack.url}/api/handles/${handle}/rtsp-url`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ path: "live/cam1" }),
    });
    assertEquals(minted.status, 201);
    const url = (await minted.json()).url as string;

    const through = await ffprobe(url.replace(`:${stack.ports.rtsp}/`, `:${lb.port}/`));
    assertEquals([through.codec, through.width], ["h264", 320], through.stderr);
    const opens = (await auditOf(stack, "tunnel.open")).filter((e) => e.detail.path === "rtsp");
    assertEquals(
      opens.map((e) => e.detail.remote),
      ["198.51.100.7"],
      "the player, not the balancer",
    );

    const [refused] = await rtspExchange(lb.port, [
      `DESCRIBE rtsp://127.0.0.1:${lb.port}/${handle}/live/cam1 RTSP/1.0\r\nCSeq: 1\r\n` +
      `Authorization: Basic ${btoa("op:nt_" + "a".repeat(43))}\r\n\r\n`,
    ]);
    assertEquals(refused.status, 401, refused.head);
    const denies = await auditOf(stack, "tunnel.deny");
    assert(denies.some((e) => e.actor === "ip:198.51.100.7"), JSON.stringify(denies));

    // Without a balancer (no header from a trusted peer): plays as before.
    const direct = await ffprobe(url);
    assertEquals([direct.codec, direct.width], ["h264", 320], direct.stderr);

    // From a peer that is not a trusted proxy, a PROXY line is not believed: a bad request.
    // (node:net: Deno.connect cannot choose the source address.)
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = net.connect({
        host: "127.0.0.1",
        port: stack.ports.rtsp,
        localAddress: "127.0.0.2",
      });
      let text = "";
      sock.on("connect", () =>
        sock.write(
          `PROXY TCP4 203.0.113.9 127.0.0.1 1 2\r\nOPTIONS rtsp://x/${handle}/ RTSP/1.0\r\n` +
            "CSeq: 1\r\n\r\n",
        ));
      sock.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.includes("\r\n\r\n")) {
          sock.destroy();
          resolve(text);
        }
      });
      sock.on("error", reject);
      sock.on("close", () => resolve(text));
    });
    assert(/^RTSP\/1\.0 400 /.test(answer), answer);
    const all = await auditOf(stack, "tunnel.deny");
    assert(!all.some((e) => e.actor === "ip:203.0.113.9"), "an untrusted peer names nobody");
  } finally {
    await stack.stop();
  }
});
