/**
 * The browser proxy `/c/{handle}/` end to end with real processes (cloud, agent) and real clients
 * (curl, fetch, a raw socket for malformed requests) against a fake camera UI on loopback:
 * rewriting, cookies, credential stripping, Basic auth passthrough, MJPEG and upload streaming,
 * WebSocket passthrough, request hygiene and path escapes (the device sees nothing), HTTPS
 * devices with certificate audit (subjects made printable, handshakes bounded by the proxy's
 * timeout), and the guide's error statuses and words.
 */
import { DatabaseSync } from "node:sqlite";
// @ts-types="@types/ws"
import WebSocket from "ws";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_fixtures/assert.ts";
import { exchange } from "../_fixtures/loopback.ts";
import { type Quickstart, Stack, TEST_ADMIN_KEY } from "../_fixtures/stack.ts";
import { type Camera, FRAME, selfSigned, startCamera } from "../_fixtures/camera.ts";
import { anySubjectCert } from "../_fixtures/any_subject_cert.ts";
import { concatBytes } from "../_fixtures/bytes.ts";
import * as tls from "node:tls";

/** Runs curl; returns status line, headers and body. */
async function curl(args: string[]): Promise<{ status: number; head: string; body: string }> {
  const out = await new Deno.Command("curl", {
    args: ["-s", "-i", "--max-time", "20", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const split = text.indexOf("\r\n\r\n");
  const head = text.slice(0, split);
  return { status: Number(head.split(" ")[1]), head, body: text.slice(split + 4) };
}

/** Sends raw bytes and returns the first response line. */
async function rawRequest(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const buf = new Uint8Array(4096);
  let out = "";
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
      if (out.includes("\r\n\r\n")) break;
    }
  } catch { /* closed by the timer */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  return out;
}

async function withCamera(
  fn: (w: { stack: Stack; cam: Camera; q: Quickstart; handle: string; token: string }) => Promise<
    void
  >,
  cloudArgs: string[] = [],
): Promise<void> {
  const stack = await Stack.start({ cloudArgs });
  const cam = await startCamera();
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port], "Cam");
    await stack.agentFor(q);
    await fn({ stack, cam, q, handle: q.device.handles[cam.port], token: q.apiToken });
  } finally {
    await stack.stop();
  }
}

