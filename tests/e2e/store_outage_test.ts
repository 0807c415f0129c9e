// A store outage, end to end: a real cloud on --store mongodb:// (FerretDB from the fixture),
// a real agent and a TCP echo target. While an operator's WebSocket tunnel keeps carrying bytes,
// the database process is killed: the open tunnel keeps echoing, the agent's control stream stays
// up, a new tunnel and an authenticated API call are refused with 503 store_unavailable and the
// catalogue's message (never a 500, never admitted), /healthz/ready is 503 while /healthz/live is
// 200, and the cloud logs no error with a stack for those refusals. The database comes back on
// the same port and files: without a restart of the cloud, ready is 200 and new tunnels work.
// The browser proxy and the RTSP gateway answer 503 during the outage too. An agent that
// reconnects during the outage is refused with UNAVAILABLE (retry), and gets in afterwards.
// @ts-types="@types/ws"
import type WebSocket from "ws";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { startFerretDb } from "../_fixtures/ferretdb.ts";
import { randomBytes, Stack, TunnelRefused } from "../_fixtures/stack.ts";

const STORE_MESSAGE = "the cloud cannot reach its database; try again shortly";

/** Sends `data` on an open tunnel and resolves once the echo of all of it came back intact. */
function roundTrip(ws: WebSocket, data: Uint8Array, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const got: Uint8Array[] = [];
    let n = 0;
    const timer = setTimeout(() => {
      ws.off("message", onMessage);
      reject(new Error(`echo of ${data.byteLength} bytes: ${n} back after ${ms} ms`));
    }, ms);
    const onMessage = (m: Uint8Array) => {
      got.push(new Uint8Array(m));
      n += m.byteLength;
      if (n < data.byteLength) return;
      clearTimeout(timer);
      ws.off("message", onMessage);
      const all = new Uint8Array(n);
      let off = 0;
      for (const p of got) {
        all.set(p, off);
        off += p.byteLength;
      }
      if (n === data.byteLength && all.every((b, i) => b === data[i])) resolve();
      else reject(new Error("the echo differs from what was sent"));
    };
    ws.on("message", onMessage);
    ws.send(data, { binary: true });
  });
}

