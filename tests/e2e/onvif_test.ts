// ONVIF end to end: a real cloud and agent, the fake camera's ONVIF services through the tunnel.
// One camera, its clock an hour off and its ONVIF on another port than its web pages, tells its
// stream path (remembered for its RTSP port, used by
// the next RTSP URL), its second profile's (the sub-stream the grid plays) and its snapshot URL (used when no path is given) once the cloud holds its
// credentials; without them, or with wrong ones, the refusal says what to do; another tenant gets
// 403 and nothing reaches the camera. A site-wide ask goes to every RTSP port without a stream
// path: one camera tells, one wants credentials, one device has no web port, each said; the
// site's one password set for every device without credentials, asked again, only the ones still
// unknown, and the second camera tells; the CLI's table shows the RTSP URL with the path; a
// viewer may not, another tenant sees no such site.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { run, Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { FRAME, startCamera } from "../_fixtures/camera.ts";
import {
  ONVIF_IDENTITY,
  ONVIF_SNAPSHOT_PATH,
  ONVIF_STREAM_PATH,
  ONVIF_SUB_STREAM_PATH,
  type OnvifOptions,
} from "../_fixtures/onvif_service.ts";

Deno.test("ONVIF: the camera tells its stream path (remembered for its RTSP port) and its snapshot URL", async (t) => {
  const stack = await Stack.start();
  // A camera nobody set the clock on: an hour behind (its WS-Security window is 5 s). Its web
  // pages are on one port (marked HTTP, tried first) and its ONVIF service on another, as
  // Reolink's are on 80 and 8000.
  const onvif: OnvifOptions = { clockOffsetMs: -3_600_000 };
  const cam = await startCamera({ onvif });
  const web = await startCamera();
  stack.defer(cam.close);
  stack.defer(web.close);
  try {
    const q = await stack.quickstart([cam.port, web.port, 554]);
    await stack.agentFor(q);
    const rtsp = q.device.handles[554];
    const call = (method: string, path: string, body?: unknown) =>
      stack.api(method, path, q.apiToken, body);
    const marked = await call("PATCH", `/api/devices/${q.device.deviceId}`, {
      protocols: { [web.port]: "http" },
    });
    assertEquals(marked.status, 200, JSON.stringify(marked.json));

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
        snapshotPort: 80,
        subStreamPath: ONVIF_SUB_STREAM_PATH,
        identity: ONVIF_IDENTITY,
        remembered: true,
      });
      const listed = await call("GET", `/api/sites/${q.siteId}/devices`);
      assertEquals(listed.json.items[0].streamPaths, { 554: ONVIF_STREAM_PATH });
      // What it said it is is kept on the device, and a site's devices are found by firmware.
      const { manufacturer, model, firmware } = listed.json.items[0];
      assertEquals({ manufacturer, model, firmware }, ONVIF_IDENTITY);
      const old = await call("GET", `/api/sites/${q.siteId}/devices?q=V5.7.3`);
      assertEquals(old.json.items.length, 1, JSON.stringify(old.json));
      // The second profile, the sub-stream, is remembered as what the grid plays.
      assertEquals(listed.json.items[0].subStreamPaths, { 554: ONVIF_SUB_STREAM_PATH });
      const minted = await call("POST", `/api/handles/${rtsp}/rtsp-url`, {});
      assertEquals(minted.status, 201);
      assert((minted.json.url as string).endsWith(ONVIF_STREAM_PATH), minted.json.url);
      // The web port was asked first and has no ONVIF; the questions went on to the other port,
      // and none named the camera's LAN address.
      assertEquals([...new Set(web.seen.map((x) => x.path))], ["/onvif/device_service"]);
      const asked = cam.seen.filter((x) => x.path.startsWith("/onvif/"));
      assertEquals(
        [...new Set(asked.map((x) => x.path))].sort(),
        ["/onvif/Media", "/onvif/device_service"],
      );
      const audit = await call("GET", "/api/audit?action=device.onvif");
      assertEquals(audit.json.items[0].detail.streamPath, ONVIF_STREAM_PATH);
      assertEquals(audit.json.items[0].detail.subStreamPath, ONVIF_SUB_STREAM_PATH);
    });

    await t.step(
      "the sub-stream typed in the RTSP dialog is remembered; an empty one forgets it",
      async () => {
        const sub = async () =>
          (await call("GET", `/api/sites/${q.siteId}/devices`)).json.items[0].subStreamPaths;
        const typed = await call("POST", `/api/handles/${rtsp}/rtsp-url`, {
          path: ONVIF_STREAM_PATH,
          subPath: "/Streaming/Channels/103",
        });
        assertEquals(typed.status, 201, JSON.stringify(typed.json));
        assert(
          (typed.json.url as string).endsWith(ONVIF_STREAM_PATH),
          "the URL is the main stream's",
        );
        assertEquals(await sub(), { 554: "/Streaming/Channels/103" });
        const bad = await call("POST", `/api/handles/${rtsp}/rtsp-url`, { subPath: "/a#b" });
        assertEquals([bad.status, bad.json.error], [400, "bad_request"]);
        assertEquals(await sub(), { 554: "/Streaming/Channels/103" });
        await call("POST", `/api/handles/${rtsp}/rtsp-url`, {
          path: ONVIF_STREAM_PATH,
          subPath: "",
        });
        assertEquals(await sub(), {});
        const patched = await call("PATCH", `/api/devices/${q.device.deviceId}`, {
          subStreamPaths: { 554: ONVIF_SUB_STREAM_PATH },
        });
        assertEquals(patched.json.subStreamPaths, { 554: ONVIF_SUB_STREAM_PATH });
        const stray = await call("PATCH", `/api/devices/${q.device.deviceId}`, {
          subStreamPaths: { 8554: "/x" },
        });
        assertEquals(
          [stray.status, stray.json.message],
          [400, "subStreamPaths: port 8554 is not one of the device's ports"],
        );
      },
    );

    await t.step("the snapshot without a path: the URL ONVIF gives, through Digest", async () => {
      const r = await fetch(`${stack.url}/api/handles/${rtsp}/snapshot.jpg`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      const bytes = new Uint8Array(await r.arrayBuffer());
      assertEquals([r.status, r.headers.get("content-type")], [200, "image/jpeg"]);
      assertEquals([...bytes], [...FRAME]);
      // The picture from the camera's web port, where ONVIF's URI points (on port 80 as a rule).
      const got = web.seen.filter((x) => x.path === ONVIF_SNAPSHOT_PATH);
      assert(got.some((x) => (x.headers.authorization ?? "").startsWith("Digest ")), "Digest");
      assertEquals(cam.seen.filter((x) => x.path === ONVIF_SNAPSHOT_PATH).length, 0);
    });

    await t.step(
      "a snapshot URI naming an allowlisted port: the picture comes from it",
      async () => {
        onvif.snapshotPort = cam.port;
        const before = web.seen.filter((x) => x.path === ONVIF_SNAPSHOT_PATH).length;
        const r = await fetch(`${stack.url}/api/handles/${rtsp}/snapshot.jpg`, {
          headers: { authorization: `Bearer ${q.apiToken}` },
        });
        assertEquals([r.status, [...new Uint8Array(await r.arrayBuffer())]], [200, [...FRAME]]);
        assert(cam.seen.some((x) => x.path === ONVIF_SNAPSHOT_PATH), "asked on the port named");
        assertEquals(web.seen.filter((x) => x.path === ONVIF_SNAPSHOT_PATH).length, before);
      },
    );

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

Deno.test("ONVIF, site-wide: every RTSP port without a stream path is asked; each camera's answer or reason", async () => {
  const stack = await Stack.start();
  const told = await startCamera({ onvif: {} });
  // One profile only: its main stream is what the grid plays.
  const locked = await startCamera({ onvif: { subStreamPath: null }, hostname: "127.0.0.2" });
  stack.defer(told.close);
  stack.defer(locked.close);
  try {
    const q = await stack.quickstart([told.port, 554], "Cameras");
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const call = (method: string, path: string, body?: unknown, token = q.apiToken) =>
      stack.api(method, path, token, body);
    for (
      const dev of [{ host: "127.0.0.2", ports: [locked.port, 554] }, {
        host: "127.0.0.3",
        ports: [8554],
      }]
    ) {
      const r = await call("POST", `/api/sites/${q.siteId}/devices`, {
        ...dev,
        protocols: Object.fromEntries(
          dev.ports.filter((p) => p !== locked.port).map((p) => [p, "rtsp"]),
        ),
      });
      assertEquals(r.status, 201, JSON.stringify(r.json));
    }
    const ask = await call("POST", `/api/sites/${q.siteId}/onvif`, {});
    assertEquals(ask.status, 200, JSON.stringify(ask.json));
    assertEquals([ask.json.asked, ask.json.found, ask.json.remaining], [3, 1, 0]);
    const by = (host: string) =>
      ask.json.items.find((i: { host: string }) => i.host === host) as {
        port: number;
        streamPath?: string;
        error?: string;
      };
    assertEquals(by("127.0.0.1").streamPath, ONVIF_STREAM_PATH);
    assertEquals(by("127.0.0.1").port, 554);
    assert(
      by("127.0.0.2").error?.startsWith("the camera wants credentials"),
      by("127.0.0.2").error,
    );
    assertEquals(
      by("127.0.0.3").error,
      "the device has no web port allowlisted, so its ONVIF service cannot be reached",
    );
    // The site's cameras share one password: set once for every device without credentials
    // (the first keeps its own), then asked again: only the two still unknown, one now tells.
    const same = await call("PUT", `/api/sites/${q.siteId}/credentials`, {
      username: "admin",
      password: "12345",
    });
    assertEquals(same.json, { siteId: q.siteId, set: 2, kept: 1 });
    const again = await call("POST", `/api/sites/${q.siteId}/onvif`, {});
    assertEquals([again.json.asked, again.json.found], [2, 1]);
    assertEquals(
      again.json.items.map((i: { host: string; streamPath?: string }) => [i.host, i.streamPath]),
      [["127.0.0.2", ONVIF_STREAM_PATH], ["127.0.0.3", undefined]],
    );
    const listed = await call("GET", `/api/sites/${q.siteId}/devices?limit=10`);
    const subs = Object.fromEntries(
      listed.json.items.map((d: { host: string; subStreamPaths: unknown }) => [
        d.host,
        d.subStreamPaths,
      ]),
    );
    assertEquals(subs, {
      "127.0.0.1": { 554: ONVIF_SUB_STREAM_PATH },
      "127.0.0.2": { 554: ONVIF_STREAM_PATH },
      "127.0.0.3": {},
    });
    // Asked once more: only the device that cannot be asked; the one-profile camera is done.
    const third = await call("POST", `/api/sites/${q.siteId}/onvif`, {});
    assertEquals(third.json.items.map((i: { host: string }) => i.host), ["127.0.0.3"]);
    // The operator's CLI prints the URL to paste into a player, with the path the camera gave.
    const session = await stack.cliSession(q);
    const st = await run(["tunnel", "status", "--cloud", stack.url], { NC_TOKEN: session.token });
    assertEquals(st.code, 0, st.stderr);
    assert(st.stdout.includes(`rtsp://${q.device.loopbackIp}${ONVIF_STREAM_PATH}`), st.stdout);
    // And the sub-stream's beside it; not for the one-profile camera, whose sub is its main.
    const sub = `(sub-stream rtsp://${q.device.loopbackIp}${ONVIF_SUB_STREAM_PATH})`;
    assertStringIncludes(st.stdout, sub);
    assertEquals(st.stdout.split("sub-stream").length, 2, st.stdout);
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const { cookie, csrf } = await stack.session(viewer.email, viewer.password);
    const refused = await fetch(`${stack.url}/api/sites/${q.siteId}/onvif`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
      body: "{}",
    });
    assertEquals(
      [refused.status, (await refused.json()).message],
      [403, "this needs the admin role; you are viewer"],
    );
    const other = await stack.quickstart([80], "Other");
    const foreign = await call("POST", `/api/sites/${q.siteId}/onvif`, {}, other.apiToken);
    assertEquals([foreign.status, foreign.json.message], [404, "no such site"]);
  } finally {
    await stack.stop();
  }
});

Deno.test("ONVIF: a camera that takes a question and never answers: 502 within the call's deadline; the agent lets the connection go", async () => {
  const cam = await startCamera({ onvif: { hang: ["GetProfiles"] } });
  const stack = await Stack.start();
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port, 554]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    const agent = await stack.runAgent(e.state, true, { NC_LOG_LEVEL: "debug" });
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const r = await stack.api("POST", `/api/handles/${q.device.handles[554]}/onvif`, q.apiToken);
    assertEquals(r.status, 502, JSON.stringify(r.json));
    assertEquals(
      r.json.message,
      "the camera did not tell where its video is over ONVIF: the camera did not answer within 20 s",
    );
    // The cloud closed the tunnel; the agent closed its connection to the camera rather than
    // wait on a device that will never answer (every tunnel it opened is closed).
    await until(
      "every tunnel closed at the agent",
      () => agent.count(/"tunnel closed"/) === agent.count(/"tunnel open"/),
      10_000,
      50,
    );
    assert(agent.count(/"tunnel open"/) >= 3, agent.lines.join("\n"));
  } finally {
    await stack.stop();
  }
});
