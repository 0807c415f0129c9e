/**
 * The attack module: each finding of the hardening review (issue 11) replayed against a real
 * cloud process (through the stack fixture) with real clients — curl, raw sockets, WebSocket
 * handshakes — plus the attacks that already failed at review time, so they keep failing. One
 * `Deno.test` per finding, one step per shape of the attack. Finding 1 (requests that ended the
 * node) lives in crash_test.ts beside its control-relay test, finding 7 (idle sockets on the data
 * port) in data_port_test.ts, and the fuzzer (tests/fuzz/, fuzz_quick_test.ts) keeps looking for
 * the next one.
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_fixtures/assert.ts";
import { echoServer, type Quickstart, Stack, TEST_ADMIN_KEY } from "../_fixtures/stack.ts";
import { type Camera, startCamera } from "../_fixtures/camera.ts";
import { handleToLabel } from "../../src/cloud/access/proxy/origin.ts";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { controlServiceDefinition } from "../../src/shared/protocol/control.ts";
import type { AgentMessage, CloudMessage } from "../../src/shared/protocol/control.ts";
import { PROTOCOL_VERSION } from "../../src/shared/protocol/wire.ts";
import { loadState } from "../../src/agent/state.ts";
import { DatabaseSync } from "node:sqlite";
import { createCA, createCsr, generateKeyPem, signClientCsr } from "../../src/shared/crypto/pki.ts";

const ControlClient = grpc.makeGenericClientConstructor(controlServiceDefinition, "Control");

/** One control stream with an enrolled agent's certificate, on a connection of its own. */
async function controlStream(
  stack: Stack,
  state: string | { agentId: string; caPem: string; keyPem: string; certPem: string },
) {
  const s = typeof state === "string" ? (await loadState(state))! : state;
  const client = new ControlClient(
    `127.0.0.1:${stack.ports.control}`,
    grpc.credentials.createSsl(
      Buffer.from(s.caPem),
      Buffer.from(s.keyPem),
      Buffer.from(s.certPem),
      { checkServerIdentity: () => undefined },
    ),
    {
      "grpc.ssl_target_name_override": "control.nanodems.invalid",
      "grpc.use_local_subchannel_pool": 1,
    },
  ) as unknown as grpc.Client & { Connect(): grpc.ClientDuplexStream<AgentMessage, CloudMessage> };
  const call = client.Connect();
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    call.on("error", (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
    call.on("end", () => resolve({ code: 0, details: "end" }));
  });
  const welcomed = new Promise<boolean>((resolve) => {
    call.on("data", (m: CloudMessage) => m.welcome && resolve(true));
    ended.then(() => resolve(false));
  });
  return {
    agentId: s.agentId,
    hello(hostname: string) {
      call.write({
        hello: {
          agentId: s.agentId,
          version: "attack",
          hostname,
          os: "linux/x86_64",
          protocol: PROTOCOL_VERSION,
          allowlistVersion: 0,
        },
      } as AgentMessage);
    },
    ended,
    welcomed,
    close() {
      call.cancel();
      client.close();
    },
  };
}

/** `p`, or a failure naming `what` after `ms` (a functional bound, so old code fails, not hangs). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Waits until `cond()` holds, checking every 50 ms; fails after `ms`. */
async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Audit entries of one action, newest first, through the admin CLI. */
async function auditOf(stack: Stack, action: string) {
  const r = await stack.admin<{
    entries: { action: string; actor: string; target: string; detail: unknown }[];
  }>("audit", "--action", action, "--limit", "1000");
  return r.entries;
}

/** Runs curl; returns the status, the head (lower-cased names kept as sent) and the body. */
async function curl(args: string[]): Promise<{ status: number; head: string; body: string }> {
  const out = await new Deno.Command("curl", {
    args: ["-s", "-i", "--max-time", "30", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  return { status: Number(head.split(" ")[1]), head, body: split < 0 ? "" : text.slice(split + 4) };
}

/** Sends raw bytes (and optionally more, slowly) and returns what came back up to the close. */
async function rawExchange(
  port: number,
  text: string | Uint8Array,
  o: { untilHead?: boolean; ms?: number } = {},
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  let out = "";
  const timer = setTimeout(() => conn.close(), o.ms ?? 15_000);
  try {
    await conn.write(bytes);
    const buf = new Uint8Array(16 << 10);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
      if (o.untilHead && out.includes("\r\n\r\n")) break;
    }
  } catch { /* closed (by the peer or the timer) */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  return out;
}

/** A WebSocket handshake on a raw socket; the answer's status and head. */
async function upgrade(
  port: number,
  path: string,
  headers: string[],
): Promise<{ status: number; head: string }> {
  const req = `GET ${path} HTTP/1.1\r\n` +
    [
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...headers,
    ].join("\r\n") + "\r\n\r\n";
  const text = await rawExchange(port, req, { untilHead: true });
  return { status: Number(text.split(" ")[1]), head: text.split("\r\n\r\n")[0] };
}

/** A cloud, a fake camera, a tenant whose device is the camera, an agent, a signed-in user. */
async function withCamera(
  fn: (w: {
    stack: Stack;
    cam: Camera;
    q: Quickstart;
    handle: string;
    cookie: string;
    /** The antiforgery token the cloud's pages carry for that session. */
    csrf: string;
  }) => Promise<void>,
  cloudArgs: string[] = [],
): Promise<void> {
  const stack = await Stack.start({ cloudArgs });
  const cam = await startCamera();
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port], "Cam");
    await stack.agentFor(q);
    const user = await stack.addUser(q.tenantId);
    const { cookie, csrf } = await stack.session(user.email, user.password);
    await fn({ stack, cam, q, handle: q.device.handles[cam.port], cookie, csrf });
  } finally {
    await stack.stop();
  }
}

