// The tenancy REST API against a real cloud (in-process, real HTTP on loopback, real SQLite in a
// temp dir): sign-in with rate limit, cookie + antiforgery, API tokens, sites and devices,
// roles, conflicting identities, and tenant isolation on every path.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";
import { hashPassword } from "../../src/cloud/tenancy/password.ts";
import type { Role } from "../../src/cloud/store/store.ts";

const PASSWORD = "correct horse battery";

async function world() {
  const t = await startTestCloud();
  const { cloud, clock } = t;
  const pwHash = await hashPassword(PASSWORD);
  const user = async (tenantId: string, email: string, role: Role) => {
    const u = await cloud.store.createUser({ tenantId, email, passwordHash: pwHash, role });
    const token = mintToken("nt");
    await cloud.store.createApiToken({
      hash: await hashToken(token),
      tenantId,
      userId: u.id,
      name: "t",
    });
    return { ...u, token };
  };
  const a = await cloud.store.createTenant({ name: "A" });
  const b = await cloud.store.createTenant({ name: "B" });
  const users = {
    adminA: await user(a.id, "admin@a.test", "admin"),
    viewerA: await user(a.id, "viewer@a.test", "viewer"),
    adminB: await user(b.id, "admin@b.test", "admin"),
    root: await user(a.id, "root@ops.test", "superadmin"),
  };
  const call = (
    method: string,
    path: string,
    opts: { token?: string; cookie?: string; csrf?: string; body?: unknown; raw?: string } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.cookie) headers.cookie = opts.cookie;
    if (opts.csrf) headers["x-csrf-token"] = opts.csrf;
    return t.call(method, path, headers, opts.body, opts.raw);
  };
  const login = async (email: string, password = PASSWORD) => {
    const r = await call("POST", "/api/auth/login", { body: { email, password } });
    const cookie = (r.headers.get("set-cookie") ?? "").split(";")[0];
    return { ...r, cookie, csrf: r.json.csrfToken as string };
  };
  return { cloud, clock, tenants: { a, b }, users, call, login, stop: t.stop };
}

Deno.test("sign-in: cookie session, antiforgery on state changes, sign-out", async () => {
  const w = await world();
  try {
    const bad = await w.login("admin@a.test", "wrong password");
    assertEquals(bad.status, 401);
    assertEquals(bad.json, { error: "invalid_login", message: "wrong email or password" });
    const s = await w.login("ADMIN@a.test");
    assertEquals(s.status, 200);
    const setCookie = s.headers.get("set-cookie")!;
    assertStringIncludes(setCookie, "HttpOnly");
    assertStringIncludes(setCookie, "SameSite=Lax");
    assert(!setCookie.includes("Secure"), "no Secure flag on plain http");
    assertEquals((await w.call("GET", "/api/auth/me", { cookie: s.cookie })).json.role, "admin");

    const noCsrf = await w.call("POST", "/api/sites", { cookie: s.cookie, body: { name: "HQ" } });
    assertEquals(noCsrf.status, 400);
    assertEquals(noCsrf.json.error, "antiforgery");
    const wrong = await w.call("POST", "/api/sites", {
      cookie: s.cookie,
      csrf: "x".repeat(43),
      body: { name: "HQ" },
    });
    assertEquals(wrong.status, 400);
    const ok = await w.call("POST", "/api/sites", {
      cookie: s.cookie,
      csrf: s.csrf,
      body: { name: "HQ" },
    });
    assertEquals(ok.status, 201);

    const out = await w.call("POST", "/api/auth/logout", { cookie: s.cookie, csrf: s.csrf });
    assertEquals(out.status, 200);
    const after = await w.call("GET", "/api/auth/me", { cookie: s.cookie });
    assertEquals(after.status, 401);
    assertEquals(after.json, { error: "auth_required", message: "authentication required" });
  } finally {
    await w.stop();
  }
});

