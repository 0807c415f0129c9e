/**
 * The agent's key/certificate files: whatever subset of the renewal's writes reached the disk,
 * the loader returns a key with its own certificate — the one issued last, even when an old
 * 825-day certificate outlives it — never a mix.
 */
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import {
  CURRENT_FILES,
  loadPair,
  NEXT_FILES,
  promotePair,
  saveNextPair,
} from "../../../src/agent/cert_files.ts";
import { renewalDue } from "../../../src/agent/renewal.ts";
import {
  certInfo,
  createCA,
  createCsr,
  generateKeyPem,
  keyMatchesCert,
  signClientCsr,
} from "../../../src/shared/crypto/pki.ts";

async function pair(ca: { certPem: string; keyPem: string }, days: number, issuedDaysAgo = 0) {
  const keyPem = await generateKeyPem();
  const { certPem } = await signClientCsr({
    ca,
    csrPem: await createCsr({ keyPem, commonName: "x" }),
    commonName: "ag-1",
    validDays: days,
    now: Date.now() - issuedDaysAgo * 86_400_000,
  });
  return { keyPem, certPem };
}

Deno.test("cert files: every crash point of renewal and promotion leaves a matching pair", async () => {
  const ca = await createCA({ commonName: "ca" });
  const old = await pair(ca, 825, 600);
  const fresh = await pair(ca, 30);
  const serial = (pem: string) => certInfo(pem).serialHex;
  // Each case: the files on disk after a crash at some point, and the pair expected.
  const cases: [string, Record<string, string>, "old" | "new", "current" | "next"][] = [
    [
      "nothing renewed",
      { [CURRENT_FILES.key]: old.keyPem, [CURRENT_FILES.cert]: old.certPem },
      "old",
      "current",
    ],
    [
      "after the next key",
      {
        [CURRENT_FILES.key]: old.keyPem,
        [CURRENT_FILES.cert]: old.certPem,
        [NEXT_FILES.key]: fresh.keyPem,
      },
      "old",
      "current",
    ],
    [
      "after the next certificate",
      {
        [CURRENT_FILES.key]: old.keyPem,
        [CURRENT_FILES.cert]: old.certPem,
        [NEXT_FILES.key]: fresh.keyPem,
        [NEXT_FILES.cert]: fresh.certPem,
      },
      "new",
      "next",
    ],
    [
      "promotion after the key",
      {
        [CURRENT_FILES.key]: fresh.keyPem,
        [CURRENT_FILES.cert]: old.certPem,
        [NEXT_FILES.key]: fresh.keyPem,
        [NEXT_FILES.cert]: fresh.certPem,
      },
      "new",
      "next",
    ],
    [
      "promotion after the certificate",
      {
        [CURRENT_FILES.key]: fresh.keyPem,
        [CURRENT_FILES.cert]: fresh.certPem,
        [NEXT_FILES.key]: fresh.keyPem,
        [NEXT_FILES.cert]: fresh.certPem,
      },
      "new",
      "current",
    ],
    [
      "a stale next key from an older renewal",
      {
        [CURRENT_FILES.key]: fresh.keyPem,
        [CURRENT_FILES.cert]: fresh.certPem,
        [NEXT_FILES.key]: old.keyPem,
      },
      "new",
      "current",
    ],
  ];
  for (const [name, files, want, source] of cases) {
    const dir = await Deno.makeTempDir();
    for (const [f, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${f}`, text);
    const got = (await loadPair(dir))!;
    assert(got, name);
    assert(await keyMatchesCert(got.keyPem, got.certPem), `${name}: matching pair`);
    assertEquals(serial(got.certPem), serial(want === "old" ? old.certPem : fresh.certPem), name);
    assertEquals(got.source, source, name);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cert files: save next, prefer proven on fallback, promote; keys stay 0600", async () => {
  const ca = await createCA({ commonName: "ca" });
  const old = await pair(ca, 825, 600);
  const fresh = await pair(ca, 30);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/${CURRENT_FILES.key}`, old.keyPem);
  await Deno.writeTextFile(`${dir}/${CURRENT_FILES.cert}`, old.certPem);
  await saveNextPair(dir, fresh);
  assertEquals((await Deno.stat(`${dir}/${NEXT_FILES.key}`)).mode! & 0o777, 0o600);
  assertEquals((await loadPair(dir))!.certPem, fresh.certPem);
  assertEquals((await loadPair(dir, { proven: true }))!.certPem, old.certPem);
  await promotePair(dir, fresh);
  const got = (await loadPair(dir))!;
  assertEquals([got.certPem, got.keyPem, got.source], [fresh.certPem, fresh.keyPem, "current"]);
  assertEquals((await Deno.stat(`${dir}/${CURRENT_FILES.key}`)).mode! & 0o777, 0o600);
  assertEquals(await Deno.stat(`${dir}/${NEXT_FILES.cert}`).catch(() => null), null);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("renewal is due at two thirds of the certificate's life", () => {
  const start = Date.UTC(2026, 0, 1);
  const day = 86_400_000;
  assertEquals(renewalDue(start, start + 30 * day), start + 20 * day);
  assertEquals(renewalDue(start, start + 825 * day), start + 550 * day);
});
