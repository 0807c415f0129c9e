// The live view's "why" across two nodes. A browser never learns why its upgrade was refused,
// so the player asks the same URL without upgrading; behind a load balancer that question may
// reach the other node. Two real cloud processes on one store, the agent on node-1, GStreamer's
// camera behind Digest credentials. node-2 answers the question for an agent held by node-1 (it
// said "agent reconnecting": the app's own routes did not reach agents through their node), with
// the camera's own words for a refusal node-1 met (it knew only its own failures and said 426,
// "the camera did not answer"): without credentials, then for a path the camera lacks. Once the
// camera plays a path, its remembered refusal is forgotten on every node.
// @ts-types="@types/ws"
import WebSocket from "ws";
import { assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/rtsp.ts";
import { until } from "../_fixtures/until.ts";

/** Opens the live view's WebSocket on `stack` with a bearer token: the status of its answer. */
function upgrade(stack: Stack, handle: string, path: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const url = `${stack.url.replace(/^http/, "ws")}/api/live/${handle}?path=${
      encodeURIComponent(path)
    }`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("error", () => {});
  });
}

/** The live readiness question (no upgrade): status and body. */
async function ask(stack: Stack, handle: string, path: string, token: string) {
  const res = await fetch(
    `${stack.url}/api/live/${handle}?path=${encodeURIComponent(path)}`,
    { headers: { authorization: `Bearer ${token}`, accept: "application/json" } },
  );
  return { status: res.status, body: await res.json() };
}

Deno.test("live view on two nodes: the camera's refusal on one node is the answer on the other", async () => {
  const n1 = await Stack.start();
  const cam = await startCamera({ digest: "viewer:cam-secret" });
  n1.defer(cam.close);
  let n2: Stack | null = null;
  try {
    const q = await n1.quickstart([cam.port]);
    await n1.agentFor(q);
    n2 = await Stack.start({ joining: n1, node: "node-2" });
    const handle = q.device.handles[cam.port];
    // node-2 sees the agent online (through the store) before the question means anything.
    await until(
      "node-2 sees the agent",
      async () => (await ask(n2!, handle, cam.path, q.apiToken)).status === 426,
    );

    // Without the camera's credentials: refused on node-1, and that is node-2's answer too.
    assertEquals(await upgrade(n1, handle, cam.path, q.apiToken), 502);
    assertEquals(await ask(n2, handle, cam.path, q.apiToken), {
      status: 502,
      body: {
        error: "camera_refused",
        message:
          "the camera asks for credentials the cloud does not hold (or refused them); set them on the device",
      },
    });
    // An admin sets them. A stream path the camera lacks: its 404, said on node-2.
    const put = await fetch(
      `${n1.url}/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ username: "viewer", password: "cam-secret" }),
      },
    );
    assertEquals(put.status, 200, await put.text());
    assertEquals(await upgrade(n1, handle, "/no-such-stream", q.apiToken), 502);
    assertEquals(await ask(n2, handle, "/no-such-stream", q.apiToken), {
      status: 502,
      body: {
        error: "camera_refused",
        message: "the camera answered DESCRIBE with 404 Not Found",
      },
    });
    // The real path plays now: no node says its old refusal any more; the wrong path's stays.
    assertEquals(await upgrade(n1, handle, cam.path, q.apiToken), 101);
    assertEquals((await ask(n2, handle, cam.path, q.apiToken)).status, 426);
    assertEquals((await ask(n2, handle, "/no-such-stream", q.apiToken)).status, 502);
  } finally {
    await n2?.stop();
    await n1.stop();
  }
});