Deno.test("attack 2: cookie WebSocket upgrades from a foreign Origin, or without the page's token, are refused", async (t) => {
  await withCamera(async ({ stack, cam, handle, cookie, csrf, q }) => {
    const port = stack.ports.http;
    const host = `127.0.0.1:${port}`;
    const wsSeen = () => cam.seen.filter((r) => r.path === "/ws/events").length;

    await t.step(
      "/c/{h}/ with the session cookie and Origin http://evil.example: 403",
      async () => {
        const before = wsSeen();
        const r = await upgrade(port, `/c/${handle}/ws/events`, [
          `Host: ${host}`,
          `Cookie: ${cookie}`,
          "Origin: http://evil.example",
        ]);
        assertEquals(r.status, 403, r.head);
        assertEquals(wsSeen(), before, "the device saw the upgrade");
      },
    );
    await t.step("Origin: null and a malformed Origin: 403", async () => {
      for (const origin of ["null", "http://[::1", `http://${host}.evil.example`]) {
        const r = await upgrade(port, `/c/${handle}/ws/events`, [
          `Host: ${host}`,
          `Cookie: ${cookie}`,
          `Origin: ${origin}`,
        ]);
        assertEquals(r.status, 403, `${origin}: ${r.head}`);
      }
    });
    await t.step("the cloud's own origin: 101 and the device's WebSocket opens", async () => {
      const before = wsSeen();
      const r = await upgrade(port, `/c/${handle}/ws/events`, [
        `Host: ${host}`,
        `Cookie: ${cookie}`,
        `Origin: http://${host}`,
      ]);
      assertEquals(r.status, 101, r.head);
      assertEquals(wsSeen(), before + 1);
    });
    await t.step("a Bearer token (no cookie) is not a browser's ambient credential", async () => {
      const r = await upgrade(port, `/c/${handle}/ws/events`, [
        `Host: ${host}`,
        `Authorization: Bearer ${q.apiToken}`,
        "Origin: http://evil.example",
      ]);
      assertEquals(r.status, 101, r.head);
    });
    await t.step("held: /api/tunnel/{h} with the cookie from a foreign Origin: 403", async () => {
      const r = await upgrade(port, `/api/tunnel/${handle}`, [
        `Host: ${host}`,
        `Cookie: ${cookie}`,
        "Origin: http://evil.example",
      ]);
      assertEquals(r.status, 403, r.head);
    });
    // A device page under /c/ shares the cloud's origin, and its WebSocket handshakes carry the
    // cookie and no Referer, as the cloud's pages' do: only the page's token tells them apart.
    const own = [`Host: ${host}`, `Cookie: ${cookie}`, `Origin: http://${host}`];
    await t.step(
      "the cloud's own Origin without the page's token (a device page's handshake): the tunnel, the live view and the terminal refuse it",
      async () => {
        for (const path of [`/api/tunnel/${handle}`, `/api/live/${handle}?path=/x`]) {
          for (const offered of [[], ["Sec-WebSocket-Protocol: nc-live, csrf.not-the-token"]]) {
            const r = await upgrade(port, path, [...own, ...offered]);
            assertEquals(r.status, 400, `${path} ${offered}: ${r.head}`);
          }
        }
        const term = await upgrade(port, `/api/terminal/${handle}`, own);
        assertEquals(term.status, 400, term.head);
      },
    );
    await t.step(
      "with the page's token offered as the cloud's pages do: the tunnel opens",
      async () => {
        const r = await upgrade(port, `/api/tunnel/${handle}`, [
          ...own,
          `Sec-WebSocket-Protocol: nc-tunnel, csrf.${csrf}`,
        ]);
        assertEquals(r.status, 101, r.head);
        assertStringIncludes(r.head, "Sec-WebSocket-Protocol: nc-tunnel");
      },
    );
    await t.step(
      "the live player asking why with a stale token hears to reload the page",
      async () => {
        const ask = (token: string) =>
          fetch(`${stack.url}/api/live/${handle}?path=/x`, {
            headers: {
              cookie,
              accept: "application/json",
              "x-csrf-token": token,
              referer: `${stack.url}/live/${handle}`,
              "sec-fetch-site": "same-origin",
              "sec-fetch-mode": "cors",
            },
          });
        const stale = await ask("a-token-of-an-earlier-session");
        assertEquals([stale.status, (await stale.json()).message], [
          400,
          "Antiforgery token mismatch. Hard-refresh the page (Ctrl+Shift+R) and try again.",
        ]);
        const fresh = await ask(csrf);
        assertEquals(fresh.status, 426, await fresh.text());
      },
    );
  });
});

Deno.test("attack 2: device origins (--proxy-domain) take cookie upgrades only from themselves", async () => {
  await withCamera(async ({ stack, handle, q }) => {
    const port = stack.ports.http;
    const host = `${handleToLabel(handle)}.localhost:${port}`;
    // The hand-over: /c/{h}/ on the cloud issues a grant, the device origin trades it for nc_dev.
    const handover = await fetch(`${stack.url}/c/${handle}/`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
      redirect: "manual",
    });
    await handover.body?.cancel();
    assertEquals(handover.status, 302);
    const grant = new URL(handover.headers.get("location")!);
    const traded = await rawExchange(
      port,
      `GET ${grant.pathname}${grant.search} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    const devCookie = /set-cookie: (nc_dev=[^;]+)/i.exec(traded)![1];
    const evil = await upgrade(port, "/ws/events", [
      `Host: ${host}`,
      `Cookie: ${devCookie}`,
      `Origin: http://${handleToLabel("h-" + "A".repeat(22))}.localhost:${port}`,
    ]);
    assertEquals(evil.status, 403, evil.head);
    const own = await upgrade(port, "/ws/events", [
      `Host: ${host}`,
      `Cookie: ${devCookie}`,
      `Origin: http://${host}`,
    ]);
    assertEquals(own.status, 101, own.head);
  }, ["--proxy-domain", "localhost"]);
});

