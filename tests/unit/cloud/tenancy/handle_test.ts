import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { isHandleShape, isLive, newHandleId } from "../../../../src/cloud/tenancy/handle.ts";

Deno.test("handles: h- + 22 base64url chars (128 bits), legacy 12-hex accepted, others not", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const h = newHandleId();
    assert(/^h-[A-Za-z0-9_-]{22}$/.test(h), h);
    seen.add(h);
  }
  assertEquals(seen.size, 1000);
  assert(isHandleShape("h-RkN3Lzm9TgD8e2Bp7Q1xWA"));
  assert(isHandleShape("h-86c2037a51fb"));
  for (
    const bad of ["h-86c2037a51fg", "h-short", "x-RkN3Lzm9TgD8e2Bp7Q1xWA", "h-../../etc/passwd", ""]
  ) {
    assert(!isHandleShape(bad), bad);
  }
  const base = {
    id: "h",
    tenantId: "t",
    siteId: "s",
    deviceId: "d",
    port: 1,
    agentId: null,
    createdAt: 0,
  };
  assert(isLive({ ...base, expiresAt: null, revokedAt: null }, 10));
  assert(!isLive({ ...base, expiresAt: 10, revokedAt: null }, 10), "expired at its expiry time");
  assert(!isLive({ ...base, expiresAt: null, revokedAt: 5 }, 10));
});