Deno.test("sign-in: 5 attempts per minute per account and per IP", async () => {
  const w = await world();
  try {
    for (let i = 0; i < 5; i++) assertEquals((await w.login("viewer@a.test", "nope")).status, 401);
    const sixth = await w.login("viewer@a.test");
    assertEquals(sixth.status, 429, "even the right password is refused while limited");
    assertEquals(sixth.json.error, "rate_limited");
    assertEquals((await w.login("admin@a.test")).status, 429, "the IP is limited too");
    w.clock.advance(60_000);
    assertEquals((await w.login("viewer@a.test")).status, 200);
  } finally {
    await w.stop();
  }
});

Deno.test("sign-in: guesses sent at once are limited as one after another", async () => {
  const w = await world();
  try {
    // 30 requests on 30 connections at once, the right password last: 5 are checked (401), the
    // others wait (429) — not 30 checks while the first ones are still being checked.
    const answers = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) => w.login("viewer@a.test", i < 29 ? `guess ${i}` : PASSWORD),
      ),
    );
    const count = (status: number) => answers.filter((a) => a.status === status).length;
    assertEquals([count(401), count(429), count(200)], [5, 25, 0]);
    w.clock.advance(60_000);
    assertEquals((await w.login("viewer@a.test")).status, 200);
  } finally {
    await w.stop();
  }
});

Deno.test("credentials: conflicting identities 400, token in query 400, API token lifecycle", async () => {
  const w = await world();
  try {
    const s = await w.login("admin@a.test");
    const clash = await w.call("GET", "/api/auth/me", {
      cookie: s.cookie,
      token: w.users.viewerA.token,
    });
    assertEquals(clash.status, 400);
    assertEquals(clash.json.error, "conflicting_credentials");
    const same = await w.call("GET", "/api/auth/me", {
      cookie: s.cookie,
      token: w.users.adminA.token,
    });
    assertEquals(same.status, 200);
    const q = await w.call("GET", `/api/sites?token=${w.users.adminA.token}`);
    assertEquals(q.status, 400);

    const created = await w.call("POST", "/api/account/tokens", {
      token: w.users.adminA.token,
      body: { name: "laptop" },
    });
    assertEquals(created.status, 201);
    const nt = created.json.token as string;
    assert(/^nt_[A-Za-z0-9_-]{43}$/.test(nt));
    const list = await w.call("GET", "/api/account/tokens", { token: nt });
    assert(!list.text.includes(nt), "the token text is never listed");
    assertEquals((await w.call("GET", "/api/auth/me", { token: nt })).json.via, "api_token");
    const del = await w.call("DELETE", `/api/account/tokens/${created.json.id}`, {
      token: w.users.adminA.token,
    });
    assertEquals(del.status, 200);
    assertEquals((await w.call("GET", "/api/auth/me", { token: nt })).status, 401);
    // Another user cannot revoke it (404, no leak).
    const other = await w.call("DELETE", `/api/account/tokens/${created.json.id}`, {
      token: w.users.adminB.token,
    });
    assertEquals(other.status, 404);
  } finally {
    await w.stop();
  }
});

