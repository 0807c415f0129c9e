// Every credential kind against the tunnel endpoint and the APIs that mint them, on a real cloud
// (in-process, real HTTP on loopback, real SQLite): own tenant, other tenant, revoked, expired,
// anonymous. `GET /api/tunnel/{handle}` answers 426 (send the upgrade) once a caller is
// authorized, so no case below reaches a device.
import { ANONYMOUS_DENY_AUDITS_PER_MINUTE } from "../../src/cloud/tenancy/anonymous_audit.ts";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { loadCloudConfig } from "../../src/cloud/config.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";

const ADMIN_KEY = "k7P2vQ9xL4mN8rT1wZ6yB3cF5hJ0dG-s";
const DAY = 86_400_000;

async function world() {
  const t = await startTestCloud({ "admin-api-key": ADMIN_KEY, "trusted-proxies": "127.0.0.1/32" });
  const { cloud, clock, call } = t;
  const tenant = async (name: string) => {
    const admin = { "x-admin-api-key": ADMIN_KEY };
    const license = crypto.randomUUID();
    const t = await call("POST", "/api/admin/tenants", admin, { name, license });
    assertEquals(t.status, 201);
    const tenantId = t.json.tenantId as string;
    const u = await cloud.store.createUser({
      tenantId,
      email: `${name}@x.test`,
      passwordHash: "",
      role: "admin",
    });
    const nt = mintToken("nt");
    await cloud.store.createApiToken({
      hash: await hashToken(nt),
      tenantId,
      userId: u.id,
      name: "t",
    });
    const bearer = { authorization: `Bearer ${nt}` };
    const site = await call("POST", "/api/sites", bearer, { name: "HQ" });
    const other = await call("POST", "/api/sites", bearer, { name: "Depot" });
    const dev = await call("POST", `/api/sites/${site.json.id}/devices`, bearer, {
      host: "127.0.0.1",
      ports: [80],
    });
    const dev2 = await call("POST", `/api/sites/${other.json.id}/devices`, bearer, {
      host: "127.0.0.1",
      ports: [81],
    });
    return {
      tenantId,
      nt,
      bearer,
      license,
      licenseId: (t.json.license as Record<string, string>).id,
      siteId: site.json.id as string,
      otherSiteId: other.json.id as string,
      handle: (dev.json.handles as Record<string, string>)["80"],
      otherSiteHandle: (dev2.json.handles as Record<string, string>)["81"],
    };
  };
  return { cloud, clock, call, tenant, stop: t.stop };
}

