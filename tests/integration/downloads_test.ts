// The download endpoint and the per-site installers against a real in-process cloud: public
// downloads with their SHA-256 (and a clear 404 on a development checkout), the listing for
// signed-in users, and installers only for the site's admins, each with a fresh, audited,
// one-shot token and the checksums of what the cloud serves.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";
import { randomBytes, sha256 } from "../_fixtures/stack.ts";
import type { Role } from "../../src/cloud/store/store.ts";

async function world() {
  const downloads = await Deno.makeTempDir({ prefix: "nc-dl-" });
  const t = await startTestCloud({ "downloads-dir": downloads });
  const s = t.cloud.store;
  const user = async (tenantId: string, email: string, role: Role) => {
    const u = await s.createUser({ tenantId, email, passwordHash: "", role });
    const token = mintToken("nt");
    await s.createApiToken({ hash: await hashToken(token), tenantId, userId: u.id, name: "t" });
    return token;
  };
  const a = await s.createTenant({ name: "A" });
  const b = await s.createTenant({ name: "B" });
  const site = await s.createSite({ tenantId: a.id, name: "Istanbul HQ" });
  const tokens = {
    adminA: await user(a.id, "admin@a.test", "admin"),
    viewerA: await user(a.id, "viewer@a.test", "viewer"),
    adminB: await user(b.id, "admin@b.test", "admin"),
  };
  const get = (path: string, token?: string) =>
    t.call("GET", path, token ? { authorization: `Bearer ${token}` } : {});
  return {
    ...t,
    downloads,
    site,
    tenantA: a,
    tokens,
    get,
    async stop() {
      await t.stop();
      await Deno.remove(downloads, { recursive: true });
    },
  };
}

Deno.test("downloads: a development checkout says it has no executables and how to build them", async () => {
  const w = await world();
  try {
    const r = await w.get("/download/agent/linux/x86_64");
    assertEquals(r.status, 404);
    assertEquals(r.json.error, "not_found");
    assertStringIncludes(
      String(r.json.message),
      "no compiled executable connector-agent-linux-x86_64",
    );
    assertStringIncludes(String(r.json.message), "deno task compile");
    assertStringIncludes(String(r.json.message), "build/compile.ts");
    const list = await w.get("/api/downloads", w.tokens.viewerA);
    assertEquals(list.status, 200);
    assertEquals(list.json.items, []);
    assertStringIncludes(String(list.json.message), "no compiled executables");
    const bad = await w.get("/download/agent/plan9/x86_64");
    assertEquals(bad.status, 400);
    assertStringIncludes(String(bad.json.message), "linux|darwin|windows");
  } finally {
    await w.stop();
  }
});

Deno.test("downloads: served publicly with their SHA-256; listed for signed-in users", async () => {
  const w = await world();
  try {
    const agent = randomBytes(100_000);
    await Deno.writeFile(`${w.downloads}/connector-agent-linux-x86_64`, agent);
    await Deno.writeFile(`${w.downloads}/nanodems-tunnel-windows-x86_64.exe`, agent.slice(0, 10));
    await Deno.writeTextFile(`${w.downloads}/README.txt`, "not an executable");

    const res = await fetch(`${w.base}/download/agent/linux/x86_64`);
    assertEquals(res.status, 200);
    const body = new Uint8Array(await res.arrayBuffer());
    assertEquals(body, agent);
    assertEquals(res.headers.get("x-checksum-sha256"), await sha256(agent));
    assertStringIncludes(res.headers.get("content-disposition")!, "connector-agent-linux-x86_64");

    assertEquals((await w.get("/api/downloads")).status, 401);
    const list = await w.get("/api/downloads", w.tokens.viewerA);
    assertEquals(list.json.items, [
      {
        kind: "agent",
        os: "linux",
        arch: "x86_64",
        name: "connector-agent-linux-x86_64",
        size: agent.byteLength,
        sha256: await sha256(agent),
        url: "/download/agent/linux/x86_64",
      },
      {
        kind: "tunnel",
        os: "windows",
        arch: "x86_64",
        name: "nanodems-tunnel-windows-x86_64.exe",
        size: 10,
        sha256: await sha256(agent.slice(0, 10)),
        url: "/download/tunnel/windows/x86_64",
      },
    ]);

    // A replaced executable (same size) gets its new checksum.
    const v2 = agent.map((x) => x ^ 0xff);
    await Deno.writeFile(`${w.downloads}/connector-agent-linux-x86_64`, v2);
    await Deno.utime(`${w.downloads}/connector-agent-linux-x86_64`, 1, 1_000_000);
    const again = await fetch(`${w.base}/download/agent/linux/x86_64`);
    await again.body?.cancel();
    assertEquals(again.headers.get("x-checksum-sha256"), await sha256(v2));
  } finally {
    await w.stop();
  }
});

Deno.test("installers: admins of the site only; each with a fresh audited one-shot token and the checksums", async () => {
  const w = await world();
  try {
    const agent = new TextEncoder().encode("#!/bin/sh\necho agent\n");
    await Deno.writeFile(`${w.downloads}/connector-agent-linux-x86_64`, agent);
    const path = `/api/sites/${w.site.id}/installer.sh`;
    assertEquals((await w.get(path)).status, 401);
    assertEquals((await w.get(path, w.tokens.viewerA)).status, 403);
    assertEquals((await w.get(path, w.tokens.adminB)).status, 404);

    const one = await w.get(path, w.tokens.adminA);
    assertEquals(one.status, 200);
    assertStringIncludes(one.headers.get("content-type")!, "text/x-shellscript");
    assertEquals(one.headers.get("cache-control"), "no-store");
    // Bound to 127.0.0.1 without --public-url: the installer names the address the cloud bound.
    assertStringIncludes(one.text, `CLOUD_URL='http://127.0.0.1:${w.cloud.ports.http}'`);
    assertStringIncludes(one.text, `SHA256_LINUX_X86_64='${await sha256(agent)}'`);
    assertStringIncludes(one.text, "SHA256_DARWIN_AARCH64=''  # none");
    assertStringIncludes(one.text, 'site "Istanbul HQ"');
    const two = await w.get(path, w.tokens.adminA);
    const tokenOf = (text: string) => /ENROLL_TOKEN='([^']+)'/.exec(text)![1];
    assert(tokenOf(one.text) !== tokenOf(two.text), "each installer carries a fresh token");
    assert(tokenOf(one.text).endsWith(w.cloud.pki.agentCaPin.replace("sha256:", "")));

    const cmd = await w.get(`/api/sites/${w.site.id}/installer.cmd`, w.tokens.adminA);
    assertEquals(cmd.status, 200);
    assertStringIncludes(cmd.text, 'set "SHA256_WINDOWS_X86_64="\r\n');
    assertEquals(
      (await w.get(`/api/sites/${w.site.id}/installer.cmd`, w.tokens.adminB)).status,
      404,
    );

    const audit = await w.cloud.store.listAudit({
      tenantId: w.tenantA.id,
      action: "enrollment_token.mint",
      limit: 10,
    });
    assertEquals(
      audit.map((e) => (e.detail as { installer?: string }).installer).sort(),
      ["cmd", "sh", "sh"],
    );
    assert(audit.every((e) => e.target === w.site.id));
  } finally {
    await w.stop();
  }
});