Deno.test("sites and devices: validated, role-checked, tenant-scoped, allowlist bumped", async () => {
  const w = await world();
  try {
    const A = w.users.adminA.token;
    const B = w.users.adminB.token;
    assertEquals((await w.call("GET", "/api/sites")).status, 401);
    const site = await w.call("POST", "/api/sites", { token: A, body: { name: "Istanbul HQ" } });
    assertEquals(site.status, 201);
    const siteId = site.json.id as string;
    assertEquals(
      (await w.call("POST", "/api/sites", { token: w.users.viewerA.token, body: { name: "x" } }))
        .status,
      403,
    );

    const badPort = await w.call("POST", `/api/sites/${siteId}/devices`, {
      token: A,
      body: { host: "127.0.0.1", ports: [70000] },
    });
    assertEquals(badPort.status, 400);
    assertStringIncludes(badPort.json.message as string, "ports.0");
    const notJson = await w.call("POST", `/api/sites/${siteId}/devices`, {
      token: A,
      raw: "{nope",
    });
    assertEquals(notJson.status, 400);
    assertEquals(notJson.json, { error: "bad_request", message: "body must be JSON" });

    const dev = await w.call("POST", `/api/sites/${siteId}/devices`, {
      token: A,
      body: { host: "127.0.0.1", ports: [80, 554], label: "Lobby" },
    });
    assertEquals(dev.status, 201);
    const handles = dev.json.handles as Record<string, string>;
    assert(/^h-[A-Za-z0-9_-]{22}$/.test(handles["554"]));
    assertEquals((await w.cloud.store.getAllowlist(siteId)).version, 1);
    assertEquals((await w.cloud.store.listAudit({ action: "handle.mint" })).length, 2);
    const edited = await w.call("PATCH", `/api/devices/${dev.json.id}`, {
      token: A,
      body: { ports: [80, 554, 8000] },
    });
    assertEquals(edited.status, 200);
    assertEquals(Object.keys(edited.json.handles as object), ["80", "554", "8000"]);
    assertEquals(
      edited.json.handles && (edited.json.handles as Record<string, string>)["554"],
      handles["554"],
    );
    assertEquals((await w.cloud.store.getAllowlist(siteId)).version, 2);
    // A new LAN address keeps the handles (bookmarks survive a camera swap).
    const moved = await w.call("PATCH", `/api/devices/${dev.json.id}`, {
      token: A,
      body: { host: "127.0.0.9" },
    });
    assertEquals((moved.json.handles as Record<string, string>)["554"], handles["554"]);
    assertEquals((await w.cloud.store.getAllowlist(siteId)).entries.map((e) => e.host), [
      "127.0.0.9",
      "127.0.0.9",
      "127.0.0.9",
    ]);

    // Tenant B sees none of it, even with the ids.
    assertEquals((await w.call("GET", "/api/sites", { token: B })).json.items, []);
    assertEquals((await w.call("GET", `/api/sites/${siteId}`, { token: B })).status, 404);
    assertEquals((await w.call("GET", `/api/sites/${siteId}/devices`, { token: B })).status, 404);
    assertEquals(
      (await w.call("PATCH", `/api/devices/${dev.json.id}`, { token: B, body: { ports: [22] } }))
        .status,
      404,
    );
    assertEquals((await w.call("DELETE", `/api/devices/${dev.json.id}`, { token: B })).status, 404);
    assertEquals(
      (await w.call("POST", `/api/sites/${siteId}/enrollment-tokens`, { token: B })).status,
      404,
    );
    const auditB = await w.call("GET", "/api/audit", { token: B });
    assertEquals((auditB.json.items as unknown[]).length, 0);
    const auditA = await w.call("GET", "/api/audit?limit=2", { token: A });
    assertEquals((auditA.json.items as unknown[]).length, 2);
    assert(typeof auditA.json.next === "number", "paginated");
    assertEquals((await w.call("GET", "/api/audit?limit=5000", { token: A })).status, 400);

    const enr = await w.call("POST", `/api/sites/${siteId}/enrollment-tokens`, { token: A });
    assertEquals(enr.status, 201);
    assert(/^enr_[A-Za-z0-9_-]{43}\.[0-9a-f]{64}$/.test(enr.json.token as string));
    assertEquals((await w.call("DELETE", `/api/devices/${dev.json.id}`, { token: A })).status, 200);
    assertEquals((await w.cloud.store.getAllowlist(siteId)).entries, []);
  } finally {
    await w.stop();
  }
});

