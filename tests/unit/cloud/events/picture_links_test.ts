// Links to an alert's picture that work without signing in: the link opens its one picture of
// its tenant until it expires; anything altered — the tenant, the picture, the expiry, the
// signature — or a link signed with another cloud's secret opens nothing.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { PICTURE_LINK_MS, PictureLinks } from "../../../../src/cloud/events/picture_links.ts";
import { cloudSecretFrom } from "../../../../src/cloud/tenancy/cloud_secret.ts";

Deno.test("picture links: one picture of one tenant, until they expire; altered, nothing", async () => {
  const links = await PictureLinks.create(
    await cloudSecretFrom(crypto.getRandomValues(new Uint8Array(32))),
  );
  const now = 1_800_000_000_000;
  const query = await links.sign("t_1", "pic-1", now + PICTURE_LINK_MS);
  const q = Object.fromEntries(new URLSearchParams(query)) as {
    t: string;
    exp: string;
    sig: string;
  };
  assertEquals(q.t, "t_1");
  assertEquals(await links.verify("pic-1", q, now), true);
  assertEquals(await links.verify("pic-1", q, now + PICTURE_LINK_MS - 1_000), true);
  // Expired.
  assertEquals(await links.verify("pic-1", q, now + PICTURE_LINK_MS), false);
  // Another picture, another tenant, a later expiry, a changed or cut signature, garbage.
  assertEquals(await links.verify("pic-2", q, now), false);
  assertEquals(await links.verify("pic-1", { ...q, t: "t_2" }, now), false);
  assertEquals(
    await links.verify("pic-1", { ...q, exp: String(Number(q.exp) + 3600) }, now),
    false,
  );
  const flipped = (q.sig[0] === "A" ? "B" : "A") + q.sig.slice(1);
  assertEquals(await links.verify("pic-1", { ...q, sig: flipped }, now), false);
  assertEquals(await links.verify("pic-1", { ...q, sig: q.sig.slice(0, 20) }, now), false);
  assertEquals(await links.verify("pic-1", { ...q, sig: "!!not base64!!" }, now), false);
  assertEquals(await links.verify("pic-1", { ...q, exp: "1e20" }, now), false);
  // Another cloud's secret signs other links.
  const other = await PictureLinks.create(
    await cloudSecretFrom(crypto.getRandomValues(new Uint8Array(32))),
  );
  assertEquals(await other.verify("pic-1", q, now), false);
});