Deno.test("proxy: sign-in redirect, rewriting, cookies, credentials stripped, Basic passthrough", async () => {
  await withCamera(async ({ stack, cam, q, handle, token }) => {
    const base = `${stack.url}/c/${handle}`;
    // Anonymous: a browser is sent to sign in and back; an API client gets the guide's 401.
    const anon = await curl(["-H", "accept: text/html", `${base}/doc/page/config.asp?x=1`]);
    assertEquals(anon.status, 302);
    assertMatch(
      anon.head,
      new RegExp(
        `location: /login\\?next=${
          encodeURIComponent(`/c/${handle}/doc/page/config.asp?x=1`).replace(/[?.]/g, "\\$&")
        }`,
        "i",
      ),
    );
    const anonApi = await curl([`${base}/`]);
    assertEquals(anonApi.status, 401);
    assertEquals(JSON.parse(anonApi.body), {
      error: "auth_required",
      message: "authentication required",
    });
    // Without the trailing slash: moved under the prefix.
    const bare = await curl([`${stack.url}/c/${handle}`]);
    assertEquals(bare.status, 308);
    assertStringIncludes(bare.head, `location: /c/${handle}/`);

    const auth = ["-H", `authorization: Bearer ${token}`];
    const home = await curl([...auth, `${base}/`]);
    assertEquals(home.status, 200);
    assertStringIncludes(home.body, "data-nc-proxy");
    assertStringIncludes(home.body, `href="/c/${handle}/doc/page/config.asp"`);
    assertStringIncludes(home.body, `href="/c/${handle}/doc/page/abs.asp"`); // absolute self-URL
    assertStringIncludes(home.body, `src="/c/${handle}/img/logo.png"`);
    assertStringIncludes(home.body, `action="/c/${handle}/login.cgi"`);
    assertStringIncludes(home.body, `url(/c/${handle}/img/bg.png)`);
    assertStringIncludes(home.body, `href="/c/${handle}/css/app.css"`);
    assert(home.body.indexOf("data-nc-proxy") < home.body.indexOf("/js/app.js"));
    assertMatch(home.head, /referrer-policy: same-origin/i);

    const css = await curl([...auth, `${base}/css/app.css`]);
    assertStringIncludes(css.body, `url(/c/${handle}/img/bg.png)`);
    assertStringIncludes(css.body, `@import '/c/${handle}/css/more.css'`);
    // Non-HTML passes byte for byte.
    const img = await fetch(`${base}/img/logo.png`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assertEquals(new Uint8Array(await img.arrayBuffer()), FRAME);

    // The device's login: absolute redirect moved under the prefix; cookies confined to it.
    const login = await curl([...auth, "-d", "user=admin", `${base}/login.cgi`]);
    assertEquals(login.status, 302);
    assertMatch(login.head, new RegExp(`location: /c/${handle}/doc/page/main.asp`, "i"));
    const cookies = login.head.split("\r\n").filter((l) => /^set-cookie:/i.test(l));
    assertEquals(cookies.length, 1, login.head);
    assertMatch(
      cookies[0],
      new RegExp(`^set-cookie: WebSession=s3cr3t; HttpOnly; Path=/c/${handle}/$`, "i"),
    );

    // A browser session: the cloud's cookie and credentials never reach the device.
    const user = await stack.addUser(q.tenantId);
    const session = await stack.signIn(user.email, user.password);
    const seenBefore = cam.seen.length;
    const echoed = await curl([
      "-H",
      `cookie: ${session}; WebSession=s3cr3t`,
      "-H",
      "x-csrf-token: secret",
      "-H",
      `origin: ${stack.url}`,
      "-H",
      `referer: ${base}/doc/page/main.asp`,
      `${base}/headers`,
    ]);
    assertEquals(echoed.status, 200, echoed.body);
    const h = JSON.parse(echoed.body);
    assertEquals(h.cookie, "WebSession=s3cr3t");
    assertEquals(h["x-csrf-token"], undefined);
    assertEquals(h.host, `127.0.0.1:${cam.port}`);
    assertEquals(h.origin, `http://127.0.0.1:${cam.port}`);
    assertEquals(h.referer, `http://127.0.0.1:${cam.port}/doc/page/main.asp`);
    assertEquals(cam.seen.length, seenBefore + 1);
    // Bearer tokens and the admin key are stripped too.
    const viaBearer = JSON.parse((await curl([...auth, `${base}/headers`])).body);
    assertEquals(viaBearer.authorization, undefined);
    const viaAdmin = await curl(["-H", `x-admin-api-key: ${TEST_ADMIN_KEY}`, `${base}/headers`]);
    assertEquals(viaAdmin.status, 200);
    assertEquals(JSON.parse(viaAdmin.body)["x-admin-api-key"], undefined);

    // The camera's own Basic challenge reaches the browser, and the answer reaches the camera.
    const challenge = await curl(["-H", `cookie: ${session}`, `${base}/basic`]);
    assertEquals(challenge.status, 401);
    assertMatch(challenge.head, /www-authenticate: Basic realm="IP Camera"/i);
    const basic = await curl(["-H", `cookie: ${session}`, "-u", "admin:12345", `${base}/basic`]);
    assertEquals(basic.status, 200);
    assertStringIncludes(basic.body, "basic-ok");

    // A page the cloud cannot route, asked from a proxied page, is sent into its handle.
    const lost = await curl([
      "-H",
      "sec-fetch-site: same-origin",
      "-H",
      `referer: ${base}/doc/page/main.asp`,
      `${stack.url}/doc/page/after.asp?y=2`,
    ]);
    assertEquals(lost.status, 307);
    assertStringIncludes(lost.head, `location: /c/${handle}/doc/page/after.asp?y=2`);
  });
});

Deno.test("proxy: cloud-held device credentials answer Basic and Digest; operators never see them", async () => {
  await withCamera(async ({ stack, cam, q, handle, token }) => {
    const base = `${stack.url}/c/${handle}`;
    const auth = { authorization: `Bearer ${token}` };
    // Without credentials in the cloud the camera's prompt reaches the browser.
    const prompt = await fetch(`${base}/digest`, { headers: auth });
    assertEquals(prompt.status, 401);
    assertMatch(prompt.headers.get("www-authenticate") ?? "", /^Digest realm="IP Camera Digest"/);
    await prompt.body?.cancel();

    const put = await fetch(
      `${stack.url}/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`,
      {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ username: "admin", password: "12345" }),
      },
    );
    assertEquals(put.status < 300, true, await put.text());
    for (const path of ["/digest", "/basic", "/digest"]) {
      const r = await fetch(`${base}${path}`, { headers: auth });
      assertEquals(r.status, 200, path);
      const text = await r.text();
      assertStringIncludes(text, path === "/basic" ? "basic-ok" : "digest-ok");
      // Nothing the browser receives carries the password.
      assert(!text.includes("12345") && ![...r.headers.values()].some((v) => v.includes("12345")));
    }
    // A WebSocket upgrade to the camera's Basic-protected event stream is answered the same way.
    const ws = new WebSocket(`ws://127.0.0.1:${stack.ports.http}/c/${handle}/ws/basic`, {
      headers: auth,
    });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => ws.send("hello"));
      ws.once("message", (m) => resolve(String(m)));
      ws.once("unexpected-response", (_q, r) => reject(new Error(`upgrade ${r.statusCode}`)));
      ws.once("error", reject);
    });
    assertEquals(reply, "ws-basic-ok:hello");
    ws.close();
    // The camera got a real Digest answer; every use is audited.
    assert(
      cam.seen.some((s) => s.path === "/digest" && /^Digest /.test(s.headers.authorization ?? "")),
    );
    const uses = await (await fetch(`${stack.url}/api/audit?action=device.credentials.use`, {
      headers: auth,
    })).json();
    assert(uses.items.length >= 1);
    assertEquals(uses.items[0].detail.via, "proxy");

    // Removed from the cloud: the prompt reaches the browser again at once.
    await fetch(`${stack.url}/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`, {
      method: "DELETE",
      headers: auth,
    }).then((r) => r.body?.cancel());
    const again = await fetch(`${base}/digest`, { headers: auth });
    assertEquals(again.status, 401);
    await again.body?.cancel();
  });
});