Deno.test("port protocols: chosen at add (default from the number), editable, unknown ones 400; RTSP stream path remembered", async () => {
  const w = await world();
  try {
    const A = w.users.adminA.token;
    const siteId = (await w.call("POST", "/api/sites", { token: A, body: { name: "HQ" } })).json
      .id as string;
    const dev = await w.call("POST", `/api/sites/${siteId}/devices`, {
      token: A,
      body: { host: "192.0.2.50", ports: [80, 554, 7, 9000], protocols: { "9000": "HTTP" } },
    });
    assertEquals(dev.status, 201);
    assertEquals(dev.json.protocols, { 7: "tcp", 80: "http", 554: "rtsp", 9000: "http" });
    assertEquals(
      (await w.cloud.store.listAudit({ action: "device.create" }))[0].detail.protocols,
      dev.json.protocols,
    );

    for (
      const [body, says] of [
        [{ host: "192.0.2.51", ports: [80], protocols: { "80": "gopher" } }, "protocols.80"],
        [{ host: "192.0.2.51", ports: [80], protocols: { "81": "http" } }, "port 81"],
        [{ host: "192.0.2.51", ports: [80], protocols: { "x": "http" } }, "protocols"],
      ] as const
    ) {
      const r = await w.call("POST", `/api/sites/${siteId}/devices`, { token: A, body });
      assertEquals(r.status, 400, JSON.stringify(body));
      assertEquals(r.json.error, "bad_request");
      assertStringIncludes(r.json.message as string, says);
    }
    const unknown = await w.call("POST", `/api/sites/${siteId}/devices`, {
      token: A,
      body: { host: "192.0.2.51", ports: [80], protocols: { "80": "gopher" } },
    });
    assertStringIncludes(
      unknown.json.message as string,
      "expected one of http, https, rtsp, ssh, tcp",
    );
    assertEquals((await w.cloud.store.listDevices(w.tenants.a.id, siteId)).length, 1);

    // Edited afterwards: one port's protocol; the others are kept.
    const id = dev.json.id as string;
    const edited = await w.call("PATCH", `/api/devices/${id}`, {
      token: A,
      body: { protocols: { "7": "ssh", "554": "tcp" } },
    });
    assertEquals(edited.status, 200);
    assertEquals(edited.json.protocols, { 7: "ssh", 80: "http", 554: "tcp", 9000: "http" });
    const badEdit = await w.call("PATCH", `/api/devices/${id}`, {
      token: A,
      body: { protocols: { "7": "telnet" } },
    });
    assertEquals(badEdit.status, 400);
    assertEquals((await w.cloud.store.getDevice(w.tenants.a.id, id))!.protocols[7], "ssh");
    const viewer = await w.call("PATCH", `/api/devices/${id}`, {
      token: w.users.viewerA.token,
      body: { protocols: { "7": "tcp" } },
    });
    assertEquals(viewer.status, 403);

    // Bulk add: per-port protocols too.
    const bulk = await w.call("POST", `/api/sites/${siteId}/devices/bulk`, {
      token: A,
      body: { range: "192.0.2.60", ports: [8000, 8554], portProtocols: { "8000": "https" } },
    });
    assertEquals(bulk.status, 201);
    assertEquals((bulk.json.created as { protocols: unknown }[])[0].protocols, {
      8000: "https",
      8554: "rtsp",
    });

    // The RTSP URL for a port: the stream path asked for is remembered and used next time.
    await w.call("PATCH", `/api/devices/${id}`, {
      token: A,
      body: { protocols: { "554": "rtsp" } },
    });
    const h = (edited.json.handles as Record<string, string>)["554"];
    const first = await w.call("POST", `/api/handles/${h}/rtsp-url`, {
      token: A,
      body: { path: "/Streaming/Channels/101" },
    });
    assertEquals(first.status, 201);
    assert(
      (first.json.url as string).endsWith("/Streaming/Channels/101"),
      first.json.url as string,
    );
    assertEquals(
      (await w.cloud.store.getDevice(w.tenants.a.id, id))!.streamPaths,
      { 554: "/Streaming/Channels/101" },
    );
    const again = await w.call("POST", `/api/handles/${h}/rtsp-url`, { token: A, body: {} });
    assert(
      (again.json.url as string).endsWith("/Streaming/Channels/101"),
      again.json.url as string,
    );
    const badPath = await w.call("POST", `/api/handles/${h}/rtsp-url`, {
      token: A,
      body: { path: "/a b" },
    });
    assertEquals(badPath.status, 400);
  } finally {
    await w.stop();
  }
});

