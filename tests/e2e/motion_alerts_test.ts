// Motion alerts end to end: the real cloud and agent, a camera whose ONVIF events are driven by
// the test. Switched on for a camera whose credentials the cloud does not hold yet, the device
// says why it is not working; with them, the cloud subscribes through the tunnel, and motion the
// camera reports becomes one `camera.motion` event — in the events API, on the site page, on an
// open Events page in Chromium with its live view link and the camera's picture of that moment,
// signed to a webhook, as an email with the picture attached — and motion again
// within a minute no second one; tampering its own `camera.tamper`. Another tenant cannot read
// the device's status; switched off, the cloud unsubscribes. On two nodes one watches, and both
// say how (the store holds it).
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { FRAME, startCamera } from "../_fixtures/camera.ts";
import { BAD_PICTURE_LINK, NO_PICTURE } from "../../src/cloud/api/event_snapshots.ts";
import { CameraEvents } from "../_fixtures/onvif_service.ts";
import { Receiver } from "../_fixtures/webhook_receiver.ts";
import { MailServer } from "../_fixtures/smtp.ts";
import { closeContext, launchBrowser, signedInContext } from "../_fixtures/browser.ts";
import { until, untilValue } from "../_fixtures/until.ts";
import { twoNodes } from "../_fixtures/two_nodes.ts";
import { MOTION_SHARD_LOCKS, shardOf, shardsOf } from "../../src/cloud/events/motion_shards.ts";
import { MongoClient } from "mongodb";

/** The node holding each motion shard's lock in the store at `url` (a MongoDB URI), by shard. */
async function shardHolders(url: string): Promise<string[]> {
  const client = new MongoClient(url);
  try {
    const locks = await client.db().collection("locks").find({
      _id: { $in: MOTION_SHARD_LOCKS.map((l) => `lock:${l}`) as never[] },
    }).toArray();
    return MOTION_SHARD_LOCKS.map((l) =>
      String(locks.find((x) => x._id === (`lock:${l}` as never))?.owner ?? "").split("/")[0]
    );
  } finally {
    await client.close();
  }
}

/** The tenant's events of `type` once there is one (within 20 s), newest first. */
function eventsOf(stack: Stack, token: string, type: string) {
  return untilValue(
    `a ${type} event`,
    async () => {
      const list = await stack.api("GET", "/api/events", token);
      const found = list.json.items.filter((e: { type: string }) => e.type === type);
      return found.length ? found : null;
    },
    20_000,
    100,
  );
}