Deno.test("proxy: MJPEG and uploads stream, WebSocket passes through (a frame sent before the 101 too), refused upgrade closes", async () => {
  await withCamera(async ({ stack, cam, handle, token }) => {
    const base = `${stack.url}/c/${handle}`;
    const headers = { authorization: `Bearer ${token}` };
    // 1000 frames 50 ms apart take 50 s; two frames arriving proves nothing is buffered.
    const res = await fetch(`${base}/mjpeg?frames=1000&gap=50`, { headers });
    assertEquals(res.headers.get("content-type"), "multipart/x-mixed-replace; boundary=frame");
    const reader = res.body!.getReader();
    let text = "";
    while ((text.match(/--frame/g) ?? []).length < 2) {
      const { value, done } = await reader.read();
      assert(!done, "stream ended early");
      text += new TextDecoder("latin1").decode(value);
    }
    await reader.cancel();

    // A 8 MiB chunked upload (a firmware file) streams to the device.
    const size = 8 << 20;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent >= size) return ctl.close();
        const n = Math.min(256 << 10, size - sent);
        sent += n;
        ctl.enqueue(new Uint8Array(n).fill(7));
      },
    });
    const up = await fetch(`${base}/upload`, {
      method: "POST",
      headers,
      body,
      // @ts-ignore: Deno needs duplex for streamed request bodies like browsers do
      duplex: "half",
    });
    assertEquals(await up.json(), { received: size });

    // WebSocket through the proxy to the device.
    const ws = new WebSocket(`ws://127.0.0.1:${stack.ports.http}/c/${handle}/ws/events`, {
      headers,
    });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => ws.send("hello"));
      ws.once("message", (m) => resolve(String(m)));
      ws.once("error", reject);
    });
    assertEquals(reply, "ws-ok:hello");
    ws.close();

    // A client that sends its first frame before the device's 101 (held back 1 s here): the
    // frame is kept and reaches the device after its answer, not lost or sent ahead of it.
    const early = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.http });
    await early.write(new TextEncoder().encode(
      `GET /c/${handle}/ws/events?delay=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    ));
    await new Promise((r) => setTimeout(r, 200));
    const mask = [1, 2, 3, 4];
    const payload = new TextEncoder().encode("early").map((b, i) => b ^ mask[i % 4]);
    await early.write(new Uint8Array([0x81, 0x80 | payload.length, ...mask, ...payload]));
    let got = new Uint8Array(0);
    const want = "ws-ok:early";
    const buf = new Uint8Array(4096);
    while (!new TextDecoder("latin1").decode(got).includes(want)) {
      const n = await early.read(buf);
      assert(n !== null, `closed: ${new TextDecoder("latin1").decode(got)}`);
      got = new Uint8Array([...got, ...buf.subarray(0, n)]);
    }
    assertMatch(new TextDecoder("latin1").decode(got), /^HTTP\/1\.1 101 /);
    early.close();

    // The device refuses an upgrade: the client gets its status and nothing more reaches it.
    const before = cam.seen.length;
    const refused = new WebSocket(`ws://127.0.0.1:${stack.ports.http}/c/${handle}/no-ws`, {
      headers,
    });
    const status = await new Promise<number>((resolve) => {
      refused.once("unexpected-response", (_q, r) => resolve(r.statusCode ?? 0));
      refused.once("error", () => resolve(-1));
    });
    assertEquals(status, 404);
    assertEquals(cam.seen.length, before + 1);
  });
});

