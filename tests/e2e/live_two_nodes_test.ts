// The live view's "why" across two nodes. A browser never learns why its upgrade was refused,
// so the player asks the same URL without upgrading; behind a load balancer that question may
// reach the other node. Two real cloud processes on one store, the agent on node-1, GStreamer's
// camera behind Digest credentials. node-2 answers the question for an agent held by node-1 (it
// said "agent reconnecting": the app's own routes did not reach agents through their node), with
// the camera's own words for a refusal node-1 met (it knew only its own failures and said 426,
// "the camera did not answer"): without credentials, then for a path the camera lacks. Once the
// camera plays a path, its remembered refusal is forgotten on every node.
//
// And one camera session for the deployment: viewers of one camera entering both nodes are fed
// by the node that holds the agent, which plays the camera once (counted by a TCP proxy in front
// of it); what a viewer on the sibling got decodes with ffprobe; it keeps playing when the owner's
// own viewer leaves, and the camera session closes when the last viewer anywhere leaves. When the
// owner is killed, a sibling's viewer is told why, and plays again through the agent's new node.
// A clip of the camera's recording asked of the sibling is played through the agent's node; one
// of the live picture asked of the sibling joins the deployment's one camera session.
// @ts-types="@types/ws"
import WebSocket from "ws";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { agentUpOn, Stack } from "../_fixtures/stack.ts";
import { metric, whileFrozen } from "../_fixtures/two_nodes.ts";
import { OWNER_GONE } from "../../src/cloud/interrelay/live_feed.ts";
import { countingProxy, probeFile, replayProxy, startCamera } from "../_fixtures/rtsp.ts";
import { ONVIF_REPLAY_PATH } from "../_fixtures/onvif_service.ts";
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
    await n1.holdCredentials(q, { username: "viewer", password: "cam-secret" });
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

/** A live viewer: the init message, the binary messages (init segment, then pictures). */
function watch(stack: Stack, handle: string, path: string, token: string) {
  const url = `${stack.url.replace(/^http/, "ws")}/api/live/${handle}?path=${
    encodeURIComponent(path)
  }`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const binary: Uint8Array[] = [];
  let init: { codec: string; width: number } | null = null;
  let closed: string | null = null;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      const m = JSON.parse(data.toString());
      if (m.type === "init") init = m;
      return;
    }
    binary.push(new Uint8Array(data));
  });
  ws.on("close", (_code: number, reason: Buffer) => closed = reason.toString());
  ws.on("error", () => {});
  return {
    binary,
    init: () => init,
    closed: () => closed,
    close: () => ws.close(),
  };
}

/**
 * Two nodes on one store, GStreamer's camera behind a connection-counting proxy, a device for it
 * (the quickstart's, not yet enrolled); `stop` ends it all.
 */
async function cameraOnTwoNodes() {
  const n1 = await Stack.start();
  const cam = await startCamera();
  const proxy = countingProxy(cam.port);
  n1.defer(cam.close);
  n1.defer(proxy.close);
  try {
    const q = await n1.quickstart([proxy.port]);
    const n2 = await Stack.start({ joining: n1, node: "node-2" });
    const stop = async () => {
      await n2.stop();
      await n1.stop();
    };
    return { n1, n2, cam, proxy, q, handle: q.device.handles[proxy.port], stop };
  } catch (e) {
    await n1.stop();
    throw e;
  }
}

