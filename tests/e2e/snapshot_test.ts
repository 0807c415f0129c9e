// The snapshot endpoint end to end: a real cloud and agent, the fake camera's Digest-protected
// snapshot URL fetched through the tunnel with the cloud-held credentials — from the camera's web
// handle and from its RTSP handle (the device's web port is used) — and every refusal as the
// operator sees it: no path and no ONVIF (501, says why), no web port (501), no credentials
// (502), not a JPEG (502), another tenant (403). A second cloud node on the same store serves
// the picture too, through the node that holds the agent. A camera that speaks ONVIF, its clock
// an hour off, tells its stream path (remembered for its RTSP port, used by the next RTSP URL)
// and its snapshot URL (used when no path is given), once the cloud holds its credentials.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { FRAME, startCamera } from "../_fixtures/camera.ts";
import { ONVIF_SNAPSHOT_PATH, ONVIF_STREAM_PATH } from "../_fixtures/onvif_service.ts";

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

Deno.test("ONVIF: the camera tells its stream path (remembered for its RTSP port) and its snapshot URL", async (t) => {
  const stack = await Stack.start();
  // A camera nobody set the clock on: an hour behind (its WS-Security window is 5 s).
  const cam = await startCamera({ onvif: { clockOffsetMs: -3_600_000 } });
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port, 554]);
    await stack.agentFor(q);
    const rtsp = q.device.handles[554];
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, json: await r.json() }));

    await t.step("without credentials the camera's refusal is said", async () => {
      const r = await call("POST", `/api/handles/${rtsp}/onvif`);
      assertEquals(r.status, 502, JSON.stringify(r.json));
      assertEquals(
        r.json.message,
        "the camera did not tell where its video is over ONVIF: the camera wants credentials " +
          "for trt:GetProfiles: save its user name and password with the device's Credentials " +
          "button",
      );
    });

    const hold = (password: string) => stack.holdCredentials(q, { username: "admin", password });
    await t.step("wrong credentials: the camera's refusal says what to check", async () => {
      await hold("not-the-password");
      const r = await call("POST", `/api/handles/${rtsp}/onvif`);
      assertEquals(r.status, 502, JSON.stringify(r.json));
      assertEquals(
        r.json.message,
        "the camera did not tell where its video is over ONVIF: the camera refused the " +
          "credentials the cloud holds for trt:GetProfiles (Sender not Authorized): check the " +
          "user name and password, and that the camera has that user for ONVIF (many keep " +
          "ONVIF users apart from web users)",
      );
    });
    await hold("12345");

    await t.step("the stream path: told, remembered, in the next RTSP URL", async () => {
      const r = await call("POST", `/api/handles/${rtsp}/onvif`);
      assertEquals(r.status, 200, JSON.stringify(r.json));
      assertEquals(r.json, {
        profile: "Profile_1",
        streamPath: ONVIF_STREAM_PATH,
        snapshotPath: ONVIF_SNAPSHOT_PATH,
        remembered: true,
      });
      const listed = await call("GET", `/api/sites/${q.siteId}/devices`);
      assertEquals(listed.json.items[0].streamPaths, { 554: ONVIF_STREAM_PATH });
      const minted = await call("POST", `/api/handles/${rtsp}/rtsp-url`, {});
      assertEquals(minted.status, 201);
      assert((minted.json.url as string).endsWith(ONVIF_STREAM_PATH), minted.json.url);
      // The questions went to the camera's web port; none named its LAN address.
      const asked = cam.seen.filter((x) => x.path.startsWith("/onvif/"));
      assertEquals(
        [...new Set(asked.map((x) => x.path))].sort(),
        ["/onvif/Media", "/onvif/device_service"],
      );
      const audit = await call("GET", "/api/audit?action=device.onvif");
      assertEquals(audit.json.items[0].detail.streamPath, ONVIF_STREAM_PATH);
    });

    await t.step("the snapshot without a path: the URL ONVIF gives, through Digest", async () => {
      const r = await fetch(`${stack.url}/api/handles/${rtsp}/snapshot.jpg`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      const bytes = new Uint8Array(await r.arrayBuffer());
      assertEquals([r.status, r.headers.get("content-type")], [200, "image/jpeg"]);
      assertEquals([...bytes], [...FRAME]);
      const got = cam.seen.filter((x) => x.path === ONVIF_SNAPSHOT_PATH);
      assert(got.some((x) => (x.headers.authorization ?? "").startsWith("Digest ")), "Digest");
    });

    await t.step("another tenant's token: 403, nothing asked", async () => {
      const before = cam.seen.length;
      const other = await stack.quickstart([80], "Other");
      const r = await fetch(`${stack.url}/api/handles/${rtsp}/onvif`, {
        method: "POST",
        headers: { authorization: `Bearer ${other.apiToken}` },
      });
      assertEquals(r.status, 403);
      await r.body?.cancel();
      assertEquals(cam.seen.length, before);
    });
  } finally {
    await stack.stop();
  }
});