Deno.test("proxy: smuggling shapes and path escapes are refused and never reach the device", async () => {
  await withCamera(async ({ stack, cam, handle, token }) => {
    const port = stack.ports.http;
    const auth = `Authorization: Bearer ${token}\r\n`;
    const before = cam.seen.length;
    const cases = [
      `POST /c/${handle}/upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /c/${handle}/upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
      `POST /c/${handle}/upload HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
      `POST /c/${handle}/upload HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: gzip\r\n\r\nhello`,
      `POST /c/${handle}/upload HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
      ...[
        "../../api/auth/me",
        "a/../../x",
        "%2e%2e/%2e%2e/api/auth/me",
        "%2E%2e/x",
        "a%2f..%2f..%2fapi",
        "%252e%252e/x",
        "a%255c..%255cx",
        "a\\..\\..\\api",
        "./x",
      ].map((p) => `GET /c/${handle}/${p} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`),
    ];
    for (const c of cases) {
      const answer = await rawRequest(port, c);
      assertMatch(answer, /^HTTP\/1\.1 400 /, `${JSON.stringify(c)} → ${answer}`);
      assert(!/"internal"/.test(answer));
    }
    assertEquals(cam.seen.length, before, JSON.stringify(cam.seen.slice(before)));
  });
});

Deno.test("proxy: 403 other tenant, 403 allowlist, 502 unreachable, 503 agent offline, 504 slow device, a stalled body cut", async () => {
  await withCamera(async ({ stack, cam, q, handle, token }) => {
    const base = `${stack.url}/c/${handle}`;
    const other = await stack.quickstart([80], "Other");
    const json = async (url: string, t: string) => {
      const r = await fetch(url, { headers: { authorization: `Bearer ${t}` } });
      return { status: r.status, body: await r.json() };
    };
    const cross = await json(`${base}/`, other.apiToken);
    assertEquals(cross, {
      status: 403,
      body: { error: "handle_other_tenant", message: "handle does not belong to your tenant" },
    });

    const slow = await json(`${base}/slow`, token);
    assertEquals(slow.status, 504);
    assertEquals(slow.body.message, "device did not respond in time");

    // A device that stops in the middle of its answer: the browser's connection ends once it has
    // sent nothing for the proxy timeout (it was held for good, even after the browser left).
    const stalled = await fetch(`${base}/stall`, { headers: { authorization: `Bearer ${token}` } });
    assertEquals(stalled.status, 200);
    const ended = await Promise.race([
      stalled.text().then(() => "ended", () => "cut"),
      new Promise<string>((r) => setTimeout(() => r("still open after 20 s"), 20_000)),
    ]);
    assertEquals(ended, "cut");

    // A second device port that nothing listens on: the agent cannot reach it.
    const closed = await Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const patched = await (await fetch(`${stack.url}/api/devices/${q.device.deviceId}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ ports: [cam.port, deadPort] }),
    })).json();
    const deadHandle = patched.handles?.[deadPort];
    const handles = patched;
    assert(deadHandle, JSON.stringify(handles));
    // The agent learns the new allowlist within a push; wait for the device error, not a 403.
    let unreachable = { status: 0, body: {} as Record<string, string> };
    for (let i = 0; i < 50 && unreachable.status !== 502; i++) {
      unreachable = await json(`${stack.url}/c/${deadHandle}/`, token);
      if (unreachable.status !== 502) await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals(unreachable.status, 502, JSON.stringify(unreachable));

    // The cloud points the device elsewhere without the allowlist changing: the agent refuses.
    const db = new DatabaseSync(`${stack.dataDir}/connector.db`);
    db.prepare("UPDATE devices SET host = ? WHERE id = ?").run("127.0.0.2", q.device.deviceId);
    db.close();
    const refused = await json(`${base}/`, token);
    assertEquals(refused, {
      status: 403,
      body: { error: "target_not_allowed", message: "Target not in allowlist" },
    });

    for (const a of stack.agents) await a.stop("SIGKILL");
    let offline = { status: 0, body: {} as Record<string, string> };
    for (let i = 0; i < 50 && offline.status !== 503; i++) {
      offline = await json(`${base}/`, token);
      if (offline.status !== 503) await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals(offline, {
      status: 503,
      body: { error: "agent_offline", message: "agent reconnecting" },
    });
  }, ["--proxy-timeout", "2s"]);
});