Deno.test("attack 3: device redirects never leave the cloud's origin", async (t) => {
  await withCamera(async ({ stack, cam, handle, q }) => {
    const base = `${stack.url}/c/${handle}`;
    const auth = ["-H", `authorization: Bearer ${q.apiToken}`];
    const redirect = (params: Record<string, string>, extra: string[] = []) =>
      curl([...auth, ...extra, `${base}/redirect?${new URLSearchParams(params)}`]);
    const headerOf = (head: string, name: string) =>
      new RegExp(`^${name}: (.*)$`, "im").exec(head)?.[1]?.trim() ?? null;

    await t.step("foreign Location shapes are replaced by the cloud's page", async () => {
      for (
        const loc of [
          "//evil.example/x",
          "/\\evil.example/x",
          "\\\\evil.example/x",
          "http://192.0.2.1/x",
          "https://evil.example/",
          " //evil.example/x",
          "/\t/evil.example/x",
          `http://127.0.0.1:${cam.port + 1}/x`,
          "javascript:alert(1)",
        ]
      ) {
        const r = await redirect({ location: loc });
        assertEquals(r.status, 302, loc);
        assertEquals(headerOf(r.head, "location"), null, `${loc}: ${r.head}`);
        const body = JSON.parse(r.body);
        assertEquals(body.error, "foreign_redirect");
        assertEquals(body.location, loc.trim());
        assert(!r.body.includes("device body"), "the device's body was relayed");
      }
    });
    await t.step("a browser gets a small page showing the address as text", async () => {
      const r = await redirect({ location: "http://192.0.2.1/<b>x</b>" }, [
        "-H",
        "accept: text/html",
      ]);
      assertEquals(r.status, 302);
      assertEquals(headerOf(r.head, "location"), null);
      assertStringIncludes(r.body, "http://192.0.2.1/&#60;b&#62;x&#60;/b&#62;");
      assertEquals(headerOf(r.head, "x-frame-options"), "DENY");
    });
    await t.step(
      "Refresh to a foreign address (with and without url=) is not relayed",
      async () => {
        for (
          const refresh of ["0;url=http://192.0.2.1/", "0; http://192.0.2.1/", "1; URL='//evil'"]
        ) {
          const r = await redirect({ refresh, status: "200" });
          assertEquals(headerOf(r.head, "refresh"), null, `${refresh}: ${r.head}`);
          assertEquals(JSON.parse(r.body).error, "foreign_redirect");
        }
      },
    );
    await t.step("a foreign Content-Location is dropped, the body kept", async () => {
      const r = await redirect({ "content-location": "http://192.0.2.1/x", status: "200" });
      assertEquals(r.status, 200);
      assertEquals(headerOf(r.head, "content-location"), null);
      assertStringIncludes(r.body, "device body");
    });
    await t.step("the device's own addresses move under /c/{h}/", async () => {
      const self = `http://127.0.0.1:${cam.port}`;
      const cases: [Record<string, string>, string, string][] = [
        [{ location: "/doc/x?a=1" }, "location", `/c/${handle}/doc/x?a=1`],
        [{ location: `${self}/doc/y` }, "location", `/c/${handle}/doc/y`],
        [{ location: `//127.0.0.1:${cam.port}/doc/z` }, "location", `/c/${handle}/doc/z`],
        [{ location: "\\doc\\w" }, "location", `/c/${handle}/doc/w`],
        [{ location: "relative/page" }, "location", "relative/page"],
        [{ refresh: `0;url=${self}/r`, status: "200" }, "refresh", `0;url=/c/${handle}/r`],
        [{ "content-location": "/cl", status: "200" }, "content-location", `/c/${handle}/cl`],
      ];
      for (const [params, name, want] of cases) {
        const r = await redirect(params);
        assertEquals(headerOf(r.head, name), want, JSON.stringify(params));
      }
    });
  });
});

