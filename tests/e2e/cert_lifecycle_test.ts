/**
 * Certificate lifecycle with real processes: agents holding old 825-day certificates renew on
 * their next connection with no site visit; an agent killed with SIGKILL at any point of
 * writing or promoting its renewed pair starts again on a consistent pair (old or new); an agent
 * whose certificate expired while it was offline is refused by TLS and logs the re-enroll line
 * once; a renewed pair that cannot be saved (a full disk) is asked for again in the same session.
 * Time is moved with the cloud's test-only clock offset file (see cert_renewal_test.ts).
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Proc, Stack } from "../_fixtures/stack.ts";
import { fullDiskAt } from "../_fixtures/full_disk.ts";
import { certInfo, createCsr, keyMatchesCert, signClientCsr } from "../../src/shared/crypto/pki.ts";
import { loadPair } from "../../src/agent/cert_files.ts";

const DAY = 86_400_000;

const connected = (cloud: Proc, serial: string) =>
  cloud.waitFor(new RegExp(`"certSerial":"${serial}".*"agent connected"`), 45_000);
const serialOf = async (path: string) => certInfo(await Deno.readTextFile(path)).serialHex;

Deno.test("an agent enrolled with an 825-day certificate renews on its next connection", async () => {
  const stack = await Stack.start({ cloudArgs: ["--agent-cert-days", "825"] });
  try {
    const q = await stack.quickstart([22]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    const old = certInfo(await Deno.readTextFile(`${e.state}/agent.pem`));
    assert(old.notAfter.getTime() - old.notBefore.getTime() > 800 * DAY);
    const agent = await stack.runAgent(e.state);
    assertEquals(agent.count(/renewing the certificate/), 0, "nothing to renew under its policy");

    // The cloud now issues 30-day certificates: the agent renews at once, uses it next time.
    await stack.cloud.stop();
    stack.cloudArgs = [];
    await stack.startCloud();
    await agent.waitFor(/"certificate renewed; the new one is used from the next connection"/);
    const renewed = certInfo(await Deno.readTextFile(`${e.state}/agent.next.pem`));
    const days = (renewed.notAfter.getTime() - renewed.notBefore.getTime()) / DAY;
    assert(days > 29.9 && days < 30.1, `a 30-day certificate, got ${days}`);
    await stack.cloud.stop();
    await stack.startCloud();
    await connected(stack.cloud, renewed.serialHex);
    await agent.waitFor(/"renewed certificate in use; the old one is removed"/);
    assertEquals(agent.count(/renewing the certificate/), 1, "renewed once");
  } finally {
    await stack.stop();
  }
});

Deno.test("kill -9 while writing or promoting the renewed pair: the agent starts on a consistent pair", async () => {
  const clockFile = await Deno.makeTempFile({ prefix: "nc-clock-" });
  await Deno.writeTextFile(clockFile, String(-21 * DAY));
  const stack = await Stack.start({ cloudEnv: { NC_TEST_CLOCK_OFFSET_FILE: clockFile } });
  stack.defer(() => Deno.remove(clockFile));
  try {
    const q = await stack.quickstart([22]);
    const points = [
      "renew-after-key",
      "renew-after-cert",
      "promote-after-key",
      "promote-after-cert",
    ];
    const states: Record<string, string> = {};
    for (const [i, point] of points.entries()) {
      const token = i === 0 ? q.enrollmentToken : await stack.enrollmentToken(q);
      const e = await stack.enroll(token, `agent-${point}`);
      assertEquals(e.code, 0, e.stderr);
      states[point] = e.state;
    }
    // Three weeks later the certificates are past two thirds of their 30 days.
    await Deno.writeTextFile(clockFile, "0");
    const oldSerial: Record<string, string> = {};
    for (const p of points) oldSerial[p] = await serialOf(`${states[p]}/agent.pem`);
    const runs: Record<string, Proc> = {};
    for (const p of points) {
      runs[p] = await stack.runAgent(states[p], false, { NC_TEST_CRASH_AT: p });
    }

    // Killed while writing the next pair.
    for (const p of ["renew-after-key", "renew-after-cert"]) {
      assertEquals((await runs[p].exited).signal, "SIGKILL", p);
    }
    assert(await Deno.stat(`${states["renew-after-key"]}/agent.next.key`).then(() => true));
    assertEquals(
      await Deno.stat(`${states["renew-after-key"]}/agent.next.pem`).catch(() => null),
      null,
      "killed before the next certificate was written",
    );
    // Killed while promoting it, at the reconnect after the renewal.
    for (const p of ["promote-after-key", "promote-after-cert"]) {
      await runs[p].waitFor(/"certificate renewed; the new one is used from the next connection"/);
    }
    await stack.cloud.stop();
    await stack.startCloud();
    for (const p of ["promote-after-key", "promote-after-cert"]) {
      assertEquals((await runs[p].exited).signal, "SIGKILL", p);
    }
    const torn = states["promote-after-key"];
    assert(
      !await keyMatchesCert(
        await Deno.readTextFile(`${torn}/agent.key`),
        await Deno.readTextFile(`${torn}/agent.pem`),
      ),
      "the crash really left agent.key and agent.pem mismatched",
    );

    // Each starts again on a matching pair: the new one when it was whole on disk.
    const expect: Record<string, string> = {
      "renew-after-key": oldSerial["renew-after-key"],
      "renew-after-cert": await serialOf(`${states["renew-after-cert"]}/agent.next.pem`),
      "promote-after-key": await serialOf(`${torn}/agent.next.pem`),
      "promote-after-cert": await serialOf(`${states["promote-after-cert"]}/agent.pem`),
    };
    for (const p of points) {
      const pair = (await loadPair(states[p]))!;
      assert(await keyMatchesCert(pair.keyPem, pair.certPem), p);
      assertEquals(certInfo(pair.certPem).serialHex, expect[p], p);
      await stack.runAgent(states[p], false);
    }
    for (const p of points) await connected(stack.cloud, expect[p]);
  } finally {
    await stack.stop();
  }
});

Deno.test("an agent whose certificate expired while offline is refused at the TLS handshake and logs the re-enroll line once", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    // The agent was offline for 31 days: its 30-day certificate (issued then) has expired.
    const ca = {
      certPem: await Deno.readTextFile(`${stack.dataDir}/ca/agent-ca.pem`),
      keyPem: await Deno.readTextFile(`${stack.dataDir}/ca/agent-ca.key`),
    };
    const keyPem = await Deno.readTextFile(`${e.state}/agent.key`);
    const agentId = certInfo(await Deno.readTextFile(`${e.state}/agent.pem`)).subjectCN;
    const { certPem } = await signClientCsr({
      ca,
      csrPem: await createCsr({ keyPem, commonName: agentId }),
      commonName: agentId,
      validDays: 30,
      now: Date.now() - 31 * DAY,
    });
    await Deno.writeTextFile(`${e.state}/agent.pem`, certPem);
    const agent = await stack.runAgent(e.state, false);
    await agent.waitFor(/certificate expired: re-enroll/, 30_000);
    // Several more refused attempts (backoff 1 s, 2 s, 4 s …), still one line.
    await new Promise((r) => setTimeout(r, 8_000));
    assertEquals(agent.count(/certificate expired: re-enroll/), 1);
    assertEquals(agent.count(/"control stream up"/), 0);
    const line = JSON.parse(agent.lines.find((l) => /certificate expired/.test(l))!);
    assert(String(line.command).includes(`--cloud ${stack.url}`));
    // The token goes in a file, never on a command line others can read in the process list.
    assert(String(line.command).includes("--token-file "), line.command);
    assert(!/--token /.test(String(line.command)), line.command);
  } finally {
    await stack.stop();
  }
});

Deno.test("a renewed certificate that cannot be saved (a full disk) is asked for again in the same session", async () => {
  const stack = await Stack.start({ cloudArgs: ["--agent-cert-days", "825"] });
  try {
    const q = await stack.quickstart([22]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    // The agent's disk is full: no file of its may grow past 300 bytes (a certificate is ~700).
    const agent = new Proc(
      ["agent", "run", "--state", e.state, "--log-format", "json"],
      {},
      fullDiskAt(300),
    );
    stack.agents.push(agent);
    await agent.waitFor(/"control stream up"/);

    // The cloud now issues 30-day certificates: the agent renews at once, and cannot save it.
    await stack.cloud.stop();
    stack.cloudArgs = [];
    await stack.startCloud();
    await agent.waitFor(/"the renewed certificate cannot be saved in the state directory/, 45_000);
    const line = JSON.parse(
      agent.lines.find((l) => /renewed certificate cannot be saved/.test(l))!,
    );
    assertEquals(line.retryInS, 10);
    assert(/File too large|too large/i.test(line.err), line.err);
    const ups = agent.count(/"control stream up"/);

    // Space is freed; without a reconnect, the agent asks again and keeps the new pair.
    const lift = await new Deno.Command("prlimit", {
      args: ["--pid", String(agent.child.pid), "--fsize=unlimited:unlimited"],
    }).output();
    assertEquals(lift.code, 0, new TextDecoder().decode(lift.stderr));
    await agent.waitFor(
      /"certificate renewed; the new one is used from the next connection"/,
      45_000,
    );
    assertEquals(agent.count(/"control stream up"/), ups, "renewed in the same session");
    const pem = await Deno.readTextFile(`${e.state}/agent.next.pem`);
    const renewed = certInfo(pem);
    const days = (renewed.notAfter.getTime() - renewed.notBefore.getTime()) / DAY;
    assert(days > 29.9 && days < 30.1, `a 30-day certificate, got ${days}`);
    assert(await keyMatchesCert(await Deno.readTextFile(`${e.state}/agent.next.key`), pem));
  } finally {
    await stack.stop();
  }
});
