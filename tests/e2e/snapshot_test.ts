// The snapshot endpoint end to end: a real cloud and agent, the fake camera's Digest-protected
// snapshot URL fetched through the tunnel with the cloud-held credentials — from the camera's web
// handle and from its RTSP handle (the device's web port is used) — and every refusal as the
// operator sees it: no path and no ONVIF (501, says why), no web port (501), no credentials
// (502), not a JPEG (502), another tenant (403). A second cloud node on the same store serves
// the picture too, through the node that holds the agent. (A camera that speaks ONVIF: onvif_test.ts.)
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { FRAME, startCamera } from "../_fixtures/camera.ts";

Deno.test("snapshot.jpg: the camera's own snapshot URL through the tunnel, with held credentials", async (t) => {
  const stack = await Stack.start();
  const cam = await startCamera();
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port, 554]);
    await stack.agentFor(q);
    const web = q.device.handles[cam.port];
    const rtsp = q.device.handles[554];
    const get = async (handle: string, query: string, token = q.apiToken, base = stack.url) => {
      const r = await fetch(`${base}/api/handles/${handle}/snapshot.jpg${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get("content-type"), bytes };
    };
    const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
    const pic = "?path=/ISAPI/Streaming/channels/101/picture";

    await t.step("no credentials held: the camera's 401 is a clear 502", async () => {
      const r = await get(web, pic);
      assertEquals(r.status, 502);
      assertStringIncludes(json(r.bytes).message, "credentials the cloud does not hold");
    });

    await stack.holdCredentials(q, { username: "admin", password: "12345" });

    await t.step("the picture, from the web handle and from the RTSP handle", async () => {
      for (const h of [web, rtsp]) {
        const r = await get(h, pic);
        assertEquals([r.status, r.type], [200, "image/jpeg"], new TextDecoder().decode(r.bytes));
        assertEquals([...r.bytes], [...FRAME]);
      }
      const seen = cam.seen.filter((s) => s.path === "/ISAPI/Streaming/channels/101/picture");
      assert(seen.some((s) => (s.headers.authorization ?? "").startsWith("Digest ")), "Digest");
    });

    await t.step(
      "from a second node of the cloud: the agent it does not hold is reached",
      async () => {
        const n2 = await Stack.start({ joining: stack, node: "node-2" });
        try {
          const r = await get(web, pic, q.apiToken, n2.url);
          assertEquals([r.status, r.type], [200, "image/jpeg"], new TextDecoder().decode(r.bytes));
          assertEquals([...r.bytes], [...FRAME]);
        } finally {
          await n2.stop();
        }
      },
    );

    await t.step("refusals: no path, not a JPEG, bad path, another tenant", async () => {
      // No path, and a camera that does not speak ONVIF: 501 with both reasons.
      const none = await get(web, "");
      assertEquals(none.status, 501);
      assertEquals(
        json(none.bytes).message,
        "the camera's snapshot URL is not known: pass ?path= with its snapshot path (e.g. " +
          "/ISAPI/Streaming/channels/101/picture or /cgi-bin/snapshot.cgi); the camera did not " +
          "tell it over ONVIF: the camera has no ONVIF service at /onvif/device_service (HTTP 404)",
      );
      const html = await get(web, "?path=/");
      assertEquals([html.status, json(html.bytes).message], [
        502,
        "the camera's answer is not a JPEG picture",
      ]);
      // A video stream given as the snapshot URL (an MJPEG stream 100 s long): refused by its
      // head, not read for 8 MiB first.
      const started = Date.now();
      const mjpeg = await get(web, `?path=${encodeURIComponent("/mjpeg?frames=1000&gap=100")}`);
      assertEquals([mjpeg.status, json(mjpeg.bytes).message], [
        502,
        "the camera's answer is not a JPEG picture",
      ]);
      assert(Date.now() - started < 60_000, "answered before the stream ended");
      const bad = await get(web, "?path=nope");
      assertEquals([bad.status, json(bad.bytes).error], [400, "bad_request"]);
      const other = await stack.quickstart([80], "Other");
      const foreign = await get(web, pic, other.apiToken);
      assertEquals([foreign.status, json(foreign.bytes).message], [
        403,
        "handle does not belong to your tenant",
      ]);
    });

    await t.step("a device with no web port: 501 says so", async () => {
      const add = await fetch(`${stack.url}/api/sites/${q.siteId}/devices`, {
        method: "POST",
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ host: "127.0.0.1", ports: [8554], label: "RTSP only" }),
      });
      const dev = await add.json();
      assertEquals(add.status, 201, JSON.stringify(dev));
      const r = await get(dev.handles[8554], pic);
      assertEquals(r.status, 501);
      assertStringIncludes(json(r.bytes).message, "no web port");
    });
  } finally {
    await stack.stop();
  }
});
