// A site PC whose clock is wrong (no time server on a camera LAN, a flat CMOS battery): the real
// cloud, agent and CLI. Enrollment compares the clocks before it sends the token and says what
// is wrong (it said "the certificate the cloud issued does not chain to the pinned CA"); the
// token stays unused, and the same command works once the clocks agree. A running agent that
// finds the cloud's certificate not valid yet says so once, naming the clock, not at every try.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { issueServerCert } from "../../src/shared/crypto/pki.ts";
import { controlCertNames } from "../../src/cloud/server_cert_renewal.ts";

const DAY = 86_400_000;

Deno.test("enrollment on a machine two days behind the cloud: the clock named, the token unused", async () => {
  // The cloud's clock runs two days ahead of this machine's (the test-only offset file).
  const clockFile = await Deno.makeTempFile({ prefix: "nc-clock-" });
  await Deno.writeTextFile(clockFile, String(2 * DAY));
  const stack = await Stack.start({ cloudEnv: { NC_TEST_CLOCK_OFFSET_FILE: clockFile } });
  stack.defer(() => Deno.remove(clockFile));
  try {
    const q = await stack.quickstart([22]);
    // A token minted by the cloud, on its clock.
    const minted = await fetch(`${stack.url}/api/sites/${q.siteId}/enrollment-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: "{}",
    });
    assertEquals(minted.status, 201);
    const token = (await minted.json()).token as string;

    const first = await stack.enroll(token);
    assertEquals(first.code, 1, first.stderr);
    assertMatch(
      first.stderr,
      /this machine's clock is 48 h behind the cloud's \(here \S+Z, the cloud \S+Z\)/,
    );
    assertStringIncludes(first.stderr, "Set the clock right (turn on time synchronisation, NTP)");
    assertStringIncludes(first.stderr, "nothing was sent and the token is unused");
    assert(!first.stderr.includes("does not chain"), first.stderr);

    // The clocks agree again: the same token enrolls.
    await Deno.writeTextFile(clockFile, "0");
    const again = await stack.enroll(token);
    assertEquals(again.code, 0, again.stderr);
  } finally {
    await stack.stop();
  }
});

Deno.test("a running agent that finds the cloud's certificate not valid yet names the clock, once", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    // The control certificate starts two days from this machine's now: as this machine sees the
    // cloud's certificates when its own clock is two days behind.
    await stack.cloud.stop();
    const ca = {
      certPem: await Deno.readTextFile(`${stack.dataDir}/ca/agent-ca.pem`),
      keyPem: await Deno.readTextFile(`${stack.dataDir}/ca/agent-ca.key`),
    };
    const pair = await issueServerCert({
      ca,
      commonName: "control",
      // The names the cloud gives its own (else it would issue a new one at start).
      hostnames: controlCertNames(["127.0.0.1", "localhost"]),
      now: Date.now() + 2 * DAY,
    });
    await Deno.writeTextFile(`${stack.dataDir}/tls/control.pem`, pair.certPem);
    await Deno.writeTextFile(`${stack.dataDir}/tls/control.key`, pair.keyPem);
    await stack.startCloud();

    const agent = await stack.runAgent(e.state, false, { NC_LOG_LEVEL: "debug" });
    const hint = /"the cloud's certificate is not valid yet by this machine's clock \(here [^)]+\)/;
    await agent.waitFor(hint, 20_000);
    // Several more attempts (backoff 0.5 s, 1 s, 2 s …), each with other numbers: one line.
    await new Promise((r) => setTimeout(r, 5_000));
    assert(agent.count(/"waiting before reconnect"/) >= 3, "several attempts");
    assertEquals(agent.count(hint), 1, agent.lines.slice(-5).join("\n"));
    assertEquals(agent.count(/"control stream cannot connect; retrying"/), 0);
    const line = JSON.parse(agent.lines.find((l) => hint.test(l))!);
    assertEquals(line.level, 50);
    assertStringIncludes(line.reason, "certificate not valid yet");
  } finally {
    await stack.stop();
  }
});
