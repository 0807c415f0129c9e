// Device credentials sealed with a key derived from the cloud secret file: the file is created
// 0600 once and reused, a sealed value opens only for its own tenant and device and only with
// the same key, and the ciphertext does not contain the password.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { loadCloudSecret } from "../../../../src/cloud/tenancy/cloud_secret.ts";
import { DeviceSecrets, SealError } from "../../../../src/cloud/tenancy/device_secrets.ts";

Deno.test("cloud secret: created 0600 on first load, the same key afterwards, loose mode refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/cloud-secret.key`;
    const one = await loadCloudSecret(path);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const two = await loadCloudSecret(path);
    assertEquals(one.keyId, two.keyId);
    const s1 = await DeviceSecrets.create(one);
    const s2 = await DeviceSecrets.create(two);
    const sealed = await s1.seal("t-1", "d-1", { username: "admin", password: "pa55word" });
    assertEquals(await s2.open("t-1", "d-1", sealed), { username: "admin", password: "pa55word" });
    await Deno.chmod(path, 0o644);
    let refused = false;
    await loadCloudSecret(path).catch(() => (refused = true));
    assert(refused, "a group/world-readable key file is refused");
    await Deno.writeTextFile(`${dir}/bad.key`, "short\n", { mode: 0o600 });
    refused = false;
    await loadCloudSecret(`${dir}/bad.key`).catch(() => (refused = true));
    assert(refused, "a file that is not a 32-byte key is refused");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("device secrets: bound to tenant, device and key; tamper-evident; no plaintext", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mine = await DeviceSecrets.create(await loadCloudSecret(`${dir}/a.key`));
    const other = await DeviceSecrets.create(await loadCloudSecret(`${dir}/b.key`));
    const sealed = await mine.seal("t-1", "d-1", { username: "admin", password: "pa55word" });
    assert(sealed.startsWith("v1."));
    assert(!sealed.includes("pa55word") && !atobSafe(sealed).includes("pa55word"));
    const again = await mine.seal("t-1", "d-1", { username: "admin", password: "pa55word" });
    assert(again !== sealed, "fresh IV per seal");
    const fails = async (p: Promise<unknown>, re: RegExp) => {
      const e = await p.then(() => null, (e) => e);
      assert(e instanceof SealError, `expected SealError, got ${e}`);
      assert(re.test((e as Error).message), (e as Error).message);
    };
    await fails(mine.open("t-1", "d-2", sealed), /do not open/);
    await fails(mine.open("t-2", "d-1", sealed), /do not open/);
    await fails(other.open("t-1", "d-1", sealed), /same secret key file/);
    const parts = sealed.split(".");
    const flipped = parts[3][0] === "A" ? "B" + parts[3].slice(1) : "A" + parts[3].slice(1);
    await fails(mine.open("t-1", "d-1", [...parts.slice(0, 3), flipped].join(".")), /do not open/);
    await fails(mine.open("t-1", "d-1", "garbage"), /not a sealed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function atobSafe(s: string): string {
  return s.split(".").map((p) => {
    try {
      return atob(p.replaceAll("-", "+").replaceAll("_", "/"));
    } catch {
      return "";
    }
  }).join("");
}

Deno.test("device secrets: an SSH private key is sealed with the credentials and opens whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = await DeviceSecrets.create(await loadCloudSecret(`${dir}/a.key`));
    const privateKey =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n";
    const sealed = await s.seal("t-1", "d-1", { username: "root", password: "", privateKey });
    assert(!sealed.includes("b3BlbnNzaC1rZXk"));
    assertEquals(await s.open("t-1", "d-1", sealed), {
      username: "root",
      password: "",
      privateKey,
    });
    // Credentials sealed before keys existed open as they were.
    const old = await s.seal("t-1", "d-1", { username: "admin", password: "pw" });
    assertEquals(await s.open("t-1", "d-1", old), { username: "admin", password: "pw" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
