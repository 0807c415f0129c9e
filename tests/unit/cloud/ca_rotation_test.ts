/**
 * The agent CA rotation's phases on disk: each transition idempotent, only the table's
 * transitions allowed, the right CA primary / signing renewals / trusted in every phase, and the
 * dropped CA archived at standby — after update-servers (new CA stays) and after rollback (old
 * CA stays).
 */
import { assert, assertEquals, assertRejects } from "../../_fixtures/assert.ts";
import { ensureCas } from "../../../src/cloud/pki.ts";
import { loadAgentCas, rotateAgentCa, RotationError } from "../../../src/cloud/ca_rotation.ts";
import { spkiPin, splitPemCerts } from "../../../src/shared/crypto/pki.ts";

async function dataDir() {
  const dir = await Deno.makeTempDir();
  await ensureCas({ dataDir: dir });
  return dir;
}

Deno.test("ca rotation: init → update-clients → update-servers → standby", async () => {
  const dir = await dataDir();
  try {
    const start = await loadAgentCas(dir);
    const old = start.primary.pin;
    assertEquals([start.phase, start.secondary, splitPemCerts(start.trustPem).length], [
      "standby",
      null,
      1,
    ]);
    const e = await assertRejects(() => rotateAgentCa(dir, "update-servers"));
    assert(e instanceof RotationError);
    assertEquals(e.message, "cannot go from standby to update-servers; next: init");

    const init = await rotateAgentCa(dir, "init");
    assertEquals(init.oldPin, old);
    assertEquals((await rotateAgentCa(dir, "init")).newPin, init.newPin, "idempotent");
    let cas = await loadAgentCas(dir);
    assertEquals([cas.primary.pin, cas.renewals.pin, cas.secondary?.pin], [old, old, init.newPin]);
    assertEquals(splitPemCerts(cas.trustPem).length, 2);

    await rotateAgentCa(dir, "update-clients");
    cas = await loadAgentCas(dir);
    assertEquals([cas.primary.pin, cas.renewals.pin], [old, init.newPin]);

    await rotateAgentCa(dir, "update-servers");
    await rotateAgentCa(dir, "update-servers");
    cas = await loadAgentCas(dir);
    assertEquals([cas.primary.pin, cas.renewals.pin, cas.old?.pin], [
      init.newPin,
      init.newPin,
      old,
    ]);
    assertEquals(await spkiPin(await Deno.readTextFile(`${dir}/ca/agent-ca.pem`)), init.newPin);
    const key = await Deno.stat(`${dir}/ca/agent-ca.key`);
    assertEquals(key.mode! & 0o777, 0o600);

    await rotateAgentCa(dir, "standby");
    cas = await loadAgentCas(dir);
    assertEquals([cas.phase, cas.primary.pin, cas.secondary], ["standby", init.newPin, null]);
    assertEquals(await spkiPin(await Deno.readTextFile(`${dir}/ca/agent-ca.retired.pem`)), old);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ca rotation: rollback from update-servers restores the old CA; standby drops the new one", async () => {
  const dir = await dataDir();
  try {
    const old = (await loadAgentCas(dir)).primary.pin;
    const { newPin } = await rotateAgentCa(dir, "init");
    await rotateAgentCa(dir, "update-clients");
    await rotateAgentCa(dir, "update-servers");
    await rotateAgentCa(dir, "rollback");
    let cas = await loadAgentCas(dir);
    assertEquals([cas.primary.pin, cas.renewals.pin, cas.secondary?.pin], [old, old, newPin]);
    const e = await assertRejects(() => rotateAgentCa(dir, "init"), "rollback goes to standby");
    assert(e instanceof RotationError);
    await rotateAgentCa(dir, "standby");
    cas = await loadAgentCas(dir);
    assertEquals([cas.phase, cas.primary.pin], ["standby", old]);
    assert(splitPemCerts(cas.trustPem).length === 1);
    // A new rotation can start again.
    assert((await rotateAgentCa(dir, "init")).newPin !== newPin);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