Deno.test("proxy: HTTPS device with a self-signed certificate; first and changed fingerprints audited", async () => {
  const stack = await Stack.start();
  const tls = await selfSigned("cam-one.local");
  let cam = await startCamera({ tls });
  try {
    const q = await stack.quickstart([cam.port], "Tls");
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const get = (path: string) =>
      fetch(`${stack.url}/c/${handle}${path}`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
    const home = await get("/");
    assertEquals(home.status, 200);
    assertStringIncludes(await home.text(), `href="/c/${handle}/doc/page/config.asp"`);
    const audit = async () => {
      const r = await fetch(`${stack.url}/api/audit?action=device.certificate`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      return (await r.json()).items as { detail: Record<string, string> }[];
    };
    let events = await audit();
    assertEquals(events.length, 1);
    assertEquals(events[0].detail.event, "first_seen");
    assertEquals(events[0].detail.subject, "CN=cam-one.local");
    assertMatch(events[0].detail.fingerprint, /^[0-9a-f]{64}$/);
    // Same certificate again: nothing new.
    await (await get("/doc/page/config.asp")).body?.cancel();
    assertEquals((await audit()).length, 1);

    // The camera comes back on the same port with another certificate.
    const port = cam.port;
    await cam.close();
    const other = await selfSigned("cam-two.local");
    for (let i = 0; i < 20; i++) {
      try {
        cam = await startCameraOn(port, other);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Idle pooled connections died with the old camera; the next request makes a new handshake.
    let status = 0;
    for (let i = 0; i < 5 && status !== 200; i++) {
      const r = await get("/");
      status = r.status;
      await r.body?.cancel();
    }
    assertEquals(status, 200);
    events = await audit();
    assertEquals(events.length, 2);
    assertEquals(events[0].detail.event, "changed");
    assertEquals(events[0].detail.previous, events[1].detail.fingerprint);
    assertEquals(events[0].detail.subject, "CN=cam-two.local");
  } finally {
    await cam.close();
    await stack.stop();
  }
});

Deno.test("proxy: an HTTPS device that never finishes its TLS handshake is a 504 within the proxy timeout; a certificate's subject is audited as printable text", async () => {
  const stack = await Stack.start({ cloudArgs: ["--proxy-timeout", "2s"] });
  // A camera whose certificate's name holds an escape sequence, a NUL and a right-to-left
  // override (what would recolour a terminal or reorder the audit page around it).
  const cam = await startCamera({
    tls: await anySubjectCert([{ CN: ["cam\u001b[31m red\u0000\u202eevil"] }]),
  });
  // A port that takes the connection and the ClientHello and never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const holding = (async () => {
    for await (const c of silent) {
      held.push(c);
      c.read(new Uint8Array(4096)).catch(() => {});
    }
  })().catch(() => {});
  const silentPort = (silent.addr as Deno.NetAddr).port;
  try {
    const q = await stack.quickstart([cam.port, silentPort], "Tls");
    const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
      protocols: { [cam.port]: "https", [silentPort]: "https" },
    });
    assertEquals(patched.status, 200, JSON.stringify(patched.json));
    await stack.agentFor(q);
    const get = (port: number) =>
      fetch(`${stack.url}/c/${q.device.handles[port]}/`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });

    // It was held for good before (no deadline on the handshake, only on the answer after it).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = await Promise.race([
      get(silentPort),
      new Promise<null>((r) => timer = setTimeout(() => r(null), 20_000)),
    ]).finally(() => clearTimeout(timer));
    assert(hung, "no answer after 20 s (the proxy's timeout is 2 s)");
    assertEquals([hung.status, await hung.json()], [504, {
      error: "device_timeout",
      message: "the device did not finish its TLS handshake in 2 s",
    }]);
    assert(held.length >= 1, "the device was reached");

    const home = await get(cam.port);
    assertEquals(home.status, 200);
    await home.body?.cancel();
    const audit = await stack.api("GET", "/api/audit?action=device.certificate", q.apiToken);
    const items = audit.json.items as { detail: Record<string, string> }[];
    assertEquals(items.map((e) => [e.detail.event, e.detail.subject]), [
      ["first_seen", "CN=cam\ufffd[31m red\ufffd\ufffdevil"],
    ]);
  } finally {
    silent.close();
    for (const c of held) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await holding;
    await cam.close();
    await stack.stop();
  }
});