Deno.test("attack 3: a meta refresh in device HTML never leaves the cloud's origin", async (t) => {
  // The "foreign" host: a loopback listener that records every connection (it must see none).
  const foreign = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fport = (foreign.addr as Deno.NetAddr).port;
  let dialed = 0;
  (async () => {
    for await (const c of foreign) {
      dialed++;
      c.close();
    }
  })();
  try {
    await withCamera(async ({ stack, handle, q, cookie }) => {
      const base = `${stack.url}/c/${handle}`;
      const away = `http://127.0.0.1:${fport}/`;
      const markup = (html: string) =>
        curl([
          "-H",
          `authorization: Bearer ${q.apiToken}`,
          `${base}/markup?${new URLSearchParams({ html })}`,
        ]);
      const leaving = (to: string) =>
        `/c/${handle}/.nc-leaving?to=${encodeURIComponent(to)}`.replace(/&/g, "&amp;");

      await t.step(
        "every spelling of a foreign meta refresh points at the cloud's page",
        async () => {
          const shapes: [string, string][] = [
            [`<meta http-equiv="refresh" content="0;url=${away}">`, away],
            [`<META HTTP-EQUIV=Refresh CONTENT='0; URL=${away}'>`, away],
            [`<body><p>x</p><meta http-equiv=refresh content="0 ;url = '${away}'"></body>`, away],
            [`<meta content="0;${away}" http-equiv="REFRESH">`, away],
            [
              `<meta http-equiv="refresh" content="0;url=//127.0.0.1:${fport}/">`,
              `//127.0.0.1:${fport}/`,
            ],
            [
              `<meta http-equiv="refresh" content="0;url=/\\127.0.0.1:${fport}/">`,
              `/\\127.0.0.1:${fport}/`,
            ],
            [`<meta content="0;url=${away}>" http-equiv="refresh">`, `${away}>`],
            [`<!--><meta http-equiv="refresh" content="0;url=${away}">-->`, away],
            [
              `<meta http-equiv="&#114;efresh" content="0;url=http&#58;//127.0.0.1:${fport}/">`,
              away,
            ],
          ];
          for (const [html, to] of shapes) {
            const r = await markup(html);
            assertEquals(r.status, 200, html);
            assertStringIncludes(r.body, leaving(to), html);
            assert(!/content=["']?[^"'>]*url\s*=\s*['"]?(?:http|\/\/|\/\\)/i.test(r.body), r.body);
          }
        },
      );
      await t.step("a UTF-16 page is read as the browser reads it and sent as UTF-8", async () => {
        const html = `<meta http-equiv="refresh" content="0;url=${away}"><p>x</p>`;
        const r = await curl([
          "-H",
          `authorization: Bearer ${q.apiToken}`,
          `${base}/markup?${new URLSearchParams({ html, utf16: "1" })}`,
        ]);
        assertEquals(r.status, 200);
        assertMatch(r.head, /^content-type: text\/html; charset=utf-8\r?$/im);
        assertStringIncludes(r.body, leaving(away));
      });
      await t.step(
        "an untyped page is sniffed as a browser would: rewritten, or nosniff",
        async () => {
          const get = (html: string) =>
            curl([
              "-H",
              `authorization: Bearer ${q.apiToken}`,
              `${base}/markup?${new URLSearchParams({ html, notype: "1" })}`,
            ]);
          const page = await get(`<html><meta http-equiv="refresh" content="0;url=${away}">`);
          assertMatch(page.head, /^content-type: text\/html; charset=utf-8\r?$/im);
          assertStringIncludes(page.body, leaving(away));
          const other = await get(`x<meta http-equiv="refresh" content="0;url=${away}">`);
          assertMatch(other.head, /^x-content-type-options: nosniff\r?$/im);
        },
      );
      await t.step("a refresh that stays on the device moves under /c/{h}/", async () => {
        const r = await markup(`<meta http-equiv="refresh" content="2; url=/doc/page.asp">`);
        assertStringIncludes(r.body, `content="2; url=/c/${handle}/doc/page.asp"`);
      });
      await t.step("the cloud's page shows the address as text and follows nothing", async () => {
        const r = await curl([
          "-H",
          `authorization: Bearer ${q.apiToken}`,
          "-H",
          "accept: text/html",
          `${base}/.nc-leaving?to=${encodeURIComponent(away + "<b>")}`,
        ]);
        assertEquals(r.status, 200);
        assertStringIncludes(r.body, `127.0.0.1:${fport}/&#60;b&#62;`);
        assert(!/refresh|location/i.test(r.head), r.head);
      });
      await t.step("Chromium stays on the cloud's origin and never dials the address", async () => {
        const { launchBrowser } = await import("../_fixtures/browser.ts");
        const browser = await launchBrowser();
        try {
          const context = await browser.newContext();
          const [name, value] = cookie.split(";")[0].split("=");
          await context.addCookies([{ name, value, url: stack.url }]);
          const page = await context.newPage();
          const html = `<html><head><meta http-equiv="refresh" content="0;url=${away}"></head>` +
            `<body>camera</body></html>`;
          await page.goto(`${base}/markup?${new URLSearchParams({ html })}`);
          await page.waitForURL(/\/\.nc-leaving\?/, { timeout: 15_000 });
          assertEquals(new URL(page.url()).origin, stack.url);
          assertStringIncludes(await page.textContent("body") ?? "", away);
          await new Promise((r) => setTimeout(r, 500));
          assertEquals(new URL(page.url()).origin, stack.url);
        } finally {
          await browser.close();
        }
        assertEquals(dialed, 0, "the foreign address was dialed");
      });
    });
  } finally {
    foreign.close();
  }
});

Deno.test("attack 6: request bodies are limited before they are read", async (t) => {
  const stack = await Stack.start();
  try {
    const port = stack.ports.http;
    await t.step("a declared 200 MB body to /api/auth/login: 413 without reading it", async () => {
      const text = await rawExchange(
        port,
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" +
          `content-length: ${200 << 20}\r\n\r\n{"email":`,
      );
      assertMatch(text, /^HTTP\/1\.1 413 /);
      const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
      assertEquals(body.error, "payload_too_large");
      assert(typeof body.message === "string");
    });
    await t.step("a chunked body over 1 MiB to /api/agents/enroll: 413", async () => {
      const chunk = "x".repeat(64 << 10);
      let req =
        "POST /api/agents/enroll HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n" +
        "transfer-encoding: chunked\r\n\r\n";
      for (let i = 0; i < 24; i++) req += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
      const text = await rawExchange(port, req + "0\r\n\r\n");
      assertMatch(text, /^HTTP\/1\.1 413 /);
      assertStringIncludes(text, '"payload_too_large"');
    });
    await t.step("a small body still gets its ordinary answer", async () => {
      const r = await fetch(`${stack.url}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody@example.com", password: "x" }),
      });
      await r.body?.cancel();
      assertEquals(r.status, 401);
    });
  } finally {
    await stack.stop();
  }
});

Deno.test("attack 4: control streams are bounded per certificate; unknown and revoked CNs cut at once", async (t) => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([9], "Ctl");
    const enrolled = await stack.enroll(q.enrollmentToken);
    assertEquals(enrolled.code, 0, enrolled.stderr);
    await t.step("more than 4 streams for one certificate: RESOURCE_EXHAUSTED", async () => {
      const streams = [];
      const ends: { code: number; details: string }[] = [];
      for (let i = 0; i < 7; i++) {
        const st = await controlStream(stack, enrolled.state);
        st.ended.then((e) => ends.push(e));
        streams.push(st);
      }
      // None says Hello: four are held (until the 10 s Hello timer), three are refused at once.
      await waitUntil(() => ends.length >= 3, 9_000);
      for (const e of ends.slice(0, 3)) {
        assertEquals(e.code, grpc.status.RESOURCE_EXHAUSTED, e.details);
      }
      for (const st of streams) st.close();
    });
    await t.step(
      "one connection carries at most 4 streams (the rest wait in the client)",
      async () => {
        await new Promise((r) => setTimeout(r, 500)); // the streams above are counted off
        const s = (await loadState(enrolled.state))!;
        const client = new ControlClient(
          `127.0.0.1:${stack.ports.control}`,
          grpc.credentials.createSsl(
            Buffer.from(s.caPem),
            Buffer.from(s.keyPem),
            Buffer.from(s.certPem),
            { checkServerIdentity: () => undefined },
          ),
          { "grpc.ssl_target_name_override": "control.nanodems.invalid" },
        ) as unknown as grpc.Client & {
          Connect(): grpc.ClientDuplexStream<AgentMessage, CloudMessage>;
        };
        const codes: number[] = [];
        const calls = Array.from({ length: 8 }, () => {
          const c = client.Connect();
          c.on("error", (e: grpc.ServiceError) => codes.push(e.code));
          c.on("data", () => {});
          return c;
        });
        // Were all 8 to reach the server, the 4-per-certificate bound would refuse 4 at once.
        await new Promise((r) => setTimeout(r, 2_000));
        assertEquals(codes, [], "streams beyond the per-connection bound reached the server");
        for (const c of calls) c.cancel();
        client.close();
      },
    );
    await t.step("a Hello over the size bound is refused; a long hostname is clipped", async () => {
      await new Promise((r) => setTimeout(r, 500)); // the closed streams above are counted off
      const big = await controlStream(stack, enrolled.state);
      big.hello("h".repeat(100_000));
      const e = await within(big.ended, 10_000, "an oversized Hello was not refused");
      assertEquals(e.code, grpc.status.INVALID_ARGUMENT, e.details);
      big.close();
      const ok = await controlStream(stack, enrolled.state);
      ok.hello("x".repeat(3000));
      assert(
        await within(ok.welcomed, 10_000, "welcome"),
        "a valid agent with a long hostname was not welcomed",
      );
      const agents = await (await fetch(`${stack.url}/api/agents`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      })).json();
      const host = (agents.items ?? agents).find((a: { id: string }) => a.id === ok.agentId)
        ?.hostname as string;
      assert(host.length < 300 && host.includes("more chars]"), host.slice(0, 300));
      ok.close();
    });
    await t.step("a revoked agent's Hellos add bounded, sampled audit rows", async () => {
      const { agentId } = (await loadState(enrolled.state))!;
      await stack.admin("agent", "revoke", "--tenant", q.tenantId, "--agent", agentId);
      for (let i = 0; i < 30; i++) {
        const st = await controlStream(stack, enrolled.state);
        st.hello("r".repeat(500_000));
        const e = await within(st.ended, 10_000, "a revoked agent's stream was not cut");
        assertEquals(e.code, grpc.status.PERMISSION_DENIED, e.details);
        st.close();
      }
      const rows = await auditOf(stack, "agent.reject_revoked");
      assert(rows.length >= 1 && rows.length <= 20, `${rows.length} rows`);
      for (const r of rows) {
        assert(JSON.stringify(r).length < 1000, JSON.stringify(r).slice(0, 200));
      }
    });
  } finally {
    await stack.stop();
  }
});

Deno.test("attack 5: identity-less refusals are sampled per address and clipped", async (t) => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([9], "Aud");
    const handle = Object.values(q.device.handles)[0];
    const longPath = "/api/tunnel/h-" + "p".repeat(8000);
    await t.step("100 requests with a wrong admin key: at most 20 short rows", async () => {
      for (let i = 0; i < 100; i++) {
        const r = await fetch(stack.url + longPath, { headers: { "x-admin-api-key": "nope" } });
        await r.body?.cancel();
        assertEquals(r.status, 401);
      }
      const rows = await auditOf(stack, "admin_key.deny");
      assert(rows.length >= 1 && rows.length <= 20, `${rows.length} rows`);
      for (const r of rows) {
        assert(JSON.stringify(r).length < 1000, JSON.stringify(r).slice(0, 200));
      }
    });
    await t.step("RTSP players with a refused credential share the address's budget", async () => {
      for (let i = 0; i < 40; i++) {
        const text = await rawExchange(
          stack.ports.rtsp,
          `OPTIONS rtsp://127.0.0.1:${stack.ports.rtsp}/${handle}/x RTSP/1.0\r\nCSeq: 1\r\n` +
            `Authorization: Basic ${btoa("x:nt_" + "a".repeat(43))}\r\n\r\n`,
          { untilHead: true },
        );
        assertMatch(text, /^RTSP\/1\.0 401 /);
      }
      const rtsp = (await auditOf(stack, "tunnel.deny")).filter((r) =>
        JSON.stringify(r.detail).includes("rtsp")
      );
      const keys = await auditOf(stack, "admin_key.deny");
      assert(rtsp.length + keys.length <= 20, `${rtsp.length} + ${keys.length} rows`);
    });
    await t.step("refused enrollments and rate-limited sign-ins share the budget", async () => {
      const csr = await createCsr({ keyPem: await generateKeyPem(), commonName: "x" });
      for (let i = 0; i < 30; i++) {
        const r = await fetch(`${stack.url}/api/agents/enroll`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token: `enr_${"A".repeat(43)}`, csr }),
        });
        await r.body?.cancel();
        assertEquals(r.status, 401);
        const l = await fetch(`${stack.url}/api/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: "victim@example.com", password: "guess" }),
        });
        await l.body?.cancel();
      }
      let total = 0;
      for (
        const a of ["agent.enroll_denied", "auth.rate_limited", "admin_key.deny", "tunnel.deny"]
      ) {
        total += (await auditOf(stack, a)).length;
      }
      assert(total <= 20, `${total} identity-less rows from one address in a minute`);
    });
    await t.step(
      "a valid admin key on a route that does not take it is refused, not a deny",
      async () => {
        const before = (await auditOf(stack, "admin_key.deny")).length;
        const r = await fetch(`${stack.url}/api/sites`, {
          headers: { "x-admin-api-key": TEST_ADMIN_KEY },
        });
        const body = await r.json();
        assertEquals(r.status, 403);
        assertStringIncludes(body.message, "admin API key is not accepted");
        assertEquals((await auditOf(stack, "admin_key.deny")).length, before);
      },
    );
  } finally {
    await stack.stop();
  }
});

/** A minimal RTSP device: answers every request 200 with its CSeq and keeps the connection. */
function fakeRtspDevice(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(8192);
        let text = "";
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            text += new TextDecoder().decode(buf.subarray(0, n));
            let end;
            while ((end = text.indexOf("\r\n\r\n")) >= 0) {
              const cseq = /CSeq:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? "0";
              text = text.slice(end + 4);
              await conn.write(
                new TextEncoder().encode(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n\r\n`),
              );
            }
          }
        } catch { /* closed */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      listener.close();
    },
  };
}