Deno.test("tunnel endpoint: a session cookie is accepted only from the cloud's own origin", async () => {
  const w = await world();
  try {
    const A = w.users.adminA.token;
    const site = await w.call("POST", "/api/sites", { token: A, body: { name: "S" } });
    const dev = await w.call("POST", `/api/sites/${site.json.id}/devices`, {
      token: A,
      body: { host: "127.0.0.1", ports: [80] },
    });
    const h = (dev.json.handles as Record<string, string>)["80"];
    const s = await w.login("admin@a.test");
    const base = `http://127.0.0.1:${w.cloud.ports.http}`;
    const evil = await fetch(`${base}/api/tunnel/${h}`, {
      headers: { cookie: s.cookie, origin: "https://evil.example" },
    });
    assertEquals(evil.status, 403);
    assertEquals((await evil.json()).error, "forbidden");
    const own = await fetch(`${base}/api/tunnel/${h}`, {
      headers: { cookie: s.cookie, origin: base },
    });
    assertEquals(own.status, 426, "authorized; asks for the WebSocket upgrade");
    await own.body?.cancel();
    const cross = await fetch(`${base}/api/tunnel/${h}`, {
      headers: { authorization: `Bearer ${w.users.adminB.token}` },
    });
    assertEquals(cross.status, 403);
    assertEquals((await cross.json()).message, "handle does not belong to your tenant");
  } finally {
    await w.stop();
  }
});

Deno.test("bulk add by range/CIDR with a cap; revoking a handle kills its URL at once", async () => {
  const w = await world();
  try {
    const A = w.users.adminA.token;
    const site = await w.call("POST", "/api/sites", { token: A, body: { name: "Floor 2" } });
    const path = `/api/sites/${site.json.id}/devices/bulk`;
    const r = await w.call("POST", path, {
      token: A,
      body: { range: "192.0.2.0/28", protocols: ["rtsp"] },
    });
    assertEquals(r.status, 201);
    const created = r.json.created as {
      host: string;
      ports: number[];
      handles: Record<string, string>;
    }[];
    assertEquals(created.length, 14);
    assertEquals(created[0].host, "192.0.2.1");
    assertEquals(created[0].ports, [554]);
    const again = await w.call("POST", path, { token: A, body: { range: "192.0.2.10-20" } });
    assertEquals(again.json.skipped, 5);
    assertEquals((again.json.created as unknown[]).length, 6);
    const tooBig = await w.call("POST", path, { token: A, body: { range: "192.0.0.0/20" } });
    assertEquals(tooBig.status, 400);
    assertStringIncludes(tooBig.json.message as string, "at most 1024");
    assertEquals(
      (await w.call("POST", path, { token: w.users.viewerA.token, body: { range: "192.0.2.1" } }))
        .status,
      403,
    );

    const h = created[0].handles["554"];
    assertEquals((await w.call("GET", `/api/tunnel/${h}`, { token: A })).status, 426);
    assertEquals(
      (await w.call("DELETE", `/api/handles/${h}`, { token: w.users.adminB.token })).status,
      404,
    );
    assertEquals((await w.call("DELETE", `/api/handles/${h}`, { token: A })).status, 200);
    assertEquals((await w.call("GET", `/api/tunnel/${h}`, { token: A })).status, 404);
    const list = await w.call("GET", `/api/sites/${site.json.id}/devices`, { token: A });
    const fresh = (list.json.items as { host: string; handles: Record<string, string> }[])
      .find((d) => d.host === "192.0.2.1")!.handles["554"];
    assert(fresh !== h, "a new handle is minted for the port");
  } finally {
    await w.stop();
  }
});

