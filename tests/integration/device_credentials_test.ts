// The device credential API and the RTSP URL minting route against an in-process cloud: roles,
// tenant and site scope, validation, write-only answers, and what a signed URL is bound to; the
// same credentials for a whole site (those without, or with replace all), opened as sealed.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";
import type { Role } from "../../src/cloud/store/store.ts";
import { DeviceSecrets } from "../../src/cloud/tenancy/device_secrets.ts";
import { loadCloudSecret, SECRET_FILE } from "../../src/cloud/tenancy/cloud_secret.ts";
import { join } from "node:path";

Deno.test("device credentials API and RTSP URL minting: roles, scope, write-only", async () => {
  const tc = await startTestCloud();
  const s = tc.cloud.store;
  try {
    const a = await s.createTenant({ name: "A" });
    const b = await s.createTenant({ name: "B" });
    const user = async (tenantId: string, role: Role) => {
      const u = await s.createUser({
        tenantId,
        email: `${role}-${tenantId}@x.test`,
        passwordHash: "",
        role,
      });
      const token = mintToken("nt");
      await s.createApiToken({ hash: await hashToken(token), tenantId, userId: u.id, name: "t" });
      return { authorization: `Bearer ${token}` };
    };
    const admin = await user(a.id, "admin");
    const viewer = await user(a.id, "viewer");
    const adminB = await user(b.id, "admin");
    const site = (await tc.call("POST", "/api/sites", admin, { name: "HQ" })).json as {
      id: string;
    };
    const other = (await tc.call("POST", "/api/sites", admin, { name: "Depot" })).json as {
      id: string;
    };
    const dev = (await tc.call("POST", `/api/sites/${site.id}/devices`, admin, {
      host: "192.0.2.20",
      ports: [554],
    })).json as { id: string; hasCredentials: boolean; handles: Record<string, string> };
    assertEquals(dev.hasCredentials, false);
    const path = `/api/sites/${site.id}/devices/${dev.id}/credentials`;
    const body = { username: "admin", password: "Secret-42" };

    assertEquals((await tc.call("PUT", path, {}, body)).status, 401);
    assertEquals((await tc.call("PUT", path, viewer, body)).status, 403, "admin only");
    assertEquals((await tc.call("PUT", path, adminB, body)).status, 404, "other tenant");
    const wrongSite = `/api/sites/${other.id}/devices/${dev.id}/credentials`;
    assertEquals((await tc.call("PUT", wrongSite, admin, body)).status, 404, "other site");
    for (const bad of [{}, { username: "a:b", password: "x" }, { username: "a", password: "" }]) {
      const r = await tc.call("PUT", path, admin, bad);
      assertEquals(r.status, 400, JSON.stringify(bad));
      assert(typeof r.json.message === "string" && r.json.error === "bad_request");
    }
    const put = await tc.call("PUT", path, admin, body);
    assertEquals(put.json, { deviceId: dev.id, hasCredentials: true });
    const patched = await tc.call("PATCH", `/api/devices/${dev.id}`, admin, { label: "Gate" });
    assertEquals(patched.json.hasCredentials, true);
    assert(!patched.text.includes("Secret-42"));
    const sealed = (await s.getDeviceCredentials(a.id, dev.id))!.sealed;
    assert(sealed.startsWith("v1.") && !sealed.includes("Secret-42"));
    const audit = await tc.call("GET", `/api/audit?target=${dev.id}`, admin);
    assert(audit.text.includes("device.credentials.set") && !audit.text.includes("Secret-42"));
    assertEquals((await tc.call("DELETE", path, viewer)).status, 403);
    assertEquals((await tc.call("DELETE", path, admin)).json.removed, true);
    assertEquals((await tc.call("DELETE", path, admin)).json.removed, false);

    const handle = dev.handles["554"];
    const mint = (h: Record<string, string>, b2: unknown = {}, hd = handle) =>
      tc.call("POST", `/api/handles/${hd}/rtsp-url`, h, b2);
    assertEquals((await mint({})).status, 401);
    assertEquals((await mint(adminB)).status, 403, "another tenant's handle");
    assertEquals((await mint(adminB)).json.message, "handle does not belong to your tenant");
    assertEquals((await mint(admin, {}, "h-AAAAAAAAAAAAAAAAAAAAAA")).status, 404);
    assertEquals((await mint(admin, { ttlSeconds: 10 })).status, 400);
    assertEquals((await mint(admin, { path: "a b" })).status, 400);
    assertEquals(
      (await mint(admin, { path: "/live\u001b[2J" })).status,
      400,
      "no control characters: stream paths reach consoles and terminals",
    );
    const ops = (await tc.call("POST", "/api/cli/sessions", admin, { siteIds: [site.id] })).json;
    assertEquals(
      (await mint({ authorization: `Bearer ${ops.token}` })).status,
      403,
      "a CLI session uses Basic auth on the gateway instead",
    );
    const ok = await mint(viewer, { path: "/Streaming/Channels/101", ttlSeconds: 3600 });
    assertEquals(ok.status, 201, ok.text);
    // Bound to 127.0.0.1 without --public-url: the minted URL names 127.0.0.1, not localhost.
    const url = ok.json.url as string;
    assert(
      new RegExp(`^rtsp://127\\.0\\.0\\.1:\\d+/${handle}\\.[A-Za-z0-9_-]+/Streaming/Channels/101$`)
        .test(url),
      url,
    );
    assertEquals(ok.json.expiresAt, Math.floor((tc.clock.now() + 3_600_000) / 1000) * 1000);

    // The same credentials for every device of a site: those without any, or with replace all.
    const more = [];
    for (const host of ["192.0.2.21", "192.0.2.22"]) {
      more.push(
        (await tc.call("POST", `/api/sites/${site.id}/devices`, admin, { host, ports: [554] }))
          .json.id as string,
      );
    }
    await tc.call("PUT", path, admin, { username: "own", password: "Own-pass-1" });
    const sitePath = `/api/sites/${site.id}/credentials`;
    const same = { username: "admin", password: "Site-wide-9" };
    assertEquals((await tc.call("PUT", sitePath, {}, same)).status, 401);
    assertEquals((await tc.call("PUT", sitePath, viewer, same)).status, 403, "admin only");
    assertEquals((await tc.call("PUT", sitePath, adminB, same)).status, 404, "other tenant");
    for (const bad of [{ username: "a" }, { username: "a:b", password: "x" }, { password: "x" }]) {
      assertEquals((await tc.call("PUT", sitePath, admin, bad)).status, 400, JSON.stringify(bad));
    }
    // Opened with the cloud's own secret, as the proxy and the gateway do.
    const secrets = await DeviceSecrets.create(
      await loadCloudSecret(join(tc.cloud.config.dataDir, SECRET_FILE)),
    );
    const opened = async (id: string) =>
      (await secrets.open(a.id, id, (await s.getDeviceCredentials(a.id, id))!.sealed)).password;
    const missing = await tc.call("PUT", sitePath, admin, same);
    assertEquals(missing.json, { siteId: site.id, set: 2, kept: 1 });
    assertEquals(await opened(dev.id), "Own-pass-1", "a device's own credentials are kept");
    for (const id of more) assertEquals(await opened(id), "Site-wide-9");
    assert(!missing.text.includes("Site-wide-9"), "never answered back");
    const all = await tc.call("PUT", sitePath, admin, { ...same, replace: true });
    assertEquals(all.json, { siteId: site.id, set: 3, kept: 0 });
    assertEquals(await opened(dev.id), "Site-wide-9");
    const trail = await tc.call("GET", `/api/audit?action=device.credentials.set&limit=10`, admin);
    const items = trail.json.items as { detail: { site?: string } }[];
    assertEquals(items.filter((i) => i.detail.site === site.id).length, 5);
    assert(!trail.text.includes("Site-wide-9"));

    // One SSH key for the site's SSH servers only: the cameras keep their password.
    const server = (await tc.call("POST", `/api/sites/${site.id}/devices`, admin, {
      host: "192.0.2.23",
      ports: [22],
    })).json.id as string;
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n" +
      "-----END OPENSSH PRIVATE KEY-----\n";
    for (
      const bad of [
        { username: "ops", privateKey: "ssh-ed25519 AAAA" },
        { username: "ops", privateKey: key, only: "telnet" },
      ]
    ) {
      const r = await tc.call("PUT", sitePath, admin, bad);
      assertEquals(r.status, 400, JSON.stringify(bad));
    }
    const keyed = await tc.call("PUT", sitePath, admin, {
      username: "ops",
      privateKey: key,
      only: "SSH",
      replace: true,
    });
    assertEquals(keyed.json, { siteId: site.id, set: 1, kept: 0, other: 3 });
    const serverCreds = await secrets.open(
      a.id,
      server,
      (await s.getDeviceCredentials(a.id, server))!.sealed,
    );
    assertEquals([serverCreds.username, serverCreds.privateKey], ["ops", key]);
    for (const id of [dev.id, ...more]) assertEquals(await opened(id), "Site-wide-9");
    assert(!keyed.text.includes("b3BlbnNzaC1rZXktdjEAAAAA"), "never answered back");
  } finally {
    await tc.stop();
  }
});