/** An RTSP connection to the gateway that sends OPTIONS and reports when the gateway closes it. */
async function rtspSession(port: number, url: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(`OPTIONS ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  const first = new TextDecoder().decode(buf.subarray(0, n ?? 0));
  let open = true;
  const closed = (async () => {
    try {
      while ((await conn.read(buf)) !== null) { /* drain */ }
    } catch { /* reset */ }
    open = false;
  })();
  return {
    first,
    isOpen: () => open,
    closed,
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

Deno.test("attack 9: a signed-URL RTSP stream is cut by its own credential only", async (t) => {
  const stack = await Stack.start();
  const dev = fakeRtspDevice();
  stack.defer(() => Promise.resolve(dev.close()));
  try {
    const q = await stack.quickstart([dev.port], "Rtsp");
    const other = await stack.quickstart([dev.port], "Other");
    await stack.agentFor(q);
    const handle = q.device.handles[dev.port];
    const api = (method: string, path: string, token: string, body?: unknown) =>
      fetch(stack.url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    // A second API token of the same user mints the URL, so revoking it revokes only the URL.
    const minted = await (await api("POST", "/api/account/tokens", q.apiToken, { name: "rtsp" }))
      .json();
    const res = await api("POST", `/api/handles/${handle}/rtsp-url`, minted.token, {
      path: "live",
    });
    const { url } = await res.json();
    assertEquals(res.status, 201);
    const session = await rtspSession(stack.ports.rtsp, url);
    assertMatch(session.first, /^RTSP\/1\.0 200 /);

    await t.step("another tenant's changes do not cut it", async () => {
      const patched = await api("PATCH", `/api/devices/${other.device.deviceId}`, other.apiToken, {
        label: "renamed",
      });
      assertEquals(patched.status, 200, await patched.text());
      const token = await (await api("POST", "/api/account/tokens", other.apiToken, { name: "x" }))
        .json();
      await api("DELETE", `/api/account/tokens/${token.id}`, other.apiToken).then((r) =>
        r.body?.cancel()
      );
      // The change watcher revalidates within about a second; give it three.
      await new Promise((r) => setTimeout(r, 3_000));
      assert(session.isOpen(), "an unrelated change closed the signed-URL stream");
      assertEquals(stack.cloud.count(/closed connections whose credentials were revoked/), 0);
    });
    await t.step("revoking the minting token cuts it within 2 s", async () => {
      const r = await api("DELETE", `/api/account/tokens/${minted.id}`, q.apiToken);
      await r.body?.cancel();
      const cut = await Promise.race([
        session.closed.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5_000)),
      ]);
      assert(cut, "the stream outlived its minting token");
    });
    session.close();
    await t.step(
      "a URL minted in a browser session ends with that session's sign-out",
      async () => {
        const user = await stack.addUser(q.tenantId);
        const login = await fetch(`${stack.url}/api/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: user.email, password: user.password }),
        });
        const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
        const { csrfToken } = await login.json();
        const browser = { cookie, "x-csrf-token": csrfToken, "content-type": "application/json" };
        const m = await fetch(`${stack.url}/api/handles/${handle}/rtsp-url`, {
          method: "POST",
          headers: browser,
          body: JSON.stringify({ path: "live" }),
        });
        assertEquals(m.status, 201);
        const viaSession = await rtspSession(stack.ports.rtsp, (await m.json()).url);
        assertMatch(viaSession.first, /^RTSP\/1\.0 200 /);
        const out = await fetch(`${stack.url}/api/auth/logout`, {
          method: "POST",
          headers: browser,
        });
        await out.body?.cancel();
        const cut = await Promise.race([
          viaSession.closed.then(() => true),
          new Promise((r) => setTimeout(() => r(false), 5_000)),
        ]);
        assert(cut, "the stream outlived the session that minted its URL");
        viaSession.close();
      },
    );
  } finally {
    await stack.stop();
  }
});

