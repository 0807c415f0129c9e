/**
 * Agents renew their own certificates over the control stream. Time is moved with the test-only
 * clock offset file (NC_TEST_CLOCK_OFFSET_FILE) of the cloud: the agent is enrolled while the
 * cloud's clock says three weeks ago, so its 30-day certificate is past two thirds of its life
 * when the agent starts. The TLS stacks always use the real clock, so every certificate involved
 * is valid for them; the connector's own expiry checks follow the shifted clock.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { type Proc, type Quickstart, Stack } from "../_fixtures/stack.ts";
import { certInfo, keyMatchesCert } from "../../src/shared/crypto/pki.ts";

const DAY = 86_400_000;

/** A cloud whose clock the test moves by writing `offset(ms)`. */
async function timeShiftedStack(): Promise<{ stack: Stack; offset(ms: number): Promise<void> }> {
  const file = await Deno.makeTempFile({ prefix: "nc-clock-" });
  const offset = async (ms: number) => {
    await Deno.writeTextFile(file, String(ms));
    await new Promise((r) => setTimeout(r, 250)); // the clock re-reads the file every 100 ms
  };
  await offset(0);
  const stack = await Stack.start({ cloudEnv: { NC_TEST_CLOCK_OFFSET_FILE: file } });
  stack.defer(() => Deno.remove(file));
  return { stack, offset };
}

async function audit(stack: Stack, q: Quickstart, action: string) {
  const r = await fetch(`${stack.url}/api/audit?action=${action}`, {
    headers: { authorization: `Bearer ${q.apiToken}` },
  });
  assertEquals(r.status, 200);
  return (await r.json()).items as { target: string; detail: Record<string, string> }[];
}

async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!await fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const connectedSerial = (cloud: Proc, serial: string) =>
  cloud.waitFor(new RegExp(`"certSerial":"${serial}".*"agent connected"`));

Deno.test("an agent renews at two thirds of its certificate's life, reconnects on the new one; the old one is refused only after its own expiry", async () => {
  const { stack, offset } = await timeShiftedStack();
  try {
    const q = await stack.quickstart([22]);
    await offset(-21 * DAY);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    await offset(0);
    const old = certInfo(await Deno.readTextFile(`${e.state}/agent.pem`));
    const lifeDays = (old.notAfter.getTime() - old.notBefore.getTime()) / DAY;
    assert(lifeDays > 29.9 && lifeDays < 30.1, `30-day certificate, got ${lifeDays} days`);
    // Keep the old pair aside to present it again later.
    const oldState = `${stack.dir}/old-state`;
    await Deno.mkdir(oldState);
    for (const f of ["agent.key", "agent.pem", "ca.pem", "agent.json"]) {
      await Deno.copyFile(`${e.state}/${f}`, `${oldState}/${f}`);
    }

    const agent = await stack.runAgent(e.state);
    await agent.waitFor(/"certificate renewed; the new one is used from the next connection"/);
    const renewed = certInfo(await Deno.readTextFile(`${e.state}/agent.next.pem`));
    assertEquals(renewed.subjectCN, old.subjectCN);
    assert(renewed.serialHex !== old.serialHex);
    assert(renewed.notAfter.getTime() > old.notAfter.getTime() + 20 * DAY);
    assertEquals((await Deno.stat(`${e.state}/agent.next.key`)).mode! & 0o777, 0o600);
    assertEquals(
      (await Deno.readTextFile(`${e.state}/agent.pem`)).trim().length > 0,
      true,
      "the old pair is kept until the new one has connected",
    );
    const events = await audit(stack, q, "agent.cert.renew");
    assertEquals(events.length, 1);
    assertEquals(events[0].target, old.subjectCN);
    assertEquals(events[0].detail.serial, renewed.serialHex);
    assertEquals(events[0].detail.previousSerial, old.serialHex);

    // The next connection uses the new pair, then the old files are replaced.
    await stack.cloud.stop();
    await stack.startCloud();
    await connectedSerial(stack.cloud, renewed.serialHex);
    await agent.waitFor(/"renewed certificate in use; the old one is removed"/);
    await waitUntil(
      "the old pair replaced",
      async () => !await exists(`${e.state}/agent.next.pem`),
    );
    assertEquals(
      certInfo(await Deno.readTextFile(`${e.state}/agent.pem`)).serialHex,
      renewed.serialHex,
    );
    assert(
      await keyMatchesCert(
        await Deno.readTextFile(`${e.state}/agent.key`),
        await Deno.readTextFile(`${e.state}/agent.pem`),
      ),
    );
    assertEquals((await Deno.stat(`${e.state}/agent.key`)).mode! & 0o777, 0o600);
    const listed = await (await fetch(`${stack.url}/api/agents`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    })).json();
    const row = listed.items.find((a: { id: string }) => a.id === old.subjectCN);
    assertEquals(row.certificate.serial, renewed.serialHex);
    assertEquals(row.certificate.expiresAt, renewed.notAfter.toISOString());
    assertEquals(row.certificate.ca, "current");
    await agent.stop();

    // Nine days remain on the old certificate: five days on, it is still accepted.
    await offset(5 * DAY);
    const stale = await stack.runAgent(oldState, false);
    await connectedSerial(stack.cloud, old.serialHex);
    await stale.stop();
    // (It may have renewed too; present the old pair alone again.)
    for (const f of ["agent.next.key", "agent.next.pem"]) {
      await Deno.remove(`${oldState}/${f}`).catch(() => {});
    }

    // Ten days on it has expired: refused with the guide's words, logged once by the agent.
    await offset(10 * DAY);
    const expired = await stack.runAgent(oldState, false);
    await expired.waitFor(/certificate expired: re-enroll/);
    await waitUntil(
      "three refusals",
      () => stack.cloud.count(/control stream refused: expired/) >= 3,
      40_000,
    );
    assertEquals(expired.count(/certificate expired: re-enroll/), 1, "logged once");
    const line = JSON.parse(expired.lines.find((l) => /certificate expired/.test(l))!);
    assert(String(line.command).startsWith(`connector agent enroll --cloud ${stack.url}`));
    assert(String(line.command).includes("--force"));
    assert((await audit(stack, q, "agent.reject_cert_expired")).length >= 3);
    await expired.stop();

    // The renewed certificate still works then.
    const again = await stack.runAgent(e.state);
    await connectedSerial(stack.cloud, renewed.serialHex);
    await again.stop();
  } finally {
    await stack.stop();
  }
});