Deno.test("superadmin: tenant picker switches the session's one tenant context; others cannot", async () => {
  const w = await world();
  try {
    await w.call("POST", "/api/sites", { token: w.users.adminB.token, body: { name: "B-site" } });
    const s = await w.login("root@ops.test");
    const tenants = await w.call("GET", "/api/auth/tenants", { cookie: s.cookie });
    assertEquals((tenants.json.items as unknown[]).length, 2);
    assertEquals((await w.call("GET", "/api/sites", { cookie: s.cookie })).json.items, []);
    const sw = await w.call("POST", "/api/auth/tenant", {
      cookie: s.cookie,
      csrf: s.csrf,
      body: { tenantId: w.tenants.b.id },
    });
    assertEquals(sw.status, 200);
    const sites = await w.call("GET", "/api/sites", { cookie: s.cookie });
    assertEquals((sites.json.items as { name: string }[]).map((x) => x.name), ["B-site"]);
    assertEquals(
      (await w.call("GET", "/api/auth/me", { cookie: s.cookie })).json.tenantId,
      w.tenants.b.id,
    );
    assertEquals((await w.call("GET", "/api/audit?all=1", { cookie: s.cookie })).status, 200);

    const admin = await w.login("admin@a.test");
    const denied = await w.call("POST", "/api/auth/tenant", {
      cookie: admin.cookie,
      csrf: admin.csrf,
      body: { tenantId: w.tenants.b.id },
    });
    assertEquals(denied.status, 403);
    assertEquals((await w.call("GET", "/api/audit?all=1", { cookie: admin.cookie })).status, 403);
    assertEquals((await w.call("GET", "/api/sites", { cookie: admin.cookie })).json.items, []);
  } finally {
    await w.stop();
  }
});

Deno.test("/api/openapi.json describes every routed API path with the schemas the routes enforce", async () => {
  const w = await world();
  try {
    const r = await w.call("GET", "/api/openapi.json");
    assertEquals(r.status, 200);
    const paths = r.json.paths as Record<
      string,
      Record<string, { requestBody?: unknown; parameters?: { name: string }[] }>
    >;
    for (
      const p of [
        "/api/sites/{id}/devices",
        "/api/v1/sessions",
        "/api/admin/tenants",
        "/api/tunnel/{handle}",
      ]
    ) {
      assert(paths[p], `missing ${p}`);
    }
    const body = paths["/api/sites/{id}/devices"].post.requestBody as {
      content: {
        "application/json": { schema: { required: string[]; properties: Record<string, unknown> } };
      };
    };
    assertEquals(body.content["application/json"].schema.required.sort(), ["host", "ports"]);
    assert(paths["/api/audit"].get.parameters!.some((p) => p.name === "before"));
    // No stale entries: every documented body belongs to a routed path.
    const { BODIES } = await import("../../src/cloud/api/schemas.ts");
    for (const key of Object.keys(BODIES)) {
      const [method, path] = key.split(" ");
      const doc = paths[path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")]?.[method.toLowerCase()];
      assert(doc?.requestBody, `${key} is not routed or has no body`);
    }
  } finally {
    await w.stop();
  }
});

Deno.test("lists are paginated with limit and cursor", async () => {
  const w = await world();
  try {
    const A = w.users.adminA.token;
    for (let i = 0; i < 5; i++) {
      await w.call("POST", "/api/sites", { token: A, body: { name: `S${i}` } });
    }
    const p1 = await w.call("GET", "/api/sites?limit=2", { token: A });
    assertEquals((p1.json.items as { name: string }[]).map((s) => s.name), ["S0", "S1"]);
    assertEquals(p1.json.next, 2);
    const p3 = await w.call("GET", "/api/sites?limit=2&cursor=4", { token: A });
    assertEquals((p3.json.items as { name: string }[]).map((s) => s.name), ["S4"]);
    assertEquals(p3.json.next, null);
    assertEquals((await w.call("GET", "/api/sites?limit=0", { token: A })).status, 400);
  } finally {
    await w.stop();
  }
});