/** Runs a connector command with a given stdin and environment. */
async function connector(
  args: string[],
  o: { stdin?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../src/main.ts", import.meta.url).pathname, ...args],
    env: { NO_COLOR: "1", ...o.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  if (o.stdin !== undefined) await w.write(new TextEncoder().encode(o.stdin));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("attack 8: secrets stay off command lines, in every form the product shows", async (t) => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([9], "Sec");
    const session = await stack.cliSession(q) as { id: string; token: string; command?: string };
    await t.step("the ready command feeds the token on standard input", () => {
      const command = session.command!;
      assertMatch(
        command,
        new RegExp(`^echo ${session.token} \\| nanodems-tunnel run --cloud \\S+ --token -$`),
      );
      assert(!command.split("|")[1].includes(session.token), command);
    });
    const status = ["tunnel", "status", "--cloud", stack.url];
    await t.step(
      "--token - (stdin), --token-file and NC_TOKEN work without a warning",
      async () => {
        const file = await Deno.makeTempFile();
        stack.defer(() => Deno.remove(file));
        await Deno.writeTextFile(file, session.token + "\n");
        for (
          const r of [
            await connector([...status, "--token", "-"], { stdin: session.token + "\n" }),
            await connector([...status, "--token-file", file]),
            await connector(status, { env: { NC_TOKEN: session.token } }),
          ]
        ) {
          assertEquals(r.code, 0, r.stderr);
          assertStringIncludes(r.stdout, "session valid until");
          assert(!r.stderr.includes("warning"), r.stderr);
        }
      },
    );
    await t.step("a token typed as a flag value still works, with a one-line warning", async () => {
      const r = await connector([...status, "--token", session.token]);
      assertEquals(r.code, 0, r.stderr);
      const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning:"));
      assertEquals(warnings.length, 1, r.stderr);
      assertStringIncludes(warnings[0], "--token-file");
      assert(!warnings[0].includes(session.token));
    });
    await t.step("agent enroll takes its token on standard input", async () => {
      const r = await connector(
        ["agent", "enroll", "--cloud", stack.url, "--token", "-", "--state", `${stack.dir}/a8`],
        { stdin: q.enrollmentToken },
      );
      assertEquals(r.code, 0, r.stderr);
      assert(!r.stderr.includes("warning"), r.stderr);
    });
  } finally {
    await stack.stop();
  }
});

Deno.test("attack 10: the admin key rotates from a re-read file and can be pinned to addresses", async (t) => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/admin.keys`;
  const keyA = "rotation-key-A-7Hq2Lw9Zp4Xc1Vb8Nm3Kd6Fg";
  const keyB = "rotation-key-B-Qe5Rt8Yu1Io4Pa7Sd0Fg3Hj";
  await Deno.writeTextFile(file, keyA + "\n", { mode: 0o600 });
  const stack = await Stack.start({
    cloudArgs: [
      "--admin-api-key-file",
      file,
      "--trusted-proxies",
      "127.0.0.1/32",
      "--admin-api-key-cidrs",
      "192.0.2.0/24",
    ],
    cloudEnv: { NC_ADMIN_API_KEY: "" },
  });
  stack.defer(() => Deno.remove(dir, { recursive: true }));
  // A tunnel request with the admin key: 404 (unknown handle) once the key is accepted.
  const statusWith = async (key: string, from = "192.0.2.7") => {
    const r = await fetch(`${stack.url}/api/tunnel/h-${"A".repeat(22)}`, {
      headers: { "x-admin-api-key": key, "x-forwarded-for": from },
    });
    await r.body?.cancel();
    return r.status;
  };
  const eventually = async (key: string, want: number) => {
    const end = Date.now() + 10_000;
    let got = 0;
    while ((got = await statusWith(key)) !== want && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals(got, want, key);
  };
  try {
    await t.step("the key from the file works; another does not", async () => {
      assertEquals(await statusWith(keyA), 404);
      assertEquals(await statusWith(keyB), 401);
    });
    await t.step("two keys during the rotation window, then only the new one", async () => {
      await Deno.writeTextFile(file, `${keyB}\n${keyA}\n`);
      await eventually(keyB, 404);
      assertEquals(await statusWith(keyA), 404);
      await Deno.writeTextFile(file, `# rotated\n${keyB}\n`);
      await eventually(keyA, 401);
      assertEquals(await statusWith(keyB), 404);
    });
    await t.step("--admin-api-key-cidrs: a valid key from elsewhere is a 403", async () => {
      assertEquals(await statusWith(keyB, "198.51.100.1"), 403);
    });
  } finally {
    await stack.stop();
  }
});