Deno.test("credential matrix on /api/tunnel/{handle}: own 426, other tenant 403, revoked/expired/anonymous 401", async () => {
  const w = await world();
  try {
    const A = await w.tenant("alpha");
    const B = await w.tenant("beta");
    const tunnel = (h: string, headers: Record<string, string>) =>
      w.call("GET", `/api/tunnel/${h}`, headers);

    // An ops_ session in each tenant, scoped to HQ.
    const opsA = await w.call("POST", "/api/cli/sessions", A.bearer, { siteIds: [A.siteId] });
    assertEquals(opsA.status, 201);
    assertStringIncludes(opsA.json.command as string, "nanodems-tunnel run --cloud");
    const ops = { authorization: `Bearer ${opsA.json.token}` };

    const kinds: Record<string, Record<string, string>> = {
      "nt_ token": A.bearer,
      "ops_ session": ops,
      "X-License": { "x-license": A.license, "x-user-id": "console-user-7" },
      "license subprotocol": { "sec-websocket-protocol": `license.${A.license}.user.u1` },
      "license two subprotocols": { "sec-websocket-protocol": `license.${A.license}, user.u1` },
    };
    for (const [kind, headers] of Object.entries(kinds)) {
      assertEquals((await tunnel(A.handle, headers)).status, 426, `${kind}: own tenant`);
      const cross = await tunnel(B.handle, headers);
      assertEquals(cross.status, 403, `${kind}: other tenant`);
      assertEquals(cross.json.message, "handle does not belong to your tenant", kind);
    }
    const anon = await tunnel(A.handle, {});
    assertEquals(anon.status, 401);
    assertEquals(anon.json.message, "authentication required");
    const denials = await w.cloud.store.listAudit({ action: "tunnel.deny" });
    assert(
      denials.some((e) => e.detail.reason === "auth_required" && e.target === A.handle),
      "anonymous denial audited",
    );
    // A flood of anonymous attempts is answered every time but audited at a bounded rate.
    for (let i = 0; i < 40; i++) assertEquals((await tunnel(A.handle, {})).status, 401);
    const anonAudits = (await w.cloud.store.listAudit({ action: "tunnel.deny", limit: 1000 }))
      .filter((e) => e.detail.reason === "auth_required");
    assert(
      anonAudits.length <= ANONYMOUS_DENY_AUDITS_PER_MINUTE,
      `${anonAudits.length} anonymous denials audited`,
    );
    // Behind the trusted proxy (this test connects from 127.0.0.1), each client has its own
    // budget and is the one named: the flood above used up 127.0.0.1's.
    assertEquals((await tunnel(A.handle, { "x-forwarded-for": "198.51.100.9" })).status, 401);
    const named = await w.cloud.store.listAudit({ action: "tunnel.deny", limit: 1000 });
    assert(named.some((e) => e.actor === "ip:198.51.100.9"), "the forwarded client is audited");
    // An IPv6 /64 is one client: new addresses in it share its budget.
    for (let i = 0; i < 40; i++) {
      const h = { "x-forwarded-for": `2001:db8:5:6::${(i + 1).toString(16)}` };
      assertEquals((await tunnel(A.handle, h)).status, 401);
    }
    const v6 = (await w.cloud.store.listAudit({ action: "tunnel.deny", limit: 1000 }))
      .filter((e) => e.actor.startsWith("ip:2001:db8:5:6:"));
    assertEquals(v6.length, ANONYMOUS_DENY_AUDITS_PER_MINUTE, "one budget for the /64");
    // The admin key crosses tenants (and is audited).
    assertEquals((await tunnel(B.handle, { "x-admin-api-key": ADMIN_KEY })).status, 426);
    assertEquals((await tunnel(B.handle, { "x-admin-api-key": ADMIN_KEY + "x" })).status, 401);
    const uses = await w.cloud.store.listAudit({ action: "admin_key.use" });
    assert(uses.length >= 3, "every admin-key use is audited");
    // An ops_ session reaches only its sites.
    const out = await tunnel(A.otherSiteHandle, ops);
    assertEquals(out.status, 403);
    // Unknown handle, malformed handle.
    assertEquals((await tunnel("h-AAAAAAAAAAAAAAAAAAAAAA", A.bearer)).status, 404);
    assertEquals((await tunnel("..%2f..%2fetc", A.bearer)).status, 404);
    // Two identities in one request.
    assertEquals((await tunnel(A.handle, { ...A.bearer, "x-license": B.license })).status, 400);
    // A partner key cannot open tunnels by itself.
    const key = await w.call("POST", "/api/api-keys", A.bearer, { name: "ndis" });
    assertEquals((await tunnel(A.handle, { "x-api-key": key.json.key as string })).status, 403);

    // Revoked: nt_ token, license, ops_ session.
    const tokens = await w.call("GET", "/api/account/tokens", A.bearer);
    const ntId = (tokens.json.items as { id: string }[])[0].id;
    const rotated = await w.call("POST", "/api/account/tokens", A.bearer, { name: "next" });
    const next = { authorization: `Bearer ${rotated.json.token}` };
    assertEquals((await w.call("DELETE", `/api/account/tokens/${ntId}`, next)).status, 200);
    assertEquals((await tunnel(A.handle, A.bearer)).status, 401, "revoked nt_");
    const admin = { "x-admin-api-key": ADMIN_KEY };
    assertEquals(
      (await w.call("DELETE", `/api/admin/tenants/${A.tenantId}/licenses/${A.licenseId}`, admin))
        .status,
      200,
    );
    assertEquals(
      (await tunnel(A.handle, { "x-license": A.license })).status,
      401,
      "revoked license",
    );
    assertEquals((await w.call("DELETE", `/api/cli/sessions/${opsA.json.id}`, next)).status, 200);
    const revoked = await tunnel(A.handle, ops);
    assertEquals(revoked.status, 401, "revoked ops_");
    assertStringIncludes(revoked.json.message as string, "CLI session revoked or expired");

    // Expired: an ops_ session unused for 30 days.
    const ops2 = await w.call("POST", "/api/cli/sessions", next, { siteIds: [A.siteId] });
    const h2 = { authorization: `Bearer ${ops2.json.token}` };
    assertEquals((await tunnel(A.handle, h2)).status, 426);
    w.clock.advance(30 * DAY);
    assertEquals((await tunnel(A.handle, h2)).status, 401, "expired ops_");
  } finally {
    await w.stop();
  }
});