/** Sends one RTSP DESCRIBE with the token as Basic password; returns the status line. */
async function rtspStatusLine(port: number, handle: string, token: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const auth = btoa(`operator:${token}`);
    await conn.write(
      new TextEncoder().encode(
        `DESCRIBE rtsp://127.0.0.1:${port}/${handle}/ RTSP/1.0\r\nCSeq: 1\r\n` +
          `Authorization: Basic ${auth}\r\nAccept: application/sdp\r\n\r\n`,
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.split("\r\n")[0];
  } finally {
    conn.close();
  }
}

/** Polls `check` until it returns true or `ms` pass; returns whether it did. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** Opens a new tunnel as soon as the cloud admits one again (30 s bound) and echoes `n` bytes. */
async function echoesWhenBack(stack: Stack, handle: string, token: string, n: number) {
  let ws: WebSocket | null = null;
  assert(
    await eventually(async () => {
      ws = await stack.openTunnel(handle, token);
      return true;
    }, 30_000),
    "a new tunnel opens again",
  );
  await roundTrip(ws!, randomBytes(n));
  ws!.close();
}

Deno.test("store outage: open tunnels flow, new admissions 503, ready 503, all back without a restart", async () => {
  const ferret = await startFerretDb();
  try {
    await Stack.withEchoSite(async ({ stack, q, handle, agent }) => {
      const ws = await stack.openTunnel(handle, q.apiToken);
      await roundTrip(ws, randomBytes(256 << 10));
      const ready = () => fetch(`${stack.url}/healthz/ready`);
      const r0 = await ready();
      assertEquals(r0.status, 200, await r0.text());

      const user = await stack.addUser(q.tenantId);
      const cookie = await stack.signIn(user.email, user.password);

      const streamsUp = agent.count(/"control stream up"/);
      const logFrom = stack.cloud.lines.length;
      await ferret.halt();

      // The open tunnel keeps flowing: the data plane does not touch the store per byte.
      await roundTrip(ws, randomBytes(1 << 20));

      // A new tunnel is refused before the upgrade: 503 with the catalogue's message.
      let refused: TunnelRefused | null = null;
      try {
        const extra = await stack.openTunnel(handle, q.apiToken);
        extra.close();
      } catch (e) {
        if (!(e instanceof TunnelRefused)) throw e;
        refused = e;
      }
      assert(refused, "a new tunnel was admitted while the store was down");
      assertEquals(refused.status, 503, JSON.stringify(refused.body));
      assertEquals(refused.body, { error: "store_unavailable", message: STORE_MESSAGE });

      // Any authenticated call fails closed the same way (never 500, never admitted).
      const api = await fetch(`${stack.url}/api/account/tokens`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      assertEquals(api.status, 503);
      assertEquals(await api.json(), { error: "store_unavailable", message: STORE_MESSAGE });

      // A signed-in operator opening a page reads the sentence on a small page.
      const page = await fetch(`${stack.url}/sites`, {
        headers: { cookie, accept: "text/html", "sec-fetch-mode": "navigate" },
        redirect: "manual",
      });
      assertEquals(page.status, 503);
      assert((await page.text()).includes("the cloud cannot reach its database"), "page text");

      // The browser proxy and the RTSP gateway refuse the same way.
      const proxied = await fetch(`${stack.url}/c/${handle}/`, {
        headers: { authorization: `Bearer ${q.apiToken}`, accept: "application/json" },
      });
      assertEquals(proxied.status, 503);
      assertEquals((await proxied.json()).error, "store_unavailable");
      assertEquals(
        await rtspStatusLine(stack.ports.rtsp, handle, q.apiToken),
        `RTSP/1.0 503 ${STORE_MESSAGE}`,
      );

      // Ready says so (and stays fast); live does not.
      const r1 = await ready();
      assertEquals(r1.status, 503);
      const r1Body = await r1.json();
      assert(typeof r1Body.message === "string", JSON.stringify(r1Body));
      const live = await fetch(`${stack.url}/healthz/live`);
      await live.body?.cancel();
      assertEquals(live.status, 200);

      // Past a few heartbeats and change-watch ticks the tunnel and the agent's stream are up.
      await new Promise((r) => setTimeout(r, 6_000));
      await roundTrip(ws, randomBytes(1 << 20));
      assertEquals(agent.count(/"control stream up"/), streamsUp, "the agent kept its stream");

      // The database returns on the same port and files: the cloud resumes by itself.
      await ferret.resume();
      assert(
        await eventually(async () => {
          const r = await ready();
          await r.body?.cancel();
          return r.status === 200;
        }, 30_000),
        "ready is 200 again",
      );
      await echoesWhenBack(stack, handle, q.apiToken, 1 << 20);
      await roundTrip(ws, randomBytes(64 << 10));
      ws.close();
      const again = await fetch(`${stack.url}/api/account/tokens`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      await again.body?.cancel();
      assertEquals(again.status, 200);

      // The refusals were expected: warnings, never an error with a stack.
      const during = stack.cloud.lines.slice(logFrom);
      const errors = during.filter((l) => /"level":(50|60)/.test(l));
      assertEquals(errors, [], "no error-level log lines for the expected refusals");
      assert(!during.some((l) => l.includes('"stack"')), "no stack traces in the log");
      assert(during.some((l) => l.includes("store unreachable")), "the outage was logged once");
    }, { store: ferret.url });
  } finally {
    await ferret.stop();
  }
});

Deno.test("store outage: an agent that reconnects meanwhile is told to retry, and gets in when the store returns", async () => {
  const ferret = await startFerretDb();
  try {
    await Stack.withEchoSite(async ({ stack, q, handle, agent }) => {
      const state = `${stack.dir}/agent-1`;
      await agent.stop("SIGKILL");
      await ferret.halt();
      const again = await stack.runAgent(state, false);
      // The cloud could not check the agent: UNAVAILABLE with the catalogue's message (code 14),
      // never admitted unchecked and never "revoked" (which would tell it to re-enroll).
      const line = await again.waitFor(/control stream cannot connect/, 30_000);
      assert(line.includes(STORE_MESSAGE) && line.includes("code 14"), line);
      assertEquals(again.count(/control stream refused by the cloud/), 0);
      assertEquals(again.count(/"control stream up"/), 0);

      await ferret.resume();
      await again.waitFor(/"control stream up"/, 60_000);
      await echoesWhenBack(stack, handle, q.apiToken, 256 << 10);
    }, { store: ferret.url });
  } finally {
    await ferret.stop();
  }
});