Deno.test("attack 10: the smaller ones", async (t) => {
  const stack = await Stack.start({ cloudArgs: ["--trusted-proxies", "127.0.0.1/32"] });
  try {
    const q = await stack.quickstart([9], "Small");
    const other = await stack.quickstart([9], "Other");
    const handle = Object.values(q.device.handles)[0];
    const user = await stack.addUser(q.tenantId);
    const cookie = await stack.signIn(user.email, user.password);
    const login = async (password: string, iface = "127.0.0.1") =>
      (await curl([
        "--interface",
        iface,
        "-H",
        "content-type: application/json",
        "--data",
        JSON.stringify({ email: user.email, password }),
        `${stack.url}/api/auth/login`,
      ])).status;

    await t.step("same-kind duplicate identities are a 400", async () => {
      const lic1 = "11111111-2222-3333-4444-555555555555";
      const lic2 = "66666666-7777-8888-9999-000000000000";
      const r1 = await fetch(`${stack.url}/api/tunnel/${handle}`, {
        headers: { "x-license": lic1, "sec-websocket-protocol": `license.${lic2}` },
      });
      assertEquals(r1.status, 400, await r1.text());
      const otherCookie = await stack.signIn(user.email, user.password);
      const r2 = await fetch(`${stack.url}/api/auth/me`, {
        headers: { cookie: `${cookie}; ${otherCookie}` },
      });
      assertEquals((await r2.json()).error, "conflicting_credentials");
      assertEquals(r2.status, 400);
    });
    await t.step("successful sign-ins do not count toward the limit", async () => {
      for (let i = 0; i < 8; i++) assertEquals(await login(user.password), 200);
    });
    await t.step("an account lock lets the right password through from a new address", async () => {
      for (let i = 0; i < 5; i++) assertEquals(await login("wrong password"), 401);
      assertEquals(await login(user.password), 429, "the failing address stays limited");
      assertEquals(await login("wrong again", "127.0.0.2"), 429, "a wrong one is refused");
      assertEquals(await login(user.password, "127.0.0.3"), 200, "the owner gets in");
    });
    await t.step("behind a trusted proxy the limits count the client", async () => {
      // The steps above limited 127.0.0.1, this proxy's own address. Counted by the socket, every
      // user behind a load balancer would now be locked out by one guesser.
      assertEquals(await login(user.password), 429, "the proxy's address itself is limited");
      const r = await curl([
        "-H",
        "content-type: application/json",
        "-H",
        "x-forwarded-for: 198.51.100.8",
        "--data",
        JSON.stringify({ email: user.email, password: user.password }),
        `${stack.url}/api/auth/login`,
      ]);
      assertEquals(r.status, 200, "another client behind the same proxy signs in");
    });
    await t.step("an IPv6 /64 is one client to the sign-in limits", async () => {
      // Behind the trusted proxy (127.0.0.1), X-Forwarded-For names the client. One host on
      // IPv6 makes up new addresses in its /64 at will: each failure from a new one still
      // counts against the one network, and new addresses in it are limited too.
      const guessed = await stack.addUser(q.tenantId);
      const from = (client: string, password: string) =>
        curl([
          "-H",
          "content-type: application/json",
          "-H",
          `x-forwarded-for: ${client}`,
          "--data",
          JSON.stringify({ email: guessed.email, password }),
          `${stack.url}/api/auth/login`,
        ]).then((r) => r.status);
      for (let i = 0; i < 5; i++) {
        assertEquals(await from(`2001:db8:1:2::${i + 1}`, "wrong password"), 401, `try ${i}`);
      }
      assertEquals(
        await from("2001:db8:1:2:dead:beef:0:1", guessed.password),
        429,
        "a new address in the guessing /64 is the same client: limited, and the account lock holds for it",
      );
      assertEquals(
        await from("2001:db8:1:3::1", "wrong again"),
        429,
        "the locked account refuses a wrong password from another network",
      );
      assertEquals(
        await from("2001:db8:1:4::1", guessed.password),
        200,
        "the owner, on a network that never failed, gets in",
      );
    });
    await t.step("garbage X-Forwarded-For from a trusted proxy is a 400", async () => {
      const r = await fetch(`${stack.url}/api/tunnel/${handle}`, {
        headers: { "x-admin-api-key": TEST_ADMIN_KEY, "x-forwarded-for": "not-an-ip, <script>" },
      });
      assertEquals(r.status, 400, await r.text());
    });
    await t.step("the cloud's error pages under /c/ carry the security headers", async () => {
      const r = await curl([
        "-H",
        "accept: text/html",
        `${stack.url}/c/${handle}/`,
        "-H",
        `authorization: Bearer ${other.apiToken}`,
      ]);
      assertEquals(r.status, 403);
      assertMatch(r.head, /x-frame-options: DENY/i);
      assertMatch(r.head, /content-security-policy: frame-ancestors 'none'/i);
      assertMatch(r.head, /x-content-type-options: nosniff/i);
    });
    await t.step(
      "no parser internals in answers; a bad Host is a 400 logged without a stack",
      async () => {
        const big = await rawExchange(
          stack.ports.http,
          `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(40_000)}\r\n\r\n`,
        );
        assertMatch(big, /^HTTP\/1\.1 431 /);
        assert(!big.includes("HPE_"), big.slice(0, 300));
        const errorsBefore = stack.cloud.count(/"level":50/);
        const bad = await upgrade(stack.ports.http, `/api/tunnel/${handle}`, ["Host: a b:c:d"]);
        assertEquals(bad.status, 400, bad.head);
        const down = await fetch(`${stack.url}/api/sites/${q.siteId}/discovery`, {
          method: "POST",
          headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
          body: "{}",
        });
        assertEquals(down.status, 503, `no agent: agent reconnecting: ${await down.text()}`);
        await new Promise((r) => setTimeout(r, 300));
        assertEquals(
          stack.cloud.count(/"level":50/),
          errorsBefore,
          "an expected refusal logged as ERROR",
        );
        assertEquals(stack.cloud.count(/"stack"/), 0);
      },
    );
    await t.step("loopback addresses are not handed out in sequence", async () => {
      const add = async (token: string, siteId: string, host: string) => {
        const r = await fetch(`${stack.url}/api/sites/${siteId}/devices`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ host, ports: [80] }),
        });
        assertEquals(r.status, 201);
        return (await r.json()).loopbackIp as string;
      };
      const index = (ip: string) => ip.split(".").slice(2).reduce((n, p) => n * 256 + Number(p), 0);
      const mine: string[] = [];
      for (let i = 0; i < 6; i++) {
        mine.push(await add(q.apiToken, q.siteId, `192.0.2.${10 + i}`));
        await add(other.apiToken, other.siteId, `198.51.100.${10 + i}`);
      }
      const gaps = mine.slice(1).map((ip, i) => index(ip) - index(mine[i]));
      assert(!gaps.every((g) => g === 2), `another tenant's count shows through: ${mine}`);
    });
    await t.step(
      "unspecified addresses always, link-local and metadata by default, are refused",
      async () => {
        for (
          const host of [
            "0.0.0.0",
            "0",
            "::",
            "169.254.169.254",
            "2852039166",
            "fe80::1",
            "fd00:ec2::254",
          ]
        ) {
          const r = await fetch(`${stack.url}/api/sites/${q.siteId}/devices`, {
            method: "POST",
            headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
            body: JSON.stringify({ host, ports: [80] }),
          });
          assertEquals(r.status, 400, host);
          assertEquals((await r.json()).error, "bad_request");
        }
        const bulk = await fetch(`${stack.url}/api/sites/${q.siteId}/devices/bulk`, {
          method: "POST",
          headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
          body: JSON.stringify({ range: "169.254.169.250-169.254.169.255", ports: [80] }),
        });
        assertEquals(bulk.status, 400);
        await bulk.body?.cancel();
      },
    );
  } finally {
    await stack.stop();
  }
});