Deno.test("partner keys: CIDR pin with trusted proxies, sessions, cascade revoke", async () => {
  const w = await world();
  try {
    const A = await w.tenant("alpha");
    const pinned = await w.call("POST", "/api/api-keys", A.bearer, {
      name: "ndis",
      allowed_cidr: "198.51.100.0/24",
    });
    assertEquals(pinned.status, 201);
    const bad = await w.call("POST", "/api/api-keys", A.bearer, {
      name: "x",
      allowed_cidr: "not-a-cidr",
    });
    assertEquals(bad.status, 400);
    const k = { "x-api-key": pinned.json.key as string };
    const body = { external_operator_id: "op-1", operator_display_name: "Ayşe", sites: [A.siteId] };
    // The test connects from 127.0.0.1, a trusted proxy: its X-Forwarded-For decides.
    const denied = await w.call("POST", "/api/v1/sessions", k, body);
    assertEquals(denied.status, 403);
    const viaProxy = await w.call("POST", "/api/v1/sessions", {
      ...k,
      "x-forwarded-for": "198.51.100.7",
    }, body);
    assertEquals(viaProxy.status, 201);
    assert(/^ops_/.test(viaProxy.json.token as string));
    assertEquals(
      Date.parse(viaProxy.json.hard_cap_at as string) -
        Date.parse(viaProxy.json.expires_at as string),
      150 * DAY,
    );
    // A spoofed hop in front of a real client outside the range does not help.
    const spoof = await w.call("POST", "/api/v1/sessions", {
      ...k,
      "x-forwarded-for": "198.51.100.7, 203.0.113.9",
    }, body);
    assertEquals(spoof.status, 403);

    const open = await w.call("POST", "/api/api-keys", A.bearer, { name: "build" });
    const k2 = { "x-api-key": open.json.key as string };
    const s1 = await w.call("POST", "/api/v1/sessions", k2, body);
    const s2 = await w.call("POST", "/api/v1/sessions", k2, {
      ...body,
      external_operator_id: "op-2",
    });
    assertEquals((await w.call("GET", "/api/v1/sessions", k2)).json.items instanceof Array, true);
    for (const s of [s1, s2]) {
      assertEquals(
        (await w.call("GET", `/api/tunnel/${A.handle}`, {
          authorization: `Bearer ${s.json.token}`,
        })).status,
        426,
      );
    }
    const del = await w.call("DELETE", `/api/api-keys/${open.json.id}`, A.bearer);
    assertEquals(del.json.sessionsRevoked, 2);
    for (const s of [s1, s2]) {
      assertEquals(
        (await w.call("GET", `/api/tunnel/${A.handle}`, {
          authorization: `Bearer ${s.json.token}`,
        })).status,
        401,
      );
    }
    assertEquals(
      (await w.call("GET", "/api/v1/sessions", k2)).status,
      401,
      "the revoked key itself",
    );
    // A user token is not a partner key.
    assertEquals((await w.call("GET", "/api/v1/sessions", A.bearer)).status, 403);

    // A crash between revoking a key and revoking its sessions (the key written, the cascade
    // not): revoking the key again still cuts the sessions off.
    const third = await w.call("POST", "/api/api-keys", A.bearer, { name: "crashy" });
    const s3 = await w.call("POST", "/api/v1/sessions", { "x-api-key": third.json.key as string }, {
      ...body,
      external_operator_id: "op-3",
    });
    const s3Auth = { authorization: `Bearer ${s3.json.token}` };
    assertEquals(await w.cloud.store.revokeApiKey(A.tenantId, third.json.id as string), true);
    assertEquals(
      (await w.call("GET", `/api/tunnel/${A.handle}`, s3Auth)).status,
      426,
      "still live",
    );
    const again = await w.call("DELETE", `/api/api-keys/${third.json.id}`, A.bearer);
    assertEquals(again.status, 404, "the key was already revoked");
    assertEquals((await w.call("GET", `/api/tunnel/${A.handle}`, s3Auth)).status, 401);
  } finally {
    await w.stop();
  }
});

Deno.test("admin API: onboarding and rotation need the admin key; a weak key stops the start", async () => {
  const w = await world();
  try {
    const r = await w.call("POST", "/api/admin/tenants", {}, {
      name: "x",
      license: crypto.randomUUID(),
    });
    assertEquals(r.status, 401);
    const A = await w.tenant("alpha");
    const dup = await w.call("POST", "/api/admin/tenants", { "x-admin-api-key": ADMIN_KEY }, {
      name: "y",
      license: A.license,
    });
    assertEquals(dup.status, 409);
    const notGuid = await w.call("POST", "/api/admin/tenants", { "x-admin-api-key": ADMIN_KEY }, {
      name: "y",
      license: "nope",
    });
    assertEquals(notGuid.status, 400);
    const rot = await w.call("POST", `/api/admin/tenants/${A.tenantId}/licenses`, {
      "x-admin-api-key": ADMIN_KEY,
    }, { license: crypto.randomUUID() });
    assertEquals(rot.status, 201);
    const list = await w.call("GET", "/api/licenses", A.bearer);
    assertEquals((list.json.items as unknown[]).length, 2);
    assert(!JSON.stringify(list.json).includes(A.license), "GUIDs are never listed");
  } finally {
    await w.stop();
  }
  try {
    loadCloudConfig({ "admin-api-key": "short" });
    throw new Error("a weak key must be refused");
  } catch (e) {
    assertStringIncludes((e as Error).message, "--admin-api-key / NC_ADMIN_API_KEY");
  }
});
