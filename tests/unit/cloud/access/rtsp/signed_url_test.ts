// Signed RTSP URL tokens: bound to handle, user, minting credential and expiry; any change refuses.
import { assert, assertEquals } from "../../../../_fixtures/assert.ts";
import { cloudSecretFrom } from "../../../../../src/cloud/tenancy/cloud_secret.ts";
import { RtspUrlSigner } from "../../../../../src/cloud/access/rtsp/signed_url.ts";

Deno.test("signed rtsp url: verifies for its handle until it expires; anything else is refused", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const signer = await RtspUrlSigner.create(await cloudSecretFrom(key));
  const now = 1_800_000_000_000;
  const claims = {
    handle: "h-AAAAAAAAAAAAAAAAAAAAAA",
    userId: "u-abcdefghijklmnop",
    via: "api_token" as const,
    credentialHash: "0123456789ab".repeat(5) + "cdef",
    expiresAt: now + 3_600_000,
  };
  const t = await signer.sign(claims);
  assert(/^[A-Za-z0-9_-]+$/.test(t) && !t.includes("."), t);
  assertEquals(await signer.verify(claims.handle, t, now), claims);
  assertEquals(await signer.verify("h-BBBBBBBBBBBBBBBBBBBBBB", t, now), null, "other handle");
  assertEquals(await signer.verify(claims.handle, t, claims.expiresAt), null, "expired");
  const session = await signer.sign({ ...claims, via: "session" });
  assertEquals((await signer.verify(claims.handle, session, now))?.via, "session");
  const other = await RtspUrlSigner.create(await cloudSecretFrom(key.map((b) => b ^ 1)));
  assertEquals(await other.verify(claims.handle, t, now), null, "another cloud's key");
  for (let i = 0; i < t.length; i++) {
    const c = t[i] === "A" ? "B" : "A";
    const bad = t.slice(0, i) + c + t.slice(i + 1);
    const v = await signer.verify(claims.handle, bad, now);
    // The last character may carry only padding bits; every other change must be refused.
    if (i < t.length - 1) assertEquals(v, null, `changed at ${i}`);
  }
  for (const junk of ["", "!!", "AAAA", "x".repeat(500)]) {
    assertEquals(await signer.verify(claims.handle, junk, now), null);
  }
});