Deno.test("proxy: an HTTPS device whose TLS breaks after the handshake is a 502 in words, not a fault of the node's", async () => {
  const stack = await Stack.start();
  // A device's TLS 1.2 server behind a front that flips a byte of its first application data
  // record: the cloud's TLS layer cannot decrypt it (a broken device, a bad cable, a tamperer).
  const pair = await anySubjectCert([{ CN: ["cam"] }]);
  const server = tls.createServer({ ...pair, maxVersion: "TLSv1.2" }, (s) => {
    s.on("error", () => {});
    s.once("data", () => s.end("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const inner = (server.address() as { port: number }).port;
  const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const flipping = (async () => {
    for await (const c of front) {
      const up = await Deno.connect({ hostname: "127.0.0.1", port: inner });
      c.readable.pipeTo(up.writable).catch(() => {});
      // Records from the device: the first of type 23 (application data) gets a byte flipped.
      let pending = new Uint8Array(0);
      let flipped = false;
      up.readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, out) {
            const b = concatBytes(pending, chunk);
            let at = 0;
            while (at + 5 <= b.length) {
              const len = (b[at + 3] << 8) | b[at + 4];
              if (at + 5 + len > b.length) break;
              if (b[at] === 23 && !flipped) {
                b[at + 5 + len - 1] ^= 0xff;
                flipped = true;
              }
              at += 5 + len;
            }
            out.enqueue(b.slice(0, at));
            pending = b.slice(at);
          },
        }),
      ).pipeTo(c.writable).catch(() => {});
    }
  })().catch(() => {});
  const port = (front.addr as Deno.NetAddr).port;
  try {
    const q = await stack.quickstart([port], "Tls");
    const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
      protocols: { [port]: "https" },
    });
    assertEquals(patched.status, 200, JSON.stringify(patched.json));
    await stack.agentFor(q);
    const r = await fetch(`${stack.url}/c/${q.device.handles[port]}/`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    const body = await r.json();
    assertEquals([r.status, body.error], [502, "device_unreachable"]);
    assertMatch(body.message, /^TLS to the device failed: /);
    // The device's fault, not the node's: nothing logged as an error (it was, as a fault).
    assertEquals(stack.cloud.count(/"level":50/), 0, stack.cloud.lines.slice(-5).join("\n"));
  } finally {
    front.close();
    server.close();
    await flipping;
    await stack.stop();
  }
});

/** Starts the HTTPS camera on a given port (for the certificate-change case). */
function startCameraOn(port: number, tls: { cert: string; key: string }): Promise<Camera> {
  return startCamera({ tls, port });
}

/** One response parsed off a byte stream: status, head and body (length, chunked, or none). */
interface WireResponse {
  status: number;
  head: string;
  body: string;
}

/** Splits what came back on one connection into its responses (`methods`: what was asked). */
function parseResponses(text: string, methods: string[]): WireResponse[] {
  const out: WireResponse[] = [];
  let at = 0;
  for (const method of methods) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const head = text.slice(at, end);
    at = end + 4;
    const status = Number(head.split(" ")[1]);
    const len = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body = "";
    if (method === "HEAD" || status === 204 || status === 304) body = "";
    else if (len) {
      body = text.slice(at, at + Number(len[1]));
      at += Number(len[1]);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const lineEnd = text.indexOf("\r\n", at);
        const size = parseInt(text.slice(at, lineEnd), 16);
        at = lineEnd + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        body += text.slice(at, at + size);
        at += size + 2;
      }
    }
    out.push({ status, head, body });
  }
  return out;
}

