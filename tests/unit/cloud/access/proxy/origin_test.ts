import { assert, assertEquals } from "../../../../_fixtures/assert.ts";
import {
  handleOfHost,
  handleToLabel,
  labelToHandle,
  OriginSigner,
} from "../../../../../src/cloud/access/proxy/origin.ts";
import { cloudSecretFrom } from "../../../../../src/cloud/tenancy/cloud_secret.ts";
import { openSqliteStore } from "../../../../../src/cloud/store/sqlite.ts";
import { ManualClock } from "../../../../../src/shared/clock.ts";

Deno.test("device origin labels: case-insensitive, reversible, only handles", () => {
  const h = "h-Ab_9-zXyQwErTyUiOpAsDg";
  const label = handleToLabel(h)!;
  assert(/^p[0-9a-f]{32}$/.test(label), label);
  assertEquals(labelToHandle(label), h);
  assertEquals(labelToHandle(label.toUpperCase()), h);
  assertEquals(handleToLabel("h-0123456789ab"), "l0123456789ab");
  assertEquals(labelToHandle("l0123456789ab"), "h-0123456789ab");
  assertEquals(handleToLabel("not-a-handle"), null);
  assertEquals(labelToHandle("www"), null);
  assertEquals(handleOfHost(`${label}.devices.example:8443`, "devices.example"), h);
  assertEquals(handleOfHost(`${label}.DEVICES.example`, "devices.example"), h);
  assertEquals(handleOfHost(`a.${label}.devices.example`, "devices.example"), null);
  assertEquals(handleOfHost("cloud.example", "devices.example"), null);
  assertEquals(handleOfHost(`${label}.devices.example`, null), null);
});

Deno.test("grants are signed, expire, and are good once on any node; cookies do not pass as grants", async () => {
  // Two nodes: one cloud secret, one store (a real SQLite database, the store's clock at 500).
  const secret = await cloudSecretFrom(crypto.getRandomValues(new Uint8Array(32)));
  const signer = await OriginSigner.create(secret);
  const sibling = await OriginSigner.create(secret);
  const dir = await Deno.makeTempDir({ prefix: "nc-origin-" });
  const clock = new ManualClock(500);
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  const siblingStore = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  const principal = {
    kind: "session" as const,
    tenantId: "t1",
    userId: "u1",
    role: "operator" as const,
    actor: "user:u1",
  };
  const g = await signer.sign("grant", { handle: "h-x", exp: 1_000, jti: "j1", principal });
  try {
    assertEquals((await signer.consumeGrant(g, 500, store))?.handle, "h-x");
    assertEquals(await signer.consumeGrant(g, 600, store), null, "used twice");
    assertEquals(await sibling.consumeGrant(g, 600, siblingStore), null, "replayed to a sibling");
    const late = await signer.sign("grant", { handle: "h-x", exp: 1_000, jti: "j2", principal });
    assertEquals(await signer.consumeGrant(late, 1_000, store), null, "expired");
  } finally {
    await store.close();
    await siblingStore.close();
    await Deno.remove(dir, { recursive: true });
  }
  const cookie = await signer.sign("cookie", { handle: "h-x", exp: 1_000, principal });
  assertEquals(await signer.verify("grant", cookie, 0), null);
  assertEquals((await signer.verify("cookie", cookie, 0))?.principal.userId, "u1");
  const [body, mac] = cookie.split(".");
  const tampered = btoa(JSON.stringify({ handle: "h-y", exp: 1_000, principal }))
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  assertEquals(await signer.verify("cookie", `${tampered}.${mac}`, 0), null);
  assertEquals(await signer.verify("cookie", `${body}.${mac}.x`, 0), null);
});