Deno.test("held: attacks that already failed at review time keep failing", async (t) => {
  const stack = await Stack.start();
  const cam = await startCamera();
  const echo = await echoServer();
  stack.defer(cam.close);
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([cam.port, echo.port], "Held");
    const other = await stack.quickstart([9], "Other");
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const echoHandle = q.device.handles[echo.port];
    const port = stack.ports.http;
    const auth = `Authorization: Bearer ${q.apiToken}`;
    const seen = () => cam.seen.length;

    await t.step("smuggling shapes never reach the device", async () => {
      const before = seen();
      for (
        const head of [
          "Content-Length: 4\r\nTransfer-Encoding: chunked",
          "Content-Length: 4\r\nContent-Length: 5",
          "Transfer-Encoding: gzip, chunked",
          "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
          "Content-Length: -1",
        ]
      ) {
        const text = await rawExchange(
          port,
          `POST /c/${handle}/upload HTTP/1.1\r\nHost: x\r\n${auth}\r\n${head}\r\n\r\n0\r\n\r\n`,
          { untilHead: true },
        );
        assertMatch(text, /^HTTP\/1\.1 400 /, head);
      }
      assertEquals(seen(), before);
    });
    await t.step("path escapes are a 400 and reach nothing", async () => {
      const before = seen();
      for (
        const p of ["/../api/auth/me", "/%2e%2e/api", "/a%2fb", "/a%5cb", "/a\\b", "/%252e%252e/x"]
      ) {
        const text = await rawExchange(
          port,
          `GET /c/${handle}${p} HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`,
          { untilHead: true },
        );
        assertMatch(text, /^HTTP\/1\.1 (400|404) /, p);
      }
      assertEquals(seen(), before);
    });
    await t.step("two identities in one request are a 400", async () => {
      const someone = await stack.addUser(q.tenantId);
      const cookie = await stack.signIn(someone.email, someone.password);
      const r = await fetch(`${stack.url}/api/tunnel/${handle}`, {
        headers: { authorization: `Bearer ${q.apiToken}`, cookie },
      });
      assertEquals(r.status, 400);
      assertEquals((await r.json()).error, "conflicting_credentials");
    });
    await t.step(
      "forwarding headers from an untrusted peer neither count nor reach the device",
      async () => {
        const r = await curl([
          "-H",
          auth,
          "-H",
          "x-forwarded-for: 10.9.9.9",
          "-H",
          "forwarded: for=10.9.9.9",
          "-H",
          "x-real-ip: 10.9.9.9",
          `${stack.url}/c/${handle}/headers`,
        ]);
        assertEquals(r.status, 200);
        const h = JSON.parse(r.body);
        for (const k of ["x-forwarded-for", "forwarded", "x-real-ip"]) {
          assertEquals(h[k], undefined, k);
        }
      },
    );
    await t.step("another tenant's handle is a 403", async () => {
      const r = await fetch(`${stack.url}/api/tunnel/${handle}`, {
        headers: { authorization: `Bearer ${other.apiToken}` },
      });
      assertEquals(r.status, 403);
      assertEquals((await r.json()).message, "handle does not belong to your tenant");
    });
    await t.step("certificates: a foreign CA with a registered agent's CN is cut", async () => {
      const enrolled = await stack.enroll(
        (await stack.admin<{ token: string }>(
          "enroll-token",
          "--tenant",
          q.tenantId,
          "--site",
          q.siteId,
        )).token,
        "copied",
      );
      const real = (await loadState(enrolled.state))!;
      const foreign = await createCA({ commonName: "not the agent CA" });
      const keyPem = await generateKeyPem();
      const { certPem } = await signClientCsr({
        ca: foreign,
        csrPem: await createCsr({ keyPem, commonName: real.agentId }),
        commonName: real.agentId,
      });
      const copied = await controlStream(stack, { ...real, keyPem, certPem });
      copied.hello("copied");
      const e = await within(copied.ended, 15_000, "a copied CN was not cut");
      assert(e.code !== 0 && !(await copied.welcomed), `a copied CN got in: ${e.details}`);
      copied.close();
    });
    await t.step("off-list targets in every spelling: the agent dials nothing", async () => {
      // The running cloud writes too (heartbeats, presence, its node record every 15 s): wait for
      // its lock as the cloud's own connections do, instead of failing on "database is locked".
      const db = new DatabaseSync(`${stack.dataDir}/connector.db`, { timeout: 5_000 });
      const before = echo.accepted();
      for (
        const host of [
          "127.1",
          "2130706433",
          "0x7f.0.0.1",
          "::ffff:127.0.0.1",
          "localhost",
          "127.0.0.1.",
        ]
      ) {
        db.prepare("UPDATE devices SET host = ? WHERE id = ?").run(host, q.device.deviceId);
        const ws = await stack.openTunnel(echoHandle, q.apiToken).then(
          (w) => (w.close(), 101),
          (e: { status?: number }) => e.status ?? 0,
        );
        assertEquals(ws, 403, host);
      }
      db.close();
      assertEquals(echo.accepted(), before, "the agent dialed an off-list spelling");
    });
  } finally {
    await stack.stop();
  }
});