Deno.test("proxy: one kept-alive connection carries pipelined GETs, a HEAD, a POST and a close; HTTP/1.0 and idle ones end", async () => {
  await withCamera(async ({ stack, cam, handle, token }) => {
    const auth = `Authorization: Bearer ${token}\r\nHost: 127.0.0.1\r\n`;
    const asks: [string, string][] = [
      ["GET", "/ISAPI/System/deviceInfo"],
      ["HEAD", "/img/logo.png"],
      ["POST", "/upload"],
      ["GET", "/RPC2"],
      ["GET", "/headers"],
    ];
    // Bodiless /c/ requests are answered by the cloud's own HTTP/1.1 path; the POST (a body)
    // hands the connection to node:http, which answers the rest. One write, all pipelined.
    const text = `GET /c/${handle}/ISAPI/System/deviceInfo HTTP/1.1\r\n${auth}\r\n` +
      `HEAD /c/${handle}/img/logo.png HTTP/1.1\r\n${auth}\r\n` +
      `POST /c/${handle}/upload HTTP/1.1\r\n${auth}Content-Length: 3\r\n\r\nabc` +
      `GET /c/${handle}/RPC2 HTTP/1.1\r\n${auth}\r\n` +
      `GET /c/${handle}/headers HTTP/1.1\r\n${auth}X-Mixed-Case: Kept\r\nConnection: close\r\n\r\n`;
    // The last request says Connection: close: the cloud ends the connection after it.
    const raw = await exchange(stack.ports.http, text);
    const res = parseResponses(raw, asks.map(([m]) => m));
    assertEquals(res.map((r) => r.status), [200, 200, 200, 200, 200], raw.slice(0, 1500));
    assertStringIncludes(res[0].body, "<model>DS-TEST</model>");
    // HEAD: the head only (the next response parses right after it).
    assertMatch(res[1].head, /\r\ncontent-type: image\/png\r\n/i);
    assertEquals(JSON.parse(res[2].body), { received: 3 });
    assertEquals(JSON.parse(res[3].body).session, "rpc2-ok");
    // The device saw each request once (node:http runs pipelined requests side by side, so the
    // order of the last three is the device's), and the cloud credential never.
    const seen = cam.seen.slice(-asks.length).map((s) => `${s.method} ${s.path}`);
    assertEquals(seen.toSorted(), asks.map(([m, p]) => `${m} ${p}`).toSorted());
    const deviceHeaders = JSON.parse(res[4].body) as Record<string, string>;
    assertEquals(deviceHeaders["x-mixed-case"], "Kept");
    assert(!("authorization" in deviceHeaders), "the cloud credential reached the device");

    // HTTP/1.0 (nginx's default upstream): answered, and the connection closed after it.
    const old = await exchange(
      stack.ports.http,
      `GET /c/${handle}/RPC2 HTTP/1.0\r\n${auth}\r\n`,
    );
    assertMatch(old, /^HTTP\/1\.1 200 /);
    assertStringIncludes(old, "rpc2-ok");

    // A GET and a POST sent together, the POST's body finished only once the GET is answered:
    // the cloud reads ahead while it serves the GET (a second after it began), and what it read
    // goes to node:http with the connection, so the POST's last bytes are not lost.
    const split = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.http });
    // An answer lost (or a body never finished) would hold the connection: give up after 20 s.
    const giveUp = setTimeout(() => split.close(), 20_000);
    try {
      const write = (t: string) => split.write(new TextEncoder().encode(t));
      await write(
        `GET /c/${handle}/thinking HTTP/1.1\r\n${auth}\r\n` +
          `POST /c/${handle}/upload HTTP/1.1\r\n${auth}Content-Length: 6\r\n` +
          `Connection: close\r\n\r\nabc`,
      );
      let got = "";
      const buf = new Uint8Array(4096);
      try {
        while (!got.includes("thought it over")) {
          const n = await split.read(buf);
          if (n === null) break;
          got += new TextDecoder().decode(buf.subarray(0, n));
        }
        await write("def");
        for (let n; (n = await split.read(buf)) !== null;) {
          got += new TextDecoder().decode(buf.subarray(0, n));
        }
      } catch { /* closed after 20 s */ }
      const both = parseResponses(got, ["GET", "POST"]);
      assertEquals(both.map((r) => r.status), [200, 200], got.slice(0, 1500));
      assertEquals(JSON.parse(both[1].body), { received: 6 });
    } finally {
      clearTimeout(giveUp);
      try {
        split.close();
      } catch { /* closed */ }
    }

    // A kept-alive connection left idle is closed by the cloud (node:http's 5 s, on both paths).
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.http });
    try {
      await idle.write(
        new TextEncoder().encode(`GET /c/${handle}/RPC2 HTTP/1.1\r\n${auth}\r\n`),
      );
      const got = parseResponses(
        await (async () => {
          let s = "";
          const buf = new Uint8Array(4096);
          while (!/\r\n\r\n[\s\S]*rpc2-ok/.test(s)) {
            const n = await idle.read(buf);
            if (n === null) break;
            s += new TextDecoder().decode(buf.subarray(0, n));
          }
          return s;
        })(),
        ["GET"],
      );
      assertEquals(got[0]?.status, 200);
      const closed = await Promise.race([
        idle.read(new Uint8Array(16)).then((n) => n === null).catch(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
      ]);
      assert(closed, "an idle kept-alive connection stayed open");
    } finally {
      try {
        idle.close();
      } catch { /* closed */ }
    }
  });
});

/**
 * A device that reads each request and answers nothing (a camera working on a slow CGI), or, with
 * `stream`, answers a chunked stream's head and first part and then goes quiet (an MJPEG camera
 * between frames). It counts the connections it has and records when each one ends.
 */