Deno.test("motion alerts: the camera's ONVIF motion becomes one camera.motion event (API, site page, webhook); off unsubscribes", async () => {
  const events = new CameraEvents();
  const cam = await startCamera({ onvif: { events } });
  const mail = await MailServer.start();
  const stack = await Stack.start({
    cloudArgs: ["--allow-loopback-webhooks"],
    cloudEnv: { NC_SMTP_URL: mail.url() },
  });
  const receiver = new Receiver();
  stack.defer(cam.close);
  stack.defer(() => receiver.close());
  stack.defer(() => mail.close());
  try {
    const q = await stack.quickstart([cam.port, 554], "Cameras");
    await stack.agentFor(q);
    const call = (method: string, path: string, body?: unknown, token = q.apiToken) =>
      stack.api(method, path, token, body);
    const hook = await call("POST", "/api/webhooks", {
      url: receiver.url,
      events: ["camera.motion"],
    });
    assertEquals(hook.status, 201, JSON.stringify(hook.json));
    // And as email, to the person on call.
    const emailHook = await call("POST", "/api/webhooks", {
      url: "mailto:oncall@example.com",
      events: ["camera.motion"],
    });
    assertEquals(emailHook.status, 201, JSON.stringify(emailHook.json));
    const device = `/api/devices/${q.device.deviceId}`;
    const status = async () => (await call("GET", `${device}/motion`)).json;

    // On, but the cloud holds no credentials: the device says why, in the camera's words.
    const on = await call("PATCH", device, { motionAlerts: true });
    assertEquals([on.status, on.json.motionAlerts], [200, true]);
    const failing = await untilValue(
      "the watcher's failure",
      async () => {
        const s = await status();
        return s.status?.state === "failing" ? s : null;
      },
      20_000,
      100,
    );
    assertStringIncludes(failing.status.error, "the camera wants credentials");
    assertEquals(events.counts.subscribed, 0);

    // With credentials (switched off and on, so it tries at once): subscribed.
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    assertEquals((await call("PATCH", device, { motionAlerts: false })).status, 200);
    assertEquals((await call("PATCH", device, { motionAlerts: true })).status, 200);
    await until(
      "subscribed",
      async () => (await status()).status?.state === "watching",
      20_000,
      100,
    );
    assertEquals(events.counts.subscribed, 1);
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const { cookie, csrf } = await stack.session(viewer.email, viewer.password);
    const sitePage = await fetch(`${stack.url}/sites/${q.siteId}`, { headers: { cookie } });
    assertStringIncludes(await sitePage.text(), "motion alerts on (subscribed)");

    // The viewer's Events page is open when it happens (it follows the tenant's events live).
    const browser = await launchBrowser();
    stack.defer(() => browser.close());
    const context = await signedInContext(browser, stack.url, cookie);
    const page = await context.newPage();
    await page.goto(`${stack.url}/events`);
    // And one on the camera alerts of one kind only: tampering.
    const tamperPage = await context.newPage();
    await tamperPage.goto(`${stack.url}/events?type=camera.tamper`);

    // Motion: one event, with the device and the camera's topic, delivered signed.
    events.motion(true);
    // It appears on the open page with its link to the live view.
    await page.waitForSelector(
      `#event-list tr[data-type="camera.motion"] a[href="/live/${q.device.handles[554]}"]`,
    );
    // And with what the camera saw, which the viewer's browser loads.
    const src = await page.getAttribute(
      `#event-list tr[data-type="camera.motion"] img[alt="What the camera saw"]`,
      "src",
    );
    assert(src?.startsWith("/api/event-snapshots/"), String(src));
    const loaded = await page.evaluate(async (url: string) => {
      const r = await fetch(url);
      return [r.status, r.headers.get("content-type"), [...new Uint8Array(await r.arrayBuffer())]];
    }, src!);
    assertEquals(loaded, [200, "image/jpeg", [...FRAME]]);
    const got = await eventsOf(stack, q.apiToken, "camera.motion");
    assertEquals(got.length, 1);
    assertEquals(got[0].subject.deviceId, q.device.deviceId);
    assertEquals(got[0].subject.siteId, q.siteId);
    assertEquals(got[0].detail.topic, "tns1:RuleEngine/CellMotionDetector/Motion");
    // The link an operator follows to watch it: the camera's RTSP port's live view.
    assertEquals(got[0].detail.liveUrl, `${stack.url}/live/${q.device.handles[554]}`);
    // The camera's picture at that moment, kept for the tenant: the API token reads it, another
    // tenant's does not, an id that names nothing is no picture.
    const picture = `/api/event-snapshots/${got[0].detail.snapshot}.jpg`;
    assertEquals(src, picture);
    // Its link for a webhook receiver opens it without signing in; altered, it opens nothing.
    const link = got[0].detail.snapshotUrl as string;
    assert(link.startsWith(`${stack.url}${picture}?t=${q.tenantId}&exp=`), link);
    const open = await fetch(link);
    assertEquals([open.status, open.headers.get("content-type")], [200, "image/jpeg"]);
    assertEquals(new Uint8Array(await open.arrayBuffer()), FRAME);
    const altered = await fetch(link.replace(/exp=(\d+)/, (_m, n) => `exp=${Number(n) + 60}`));
    assertEquals([altered.status, (await altered.json()).message], [403, BAD_PICTURE_LINK]);
    const jpeg = await fetch(`${stack.url}${picture}`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(jpeg.headers.get("content-type"), "image/jpeg");
    assertEquals(new Uint8Array(await jpeg.arrayBuffer()), FRAME);
    assert((await status()).status.lastMotionAt > 0);
    const delivered = await untilValue(
      "the webhook",
      () => receiver.some("camera.motion"),
      20_000,
      100,
    );
    // The console's Events page links it to the live view.
    const inbox = await (await fetch(`${stack.url}/events`, { headers: { cookie } })).text();
    assertStringIncludes(inbox, "Motion detected");
    assertStringIncludes(inbox, `<a href="/live/${q.device.handles[554]}" target="_blank"`);
    assertEquals(JSON.parse(delivered[0].body).subject.deviceId, q.device.deviceId);
    assertEquals(JSON.parse(delivered[0].body).detail.snapshotUrl, link);
    assert(delivered[0].signature?.startsWith("t="), delivered[0].signature ?? "unsigned");
    // The email carries the picture itself, shown in the message, and the live view's link.
    const [email] = await untilValue(
      "the motion email",
      () => Promise.resolve(mail.withSubject("Motion detected: ")),
      20_000,
      100,
    );
    assertEquals(email.to, ["oncall@example.com"]);
    assertEquals(email.attachments.map((a) => [a.type, a.cid]), [["image/jpeg", "<picture>"]]);
    assertEquals(MailServer.bytes(email.attachments[0]), FRAME);
    assertStringIncludes(email.html!, 'src="cid:picture"');
    assertStringIncludes(email.text!, `Watch live: ${stack.url}/live/${q.device.handles[554]}`);

    // Motion ending and starting again within a minute: read by the cloud, no second event.
    const first = (await status()).status.lastMotionAt;
    events.motion(false);
    events.motion(true);
    await until(
      "the second start read",
      async () => {
        return (await status()).status.lastMotionAt > first;
      },
      20_000,
      100,
    );
    assertEquals((await eventsOf(stack, q.apiToken, "camera.motion")).length, 1);

    // Tampering (the camera covered or turned): an event of its own, motion's minute or not.
    events.tamper(true);
    const tampered = await eventsOf(stack, q.apiToken, "camera.tamper");
    assertEquals(tampered.length, 1);
    assertEquals(tampered[0].subject.deviceId, q.device.deviceId);
    assertEquals(tampered[0].detail.topic, "tns1:VideoSource/GlobalSceneChange/ImagingService");
    assertEquals(tampered[0].detail.liveUrl, `${stack.url}/live/${q.device.handles[554]}`);
    const inbox2 = await (await fetch(`${stack.url}/events`, { headers: { cookie } })).text();
    assertStringIncludes(inbox2, "Camera tampered with");
    // An alarm input wired to the camera (a door contact) becoming active: its own event, naming it.
    events.input("DI_1", true);
    const input = await eventsOf(stack, q.apiToken, "camera.input");
    assertEquals([input.length, input[0].detail.input], [1, "DI_1"]);
    assertEquals(input[0].detail.liveUrl, `${stack.url}/live/${q.device.handles[554]}`);
    // Three pictures (motion, tampering, the input): the held credentials were opened for them,
    // and audited, once — not once per alert.
    assert(input[0].detail.snapshot && tampered[0].detail.snapshot, "each alert has its picture");
    const uses = await call("GET", "/api/audit?action=device.credentials.use&limit=100");
    assertEquals(
      uses.json.items.filter((e: { detail: { via?: string } }) => e.detail.via === "snapshot")
        .length,
      1,
    );
    // The camera's own page lists its latest alerts, each with its picture; so does the API.
    const livePage = await (await fetch(`${stack.url}/live/${q.device.handles[554]}`, {
      headers: { cookie },
    })).text();
    assertStringIncludes(livePage, "Recent alerts");
    assertEquals(
      [...livePage.matchAll(/<li data-event="\d+" data-type="([a-z._]+)"/g)].map((m) => m[1]),
      ["camera.input", "camera.tamper", "camera.motion"],
    );
    assertStringIncludes(livePage, `<img src="${picture}"`);
    assertStringIncludes(livePage, "Camera alarm input (DI_1)");
    assert(!livePage.includes("data-quiet"), "a viewer cannot change how often alerts come");
    const ofDevice = await call(
      "GET",
      `/api/events?device=${q.device.deviceId}&type=camera.motion`,
    );
    assertEquals(ofDevice.json.items.map((e: { seq: number }) => e.seq), [got[0].seq]);
    assertEquals((await call("GET", "/api/events?device=..%2F")).status, 400);
    // The page that shows tampering only added it, and not the motion before it.
    await tamperPage.waitForSelector(`#event-list tr[data-type="camera.tamper"]`);
    assertEquals(await tamperPage.locator(`#event-list tr[data-type="camera.motion"]`).count(), 0);
    await closeContext(context);
    // The API and the page, of some types only: the enrollment of the agent is not a camera alert.
    const cameraOnly = await call("GET", "/api/events?type=camera.motion,camera.tamper");
    assertEquals(
      cameraOnly.json.items.map((e: { type: string }) => e.type),
      ["camera.tamper", "camera.motion"],
    );
    assert(
      (await call("GET", "/api/events")).json.items.some((e: { type: string }) =>
        !e.type.startsWith("camera.")
      ),
      "other events exist",
    );
    const bogus = await call("GET", "/api/events?type=camera.motion,camera.bogus");
    assertEquals(bogus.status, 400);
    assertStringIncludes(bogus.json.message, '"camera.bogus" is none');
    const group = "camera.motion,camera.tamper,camera.input";
    const filtered = await (await fetch(`${stack.url}/events?type=${group}`, {
      headers: { cookie },
    })).text();
    assertStringIncludes(filtered, 'aria-current="page">Camera alerts</a>');
    assertEquals(
      [...filtered.matchAll(/<tr data-event="\d+" data-type="([a-z._]+)"/g)].map((m) => m[1]),
      ["camera.input", "camera.tamper", "camera.motion"],
    );
    assertStringIncludes(filtered, "Camera alarm input (DI_1)");

    // How often its alerts may come, chosen by an admin on the camera's Live page: every time.
    // The running subscription takes it: the next start of motion is an event at once.
    const admin = await stack.addUser(q.tenantId, "admin");
    const adminContext = await signedInContext(
      browser,
      stack.url,
      await stack.signIn(admin.email, admin.password),
    );
    const live = await adminContext.newPage();
    await live.goto(`${stack.url}/live/${q.device.handles[554]}`);
    assertEquals(await live.inputValue("select[data-quiet]"), "60");
    await live.selectOption("select[data-quiet]", "0");
    await live.waitForSelector("text=Saved: alerts every time.");
    await closeContext(adminContext);
    assertEquals((await status()).alertQuietSeconds, 0);
    assertEquals((await call("PATCH", device, { alertQuietSeconds: 86_401 })).status, 400);
    const motions = async () => (await eventsOf(stack, q.apiToken, "camera.motion")).length;
    // (The watcher reads the change at its next reconcile: moments after the save.)
    await until(
      "the quiet period applied: a second camera.motion within the minute",
      async () => {
        events.motion(false);
        events.motion(true);
        return await untilValue("", async () => (await motions()) > 1 || null, 8_000, 100)
          .catch(() => false);
      },
      40_000,
      0,
    );
    // And the next start is one more, at once.
    const before = await motions();
    events.motion(false);
    events.motion(true);
    await until("the next start's event", async () => (await motions()) > before, 20_000, 100);

    // Another tenant: no such device, and no such picture.
    const other = await stack.quickstart([80], "Other");
    for (const path of [picture, "/api/event-snapshots/no-such.jpg", "/api/event-snapshots/x"]) {
      const refused = await stack.api("GET", path, other.apiToken);
      assertEquals([refused.status, refused.json.message], [404, NO_PICTURE], path);
    }
    const foreign = await call("GET", `${device}/motion`, undefined, other.apiToken);
    assertEquals([foreign.status, foreign.json.message], [404, "no such device"]);

    // Off: the cloud unsubscribes.
    assertEquals((await call("PATCH", device, { motionAlerts: false })).status, 200);
    await until("unsubscribed", () => events.counts.unsubscribed === 1, 30_000, 100);
    assertEquals(events.counts.subscribed, 1);
    assertEquals(await status(), {
      deviceId: q.device.deviceId,
      motionAlerts: false,
      alertQuietSeconds: 0,
      status: null,
    });

    // Every camera of a site at once (a device with no RTSP port is no camera).
    const site = `/api/sites/${q.siteId}/motion-alerts`;
    const gate = await call("POST", `/api/sites/${q.siteId}/devices`, {
      host: "127.0.0.9",
      ports: [80],
    });
    assertEquals(gate.status, 201, JSON.stringify(gate.json));
    const all = await call("PUT", site, { on: true });
    assertEquals(all.json, { siteId: q.siteId, on: true, cameras: 1, switched: 1 });
    assertEquals((await status()).motionAlerts, true);
    assertEquals(
      (await call("GET", `/api/devices/${gate.json.id}/motion`)).json.motionAlerts,
      false,
    );
    assertEquals((await call("PUT", site, { on: true })).json.switched, 0);
    assertEquals((await stack.api("PUT", site, "nt_not-a-token", { on: false })).status, 401);
    const byViewer = await fetch(`${stack.url}${site}`, {
      method: "PUT",
      headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
      body: JSON.stringify({ on: false }),
    });
    assertEquals(
      [byViewer.status, (await byViewer.json()).message],
      [403, "this needs the admin role; you are viewer"],
    );
    assertEquals((await call("PUT", site, { on: "yes" })).status, 400);
    assertEquals((await call("PUT", site, { on: false }, other.apiToken)).status, 404);
    assertEquals((await call("PUT", site, { on: false })).json.switched, 1);
    assertEquals((await status()).motionAlerts, false);
  } finally {
    await stack.stop();
  }
});

Deno.test("motion alerts on two nodes: one node watches a camera, both say how, a rename names the next event; the cameras are split between the nodes", async () => {
  const events = new CameraEvents();
  const cam = await startCamera({ onvif: { events } });
  const { n1, n2, stop } = await twoNodes();
  n1.defer(cam.close);
  try {
    const q = await n1.quickstart([cam.port, 554], "Cameras");
    await n1.agentFor(q);
    await n1.holdCredentials(q, { username: "admin", password: "12345" });
    const device = `/api/devices/${q.device.deviceId}`;
    const status = async (n: Stack) => (await n.api("GET", `${device}/motion`, q.apiToken)).json;
    // node-1, alone at first, held every shard; once node-2 runs, each holds its four.
    await until(
      "the shards split between the nodes",
      async () => {
        const held = await shardHolders(n1.store!);
        return held.filter((h) => h === "node-1").length === 4 &&
          held.filter((h) => h === "node-2").length === 4;
      },
      60_000,
      200,
    );

    // Switched on through node-2; whichever node leads subscribes, once.
    const on = await n2.api("PATCH", device, q.apiToken, { motionAlerts: true });
    assertEquals([on.status, on.json.motionAlerts], [200, true]);
    const watching = await untilValue(
      "watching, as node-2 reads it",
      async () => {
        const s = await status(n2);
        return s.status?.state === "watching" ? s.status : null;
      },
      30_000,
      100,
    );
    assertEquals(events.counts.subscribed, 1);
    assert(["node-1", "node-2"].includes(watching.node), watching.node);
    // Both nodes say the same, and the node that does not watch says it too (from the store).
    const n1Says = (await status(n1)).status;
    assertEquals([n1Says.state, n1Says.node], ["watching", watching.node]);
    const bystander = watching.node === "node-1" ? n2 : n1;
    const admin = await bystander.addUser(q.tenantId, "admin");
    const { cookie } = await bystander.session(admin.email, admin.password);
    const page = await (await fetch(`${bystander.url}/sites/${q.siteId}`, { headers: { cookie } }))
      .text();
    assertStringIncludes(page, "motion alerts on (subscribed)");
    assertStringIncludes(page, `title="watched by ${watching.node}"`);

    // Renamed after it was subscribed: the next event has the new name.
    const renamed = await bystander.api("PATCH", device, q.apiToken, { label: "Loading dock" });
    assertEquals(renamed.status, 200, JSON.stringify(renamed.json));
    events.motion(true);
    const got = await eventsOf(n2, q.apiToken, "camera.motion");
    assertEquals(got[0].subject.name, "Loading dock");
    // Its picture is in the store: the node that does not watch serves it too, to a signed-in
    // caller and through the link the watching node signed.
    const linked = await fetch(
      (got[0].detail.snapshotUrl as string).replace(n2.url, bystander.url).replace(
        n1.url,
        bystander.url,
      ),
    );
    assertEquals(new Uint8Array(await linked.arrayBuffer()), FRAME);
    const picture = await fetch(
      `${bystander.url}/api/event-snapshots/${got[0].detail.snapshot}.jpg`,
      {
        headers: { authorization: `Bearer ${q.apiToken}` },
      },
    );
    assertEquals(new Uint8Array(await picture.arrayBuffer()), FRAME);
    // The time of the motion reaches the bystander too.
    await until(
      "the bystander reads the motion's time",
      async () => (await status(bystander)).status?.lastMotionAt > 0,
      20_000,
      100,
    );
    assertEquals(
      events.counts.subscribed,
      1,
      "still one subscription: the rename changed no address",
    );
    const after = await (await fetch(`${bystander.url}/sites/${q.siteId}`, { headers: { cookie } }))
      .text();
    assertStringIncludes(after, "motion alerts on (subscribed) · last motion <time");

    // Off through the node that does not watch: the watching node unsubscribes and forgets.
    assertEquals(
      (await bystander.api("PATCH", device, q.apiToken, { motionAlerts: false })).status,
      200,
    );
    await until("unsubscribed", () => events.counts.unsubscribed === 1, 30_000, 100);
    for (const n of [n1, n2]) {
      assertEquals((await status(n)).status, null);
    }
    // On again: the stored status is the new watcher's, not a leftover.
    const reOn = Date.now();
    assertEquals(
      (await n1.api("PATCH", device, q.apiToken, { motionAlerts: true })).status,
      200,
    );
    await until(
      "watching again, read on the bystander",
      async () => {
        const s = (await status(bystander)).status;
        return s?.state === "watching" && s.since >= reOn;
      },
      30_000,
      100,
    );
    assertEquals(events.counts.subscribed, 2);

    // More cameras: each node watches those of its shards (node-1 the even ones, node-2 the
    // odd), and says so in each camera's status. (These addresses answer nothing: their watchers
    // fail, and the status names the node that tried.)
    const nodes = ["node-1", "node-2"];
    const owner = (id: string) =>
      shardsOf("node-1", nodes).includes(shardOf(id)) ? "node-1" : "node-2";
    const expected = new Map([[q.device.deviceId, owner(q.device.deviceId)]]);
    for (let host = 20; new Set(expected.values()).size < 2 || expected.size < 3; host++) {
      const added = await n1.api("POST", `/api/sites/${q.siteId}/devices`, q.apiToken, {
        host: `127.0.0.${host}`,
        ports: [554],
      });
      assertEquals(added.status, 201, JSON.stringify(added.json));
      expected.set(added.json.id, owner(added.json.id));
    }
    const all = await n2.api("PUT", `/api/sites/${q.siteId}/motion-alerts`, q.apiToken, {
      on: true,
    });
    assertEquals(all.json.switched, expected.size - 1);
    for (const [id, node] of expected) {
      await until(
        `camera ${id} (shard ${shardOf(id)}) watched by ${node}`,
        async () =>
          (await n1.api("GET", `/api/devices/${id}/motion`, q.apiToken)).json.status?.node ===
            node,
        30_000,
        100,
      );
    }
    assertEquals(events.counts.subscribed, 2, "the real camera: still its one subscription");
  } finally {
    await stop();
  }
});

Deno.test("motion alerts past --motion-max-cameras: the newest camera says it is not watched, until a slot frees", async () => {
  const stack = await Stack.start({ cloudArgs: ["--motion-max-cameras", "1"] });
  try {
    const q = await stack.quickstart([554], "Cameras");
    const added = await stack.api("POST", `/api/sites/${q.siteId}/devices`, q.apiToken, {
      host: "127.0.0.9",
      ports: [554],
    });
    assertEquals(added.status, 201, JSON.stringify(added.json));
    const first = q.device.deviceId;
    const second = added.json.id as string;
    const statusOf = async (id: string) =>
      (await stack.api("GET", `/api/devices/${id}/motion`, q.apiToken)).json.status;
    const limited = (s: { error?: string } | null) => s?.error?.includes("--motion-max-cameras");
    const all = await stack.api("PUT", `/api/sites/${q.siteId}/motion-alerts`, q.apiToken, {
      on: true,
    });
    assertEquals(all.json.switched, 2);

    // The newer camera is past the limit of one, and says so (the API and its site page).
    const over = await untilValue(
      "the limit told",
      async () => {
        const s = await statusOf(second);
        return limited(s) ? s : null;
      },
      20_000,
      100,
    );
    assertEquals(over.state, "failing");
    assertStringIncludes(
      over.error,
      "not watched: motion alerts are on for more cameras than this cloud watches (1, --motion-max-cameras); switch some off, or raise the limit",
    );
    // The older one is watched: it fails for its own reason (no agent here), not for the limit.
    const watched = await untilValue("the first's status", () => statusOf(first), 20_000, 100);
    assert(!limited(watched), JSON.stringify(watched));
    const admin = await stack.addUser(q.tenantId, "admin");
    const { cookie } = await stack.session(admin.email, admin.password);
    const page = await (await fetch(`${stack.url}/sites/${q.siteId}`, { headers: { cookie } }))
      .text();
    assertStringIncludes(page, "motion alerts on, not working: not watched: motion alerts are on");

    // The older one switched off: the newer takes its place.
    const off = await stack.api("PATCH", `/api/devices/${first}`, q.apiToken, {
      motionAlerts: false,
    });
    assertEquals(off.status, 200);
    await until(
      "the second watched",
      async () => {
        const s = await statusOf(second);
        return s !== null && !limited(s);
      },
      20_000,
      100,
    );
    assertEquals(await statusOf(first), null);
  } finally {
    await stack.stop();
  }
});

Deno.test("motion alerts after the site was offline: the watcher tries again once the agent is back, not when its back-off (grown to 40 s) ends", async () => {
  const events = new CameraEvents();
  const cam = await startCamera({ onvif: { events } });
  const stack = await Stack.start();
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port, 554], "Cameras");
    const enrolled = await stack.enroll(q.enrollmentToken);
    assertEquals(enrolled.code, 0, enrolled.stderr);
    const agent = await stack.runAgent(enrolled.state);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const device = `/api/devices/${q.device.deviceId}`;
    const status = async () => (await stack.api("GET", `${device}/motion`, q.apiToken)).json.status;
    assertEquals(
      (await stack.api("PATCH", device, q.apiToken, { motionAlerts: true })).status,
      200,
    );
    await until("watching", async () => (await status())?.state === "watching", 20_000, 100);

    // The site goes offline. The watcher fails, and waits 5, 10, 20 s between tries; after its
    // fourth failure it would wait 40 s.
    await agent.stop();
    const failures = new Set<number>();
    const away = await untilValue(
      "four failures",
      async () => {
        const s = await status();
        if (s?.state === "failing") failures.add(s.since);
        return failures.size >= 4 ? s : null;
      },
      90_000,
      100,
    );
    assertEquals(away.error, "agent reconnecting");

    // The agent is back: watching again within 20 s (the next try was 40 s away).
    await stack.runAgent(enrolled.state);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const back = await Promise.race([
      until("watching again", async () => (await status())?.state === "watching", 60_000, 100)
        .then(() => "watching"),
      new Promise<string>((r) => timer = setTimeout(() => r("still failing after 20 s"), 20_000)),
    ]);
    clearTimeout(timer);
    assertEquals(back, "watching");
    // And it reports motion again.
    events.motion(true);
    const motion = await eventsOf(stack, q.apiToken, "camera.motion");
    assertEquals(motion[0].subject.deviceId, q.device.deviceId);
  } finally {
    await stack.stop();
  }
});

