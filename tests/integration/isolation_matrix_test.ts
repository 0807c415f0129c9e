// The isolation matrix, derived from the routing table itself so a new endpoint cannot be
// forgotten: every routed /api path × every credential kind of tenant B (and anonymous), with
// tenant A's real ids in the URL. Nothing may answer 500, anonymous gets 401 everywhere but the
// public endpoints, and no answer to B may contain any of A's ids.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";

const ADMIN_KEY = "Zq8wX3nV6bM1kL9pR4tY7uI2oE5aS0dF-h";
const PUBLIC = new Set([
  "POST /api/auth/login",
  "GET /api/agents/ca",
  "POST /api/agents/enroll",
  "GET /api/openapi.json",
  // The one-shot enrollment token in the path is the credential (a 404 for anything else).
  "GET /api/install/:file",
]);

Deno.test("isolation matrix: every API route × every credential of another tenant and anonymous", async () => {
  const tc = await startTestCloud({ "admin-api-key": ADMIN_KEY });
  const { cloud } = tc;
  const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    tc.call(
      method,
      path,
      headers,
      method === "GET" || method === "DELETE" ? undefined : body ?? {},
    );
  try {
    const s = cloud.store;
    const make = async (name: string) => {
      const t = await s.createTenant({ name });
      const u = await s.createUser({
        tenantId: t.id,
        email: `${name}@x.test`,
        passwordHash: "",
        role: "admin",
      });
      const nt = mintToken("nt");
      await s.createApiToken({
        hash: await hashToken(nt),
        tenantId: t.id,
        userId: u.id,
        name: "t",
      });
      const h = { authorization: `Bearer ${nt}` };
      const site = JSON.parse((await call("POST", "/api/sites", h, { name: `${name} HQ` })).text);
      const dev = JSON.parse(
        (await call("POST", `/api/sites/${site.id}/devices`, h, { host: "127.0.0.1", ports: [80] }))
          .text,
      );
      const ops = JSON.parse(
        (await call("POST", "/api/cli/sessions", h, { siteIds: [site.id] })).text,
      );
      const key = JSON.parse((await call("POST", "/api/api-keys", h, { name: "k" })).text);
      const license = crypto.randomUUID();
      await s.createLicense({ tenantId: t.id, hash: await hashToken(license) });
      const lic = (await s.listLicenses(t.id))[0];
      return { t, u, nt, site, dev, ops, key, license, licId: lic.id };
    };
    const A = await make("alpha");
    const B = await make("beta");
    const secretsOfA = [
      A.t.id,
      A.site.id,
      A.dev.id,
      A.dev.handles["80"],
      A.u.id,
      A.key.id,
      A.licId,
      A.ops.id,
    ];
    const params: Record<string, string> = {
      id: A.site.id,
      handle: A.dev.handles["80"],
      tenantId: A.t.id,
      licenseId: A.licId,
      tokenHash: A.ops.id,
      deviceId: A.dev.id,
    };
    const credsOfB: Record<string, Record<string, string>> = {
      anonymous: {},
      "nt_": { authorization: `Bearer ${B.nt}` },
      "ops_": { authorization: `Bearer ${B.ops.token}` },
      license: { "x-license": B.license },
      "nk_": { "x-api-key": B.key.key },
    };
    const routes = new Set<string>();
    const doc = JSON.parse((await call("GET", "/api/openapi.json", {})).text) as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const m of Object.keys(methods)) routes.add(`${m.toUpperCase()} ${path}`);
    }
    assert(routes.size >= 25, `expected the whole API, got ${routes.size} routes`);
    let cases = 0;
    for (const route of routes) {
      const [method, template] = route.split(" ");
      const honoKey = `${method} ${template.replace(/\{([^}]+)\}/g, ":$1")}`;
      // Fill every path parameter with tenant A's id of that kind (devices/agents/tokens: A's ids).
      const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
        if (template.startsWith("/api/devices/")) return A.dev.id;
        if (template.startsWith("/api/api-keys/")) return A.key.id;
        if (template.startsWith("/api/cli/sessions/")) return A.ops.id;
        if (template.startsWith("/api/handles/")) return A.dev.handles["80"];
        return params[name] ?? A.site.id;
      });
      for (const [kind, headers] of Object.entries(credsOfB)) {
        // An event stream B may open (its own CLI session's plan) never ends: read its status
        // and what it sent first, then hang up.
        const r = method === "GET" && (template.endsWith("/events") || template.endsWith("/stream"))
          ? await openStream(tc.base + path, headers)
          : await call(method, path, headers, {
            name: "x",
            host: "127.0.0.1",
            ports: [22],
            siteIds: [A.site.id],
            range: "192.0.2.1",
            license: crypto.randomUUID(),
            external_operator_id: "e",
            operator_display_name: "o",
            sites: [A.site.id],
            username: "u",
            password: "p",
          });
        cases++;
        assert(r.status !== 500, `${route} as ${kind}: 500`);
        if (kind === "anonymous" && !PUBLIC.has(honoKey)) {
          assertEquals(r.status, 401, `${route} anonymous`);
        }
        // B's own audit log records the ids B itself presented when it was refused: not a leak.
        const text = route === "GET /api/audit" && r.status === 200
          ? JSON.stringify(
            (JSON.parse(r.text).items as { tenantId: string; action: string }[])
              .filter((e) => !(e.tenantId === B.t.id && e.action.endsWith(".deny"))),
          )
          : r.text;
        for (const secret of secretsOfA) {
          assert(
            !text.includes(secret),
            `${route} as ${kind} leaked ${secret}: ${r.status} ${text.slice(0, 200)}`,
          );
        }
        if (r.status < 300 && method !== "GET" && kind !== "anonymous") {
          // A write that succeeded must have touched only B's own records.
          assert(
            !path.includes(A.site.id) && !path.includes(A.dev.id),
            `${route} as ${kind} wrote to A: ${r.status}`,
          );
        }
      }
    }
    assert(cases >= 125);
    // And A's records are all still there, untouched.
    assertEquals((await s.getDevice(A.t.id, A.dev.id))?.ports, [80]);
    assertEquals((await s.getHandle(A.dev.handles["80"]))?.revokedAt, null);
    assertEquals((await s.listApiKeys(A.t.id))[0].revokedAt, null);
    assertEquals((await s.getCliSession(A.ops.id))?.revokedAt, null);
    assertEquals((await s.listLicenses(A.t.id))[0].revokedAt, null);
    assertEquals(await s.getDeviceCredentials(A.t.id, A.dev.id), null);
  } finally {
    await tc.stop();
  }
});

/** Status and the first chunk of a response that may be an endless event stream. */
async function openStream(url: string, headers: Record<string, string>) {
  const res = await fetch(url, { headers });
  if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return { status: res.status, text: await res.text() };
  }
  const reader = res.body!.getReader();
  const first = await reader.read();
  await reader.cancel();
  return { status: res.status, text: new TextDecoder().decode(first.value ?? new Uint8Array()) };
}