Deno.test("live view on two nodes: one camera session feeds the viewers of both", async () => {
  const { n1, n2, cam, proxy, q, handle, stop } = await cameraOnTwoNodes();
  try {
    await n1.agentFor(q);
    await until(
      "node-2 sees the agent",
      async () => (await ask(n2, handle, cam.path, q.apiToken)).status === 426,
    );

    // First on the sibling, then on the agent's own node: one RTSP session at the camera.
    const onSibling = watch(n2, handle, cam.path, q.apiToken);
    await until("pictures on node-2", () => onSibling.binary.length >= 10);
    const onOwner = watch(n1, handle, cam.path, q.apiToken);
    await until("pictures on node-1", () => onOwner.binary.length >= 10);
    assertEquals(proxy.accepted(), 1, "one camera session for viewers on two nodes");
    // What ops see: one bridge open, out of node-2 and into node-1.
    const bridges = (n: Stack, side: string) =>
      metric(n, "connector_interrelay_bridges_open", `{side="${side}"}`);
    assertEquals([await bridges(n2, "out"), await bridges(n1, "in")], [1, 1]);
    assertEquals(onSibling.init()?.codec, onOwner.init()?.codec);

    // A clip of the live picture asked of the sibling joins its viewers' session there: still
    // one session at the camera, and a file that decodes whole.
    const recorded = await fetch(
      `${n2.url}/api/live/${handle}/record.mp4?path=${encodeURIComponent(cam.path)}&seconds=3`,
      { headers: { authorization: `Bearer ${q.apiToken}` } },
    );
    assertEquals(recorded.status, 200);
    const clipFile = await Deno.makeTempFile({ suffix: ".mp4" });
    n1.defer(() => Deno.remove(clipFile));
    await Deno.writeFile(clipFile, new Uint8Array(await recorded.arrayBuffer()));
    const clip = await probeFile(clipFile);
    assertEquals([clip.codec, clip.width, clip.decodeErrors], ["h264", 320, ""]);
    assert(
      clip.lastPts! - clip.firstPts! >= 2 && clip.lastPts! - clip.firstPts! < 3,
      JSON.stringify(clip),
    );
    assertEquals(proxy.accepted(), 1, "the clip joined the one camera session");

    // What the sibling's viewer got is a stream a player decodes.
    const file = await Deno.makeTempFile({ suffix: ".mp4" });
    n1.defer(() => Deno.remove(file));
    const all = onSibling.binary.slice();
    const bytes = new Uint8Array(all.reduce((n, b) => n + b.byteLength, 0));
    let off = 0;
    for (const b of all) bytes.set(b, (off += b.byteLength) - b.byteLength);
    await Deno.writeFile(file, bytes);
    const probe = await new Deno.Command("ffprobe", {
      args: ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries"]
        .concat(["stream=codec_name,width,nb_read_frames", "-of", "json", file]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stream = JSON.parse(new TextDecoder().decode(probe.stdout)).streams?.[0];
    assertEquals(stream?.codec_name, "h264", new TextDecoder().decode(probe.stderr));
    assert(Number(stream.nb_read_frames) >= 5, `frames decoded: ${stream.nb_read_frames}`);

    // The owner's own viewer leaves: the sibling's keeps playing on the same session.
    onOwner.close();
    const had = onSibling.binary.length;
    await until("more pictures on node-2", () => onSibling.binary.length >= had + 10);
    assertEquals(onSibling.closed(), null);
    assertEquals(proxy.accepted(), 1);
    // The last viewer anywhere leaves: the camera session closes.
    onSibling.close();
    await until("the camera session closed", () => proxy.open() === 0, 15_000);
    await until(
      "no bridge open",
      async () => await bridges(n2, "out") + await bridges(n1, "in") === 0,
    );
  } finally {
    await stop();
  }
});

Deno.test("live view on two nodes: the node playing the camera killed, a sibling's viewer says why and plays again", async () => {
  const { n1, n2, cam, proxy, q, handle, stop } = await cameraOnTwoNodes();
  try {
    const e = await n1.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    // The agent knows both nodes and comes up on node-1.
    const endpoints = `127.0.0.1:${n1.ports.control},127.0.0.1:${n2.ports.control}`;
    const agent = await whileFrozen(
      n2,
      () => n1.runAgent(e.state, true, { NC_CONTROL_ENDPOINT: endpoints }),
    );
    await until(
      "node-2 sees the agent",
      async () => (await ask(n2, handle, cam.path, q.apiToken)).status === 426,
    );
    const viewer = watch(n2, handle, cam.path, q.apiToken);
    await until("pictures on node-2 from node-1", () => viewer.binary.length >= 5);

    const killedAt = Date.now();
    await n1.cloud.stop("SIGKILL");
    await until("the viewer told why", () => viewer.closed() !== null, 15_000);
    assertEquals(viewer.closed(), OWNER_GONE);
    // The agent comes back on node-2; a player's next attempt plays there.
    await agentUpOn(agent, n2.node, killedAt, 60_000);
    await until(
      "node-2 ready to play",
      async () => (await ask(n2, handle, cam.path, q.apiToken)).status === 426,
    );
    const again = watch(n2, handle, cam.path, q.apiToken);
    await until("pictures on node-2 again", () => again.binary.length >= 5);
    assertEquals(proxy.accepted(), 2, "a session through node-1, then one through node-2");
    again.close();
  } finally {
    await stop();
  }
});

Deno.test("live view on two nodes: a clip of the camera's recording saved through the sibling, played through the agent's node", async () => {
  const n1 = await Stack.start();
  const cam = await startCamera();
  const replaying = replayProxy(cam.port, ONVIF_REPLAY_PATH, cam.path);
  n1.defer(cam.close);
  n1.defer(replaying.close);
  let n2: Stack | null = null;
  try {
    const q = await n1.quickstart([replaying.port]);
    await n1.agentFor(q);
    n2 = await Stack.start({ joining: n1, node: "node-2" });
    const handle = q.device.handles[replaying.port];
    await until(
      "node-2 sees the agent",
      async () => (await ask(n2!, handle, cam.path, q.apiToken)).status === 426,
    );
    // 3 s of the recording from 18:00 on 5 December, asked of node-2 (the agent is node-1's).
    const res = await fetch(
      `${n2.url}/api/live/${handle}/clip.mp4?path=${
        encodeURIComponent(ONVIF_REPLAY_PATH)
      }&from=2026-12-05T18:00:00Z&seconds=3`,
      { headers: { authorization: `Bearer ${q.apiToken}` } },
    );
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "video/mp4");
    assert(
      /^attachment; filename="127\.0\.0\.1-\d+-20261205T180000Z-3s\.mp4"$/.test(
        res.headers.get("content-disposition") ?? "",
      ),
      res.headers.get("content-disposition") ?? "",
    );
    const file = await Deno.makeTempFile({ suffix: ".mp4" });
    n1.defer(() => Deno.remove(file));
    await Deno.writeFile(file, new Uint8Array(await res.arrayBuffer()));
    const probe = await probeFile(file);
    assertEquals([probe.codec, probe.width, probe.decodeErrors], ["h264", 320, ""]);
    assert(
      probe.lastPts! - probe.firstPts! >= 2 && probe.lastPts! - probe.firstPts! < 3,
      JSON.stringify(probe),
    );
    // The camera was asked for its recording from that instant, as ONVIF replay asks, as fast
    // as it can send it (this one plays it in real time: it did not answer Rate-Control: no).
    const play = replaying.requests.find((r) => r.method === "PLAY");
    assertEquals(
      [play?.require, play?.range, play?.rateControl],
      ["onvif-replay", "clock=20261205T180000Z-", "no"],
    );
    // Through the bridge to the agent's node; audited where every node reads it.
    assert(
      await metric(n2, "connector_interrelay_bridge_opens_total", `{side="out"}`) > 0,
      "node-2 reached the agent through node-1",
    );
    const audit = await n1.api("GET", "/api/audit?action=live.clip", q.apiToken);
    assertEquals(
      (audit.json.items as { detail: Record<string, unknown> }[]).map((e) => [
        e.detail.recordingFrom,
        e.detail.seconds,
        e.detail.fast,
      ]),
      [["2026-12-05T18:00:00.000Z", 3, false]],
    );
  } finally {
    await n2?.stop();
    await n1.stop();
  }
});