function thinkingDevice(stream = false) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { open: 0, asked: [] as string[] };
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      state.open++;
      (async () => {
        const buf = new Uint8Array(16 << 10);
        let text = "";
        try {
          for (let n; (n = await conn.read(buf)) !== null;) {
            text += new TextDecoder().decode(buf.subarray(0, n));
            const end = text.indexOf("\r\n\r\n");
            if (end < 0) continue;
            state.asked.push(text.slice(0, text.indexOf(" ", text.indexOf(" ") + 1)));
            text = text.slice(end + 4);
            if (stream) {
              await conn.write(new TextEncoder().encode(
                "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=f\r\n" +
                  "Transfer-Encoding: chunked\r\n\r\n10\r\n--f\r\nframe one..\r\n",
              ));
            }
          }
        } catch { /* closed under it */ }
        state.open--;
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    state,
    close: () => {
      listener.close();
      for (const c of conns) c.close();
      return Promise.resolve();
    },
  };
}

Deno.test("proxy: a browser that leaves while the device is still answering (a request, a stream, a WebSocket handshake) frees the device's connection at once, not after the proxy timeout", async () => {
  const stack = await Stack.start();
  const thinking = thinkingDevice();
  const streaming = thinkingDevice(true);
  stack.defer(thinking.close);
  stack.defer(streaming.close);
  try {
    const q = await stack.quickstart([thinking.port, streaming.port], "Slow");
    await stack.agentFor(q);
    const auth = `Authorization: Bearer ${q.apiToken}\r\nHost: 127.0.0.1\r\n`;
    const settle = async (what: string, device: typeof thinking) => {
      // The default proxy timeout is 30 s: a device connection still open after 20 s was held.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const freed = await Promise.race([
        (async () => {
          while (device.state.open > 0) await new Promise((r) => setTimeout(r, 50));
          return "freed";
        })(),
        new Promise<string>((r) => timer = setTimeout(() => r("still open after 20 s"), 20_000)),
      ]);
      clearTimeout(timer);
      assertEquals(`${what}: ${freed}`, `${what}: freed`);
    };
    const leave = async (
      device: typeof thinking,
      text: string,
      waitFor: (read: string) => boolean = () => true,
    ) => {
      const asked = device.state.asked.length;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.http });
      await conn.write(new TextEncoder().encode(text));
      let read = "";
      const buf = new Uint8Array(4096);
      // One read at a time: a read the 50 ms tick outran is awaited again, never abandoned (its
      // bytes would be lost to a second read).
      let pending: Promise<number | null> | null = null;
      while (device.state.asked.length === asked || !waitFor(read)) {
        pending ??= conn.read(buf);
        const n = await Promise.race([
          pending,
          new Promise<"tick">((r) => setTimeout(() => r("tick"), 50)),
        ]);
        if (n === "tick") continue;
        pending = null;
        if (n === null) throw new Error(`the cloud closed the connection: ${read}`);
        read += new TextDecoder().decode(buf.subarray(0, n));
      }
      assertEquals(device.state.open, 1);
      conn.close();
    };
    const think = q.device.handles[thinking.port];
    // A bodiless GET (the cloud's own HTTP/1.1 path), then a POST (node:http's).
    await leave(thinking, `GET /c/${think}/cgi-bin/slow.cgi HTTP/1.1\r\n${auth}\r\n`);
    await settle("GET", thinking);
    await leave(
      thinking,
      `POST /c/${think}/cgi-bin/slow.cgi HTTP/1.1\r\n${auth}Content-Length: 2\r\n\r\nhi`,
    );
    await settle("POST", thinking);
    assertEquals(thinking.state.asked, ["GET /cgi-bin/slow.cgi", "POST /cgi-bin/slow.cgi"]);
    // A stream the device has gone quiet on: the browser's leaving ends it, with no next part.
    const stream = q.device.handles[streaming.port];
    await leave(
      streaming,
      `GET /c/${stream}/video.mjpg HTTP/1.1\r\n${auth}\r\n`,
      (read) => read.includes("frame one"),
    );
    await settle("stream", streaming);
    // A WebSocket handshake the device has not answered yet: the browser's leaving ends it too.
    await leave(
      thinking,
      `GET /c/${think}/events HTTP/1.1\r\n${auth}Connection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await settle("upgrade", thinking);
    assertEquals(thinking.state.asked.at(-1), "GET /events");

    // The node still answers on the same handle, and the device's next request is a new one.
    const again = await exchange(
      stack.ports.http,
      `GET /c/${stream}/video.mjpg HTTP/1.1\r\n${auth}\r\n`,
      (out) => out.includes("frame one"),
    );
    assertMatch(again, /^HTTP\/1\.1 200 /);
  } finally {
    await stack.stop();
  }
});