Deno.test("motion alerts on many cameras at once: the node subscribes --motion-subscribe-concurrency of them at a time, and watches them all", async () => {
  // Six cameras of one site, each slow to create its pull point (400 ms), all switched on in one
  // call: without a bound all six would be subscribing together.
  const meter = { now: 0, max: 0 };
  const events = Array.from({ length: 6 }, () => new CameraEvents({ subscribeMs: 400, meter }));
  const first = await startCamera({ onvif: { events: events[0] } });
  const cams = [first];
  const stack = await Stack.start({ cloudArgs: ["--motion-subscribe-concurrency", "2"] });
  stack.defer(first.close);
  try {
    for (let i = 1; i < events.length; i++) {
      const cam = await startCamera({
        hostname: `127.0.0.${20 + i}`,
        port: first.port,
        onvif: { events: events[i] },
      });
      stack.defer(cam.close);
      cams.push(cam);
    }
    const q = await stack.quickstart([first.port, 554], "Cameras");
    const enrolled = await stack.enroll(q.enrollmentToken);
    assertEquals(enrolled.code, 0, enrolled.stderr);
    await stack.runAgent(enrolled.state);
    const ids = [q.device.deviceId];
    for (let i = 1; i < cams.length; i++) {
      const added = await stack.api("POST", `/api/sites/${q.siteId}/devices`, q.apiToken, {
        host: `127.0.0.${20 + i}`,
        ports: [first.port, 554],
      });
      assertEquals(added.status, 201, JSON.stringify(added.json));
      ids.push(added.json.id);
    }
    for (const id of ids) {
      const held = await stack.api(
        "PUT",
        `/api/sites/${q.siteId}/devices/${id}/credentials`,
        q.apiToken,
        { username: "admin", password: "12345" },
      );
      assert(held.status < 300, JSON.stringify(held.json));
    }
    const all = await stack.api("PUT", `/api/sites/${q.siteId}/motion-alerts`, q.apiToken, {
      on: true,
    });
    assertEquals(all.json.switched, 6);

    // Every camera is watched in the end; never more than two were subscribing at once.
    const states = () =>
      Promise.all(
        ids.map(async (id) =>
          (await stack.api("GET", `/api/devices/${id}/motion`, q.apiToken)).json.status?.state
        ),
      );
    await until(
      "all six watching",
      async () => (await states()).every((s) => s === "watching"),
      60_000,
      100,
    );
    assertEquals(events.map((e) => e.counts.subscribed), [1, 1, 1, 1, 1, 1]);
    assert(meter.max <= 2, `${meter.max} cameras were subscribing at once`);
    // And each reports its motion.
    events[5].motion(true);
    const motion = await eventsOf(stack, q.apiToken, "camera.motion");
    assertEquals(motion[0].subject.deviceId, ids[5]);
  } finally {
    await stack.stop();
  }
});
