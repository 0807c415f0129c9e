/**
 * Phased rotation of the agent CA with real processes: `connector cloud admin ca rotate --ca
 * agent --phase …` drives a running cloud through init → update-clients → update-servers →
 * standby while agents stay connected and a tunnel carries bytes; and a rollback from
 * update-clients leaves every agent on the old CA.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import {
  echoServer,
  type Proc,
  randomBytes,
  sha256,
  Stack,
  steadyTunnel,
} from "../_fixtures/stack.ts";
import { issuedBy, splitPemCerts } from "../../src/shared/crypto/pki.ts";
import { loadPair } from "../../src/agent/cert_files.ts";

async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, ms = 60_000) {
  const end = Date.now() + ms;
  while (!await fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface CaStatus {
  phase: string;
  primaryPin: string;
  oldPin: string | null;
  newPin: string | null;
  agents: { total: number; onOldCa: number; onNewCa: number; onCurrentCa: number };
}

/** A cloud with `n` enrolled, running agents on one site. */
async function siteWithAgents(n: number, ports: number[]) {
  const stack = await Stack.start();
  const q = await stack.quickstart(ports);
  const states: string[] = [];
  const agents: Proc[] = [];
  for (let i = 0; i < n; i++) {
    const token = i === 0 ? q.enrollmentToken : await stack.enrollmentToken(q);
    const e = await stack.enroll(token, `agent-${i}`);
    assertEquals(e.code, 0, e.stderr);
    states.push(e.state);
  }
  for (const s of states) agents.push(await stack.runAgent(s, false));
  for (const a of agents) await a.waitFor(/"control stream up"/, 60_000);
  const rotate = async (phase: string) => {
    const r = await stack.admin<CaStatus>("ca", "rotate", "--ca", "agent", "--phase", phase);
    assertEquals(r.phase, phase);
    await stack.cloud.waitFor(new RegExp(`"phase":"${phase}".*"agent CA rotation phase applied"`));
    return r;
  };
  const status = () => stack.admin<CaStatus>("ca", "status");
  return { stack, q, states, agents, rotate, status };
}

const count = (p: Proc, re: RegExp) => p.count(re);

Deno.test("agent CA rotation through every phase: agents stay connected, a tunnel carries bytes intact, the old CA is refused at the end", async () => {
  const echo = await echoServer();
  const { stack, q, states, agents, rotate, status } = await siteWithAgents(10, [echo.port]);
  stack.defer(echo.close);
  try {
    const oldState = `${stack.dir}/old-agent-0`;
    await Deno.mkdir(oldState);
    for (const f of ["agent.key", "agent.pem", "ca.pem", "agent.json"]) {
      await Deno.copyFile(`${states[0]}/${f}`, `${oldState}/${f}`);
    }
    // A tunnel that carries bytes all along.
    const steady = await steadyTunnel(stack, q.device.handles[echo.port], q.apiToken);

    const preToken = await stack.enrollmentToken(q);
    const before = await status();
    assertEquals(before.phase, "standby");
    const oldPin = before.primaryPin;

    const init = await rotate("init");
    assertEquals(init.oldPin, oldPin);
    const newPin = init.newPin!;
    assertEquals((await rotate("init")).newPin, newPin, "init again changes nothing");
    // Tokens minted during the rotation carry both pins.
    const midToken = await stack.enrollmentToken(q);
    assertEquals(midToken.split(".").length, 3);
    for (const [i, a] of agents.entries()) {
      await a.waitFor(/"cas":2.*"trusted agent CAs updated"/);
      assertEquals(splitPemCerts(await Deno.readTextFile(`${states[i]}/ca.pem`)).length, 2);
    }

    await rotate("update-clients");
    await waitUntil("every agent renewed on the new CA", async () => {
      const s = await status();
      return s.agents.onNewCa === agents.length;
    });
    for (const s of states) {
      const next = await Deno.readTextFile(`${s}/agent.next.pem`);
      const cas = splitPemCerts(await Deno.readTextFile(`${s}/ca.pem`));
      assert(await issuedBy(next, cas[1]), "the renewed certificate comes from the new CA");
    }

    await rotate("update-servers");
    await rotate("update-servers");
    // An agent enrolled now with a token minted at init trusts the servers' new chain.
    const late = await stack.enroll(midToken, "agent-late");
    assertEquals(late.code, 0, late.stderr);
    await stack.runAgent(late.state);
    await rotate("standby");
    // A token minted before the rotation pins only the old CA: refused after it.
    const stalePin = await stack.enroll(preToken, "agent-pre");
    assert(stalePin.code !== 0);
    assert(stalePin.stderr.includes("does not match the pin"), stalePin.stderr);
    const end = await status();
    assertEquals([end.phase, end.primaryPin], ["standby", newPin]);
    assertEquals(end.agents.onCurrentCa, agents.length + 1);
    for (const a of agents) await a.waitFor(/"cas":1.*"trusted agent CAs updated"/);

    // No control stream went down during the rotation.
    for (const a of agents) assertEquals(count(a, /control stream lost/), 0);
    const carried = await steady.finish();
    assertEquals(carried.got, carried.sent);
    const cat = (cs: Uint8Array[]) => {
      const out = new Uint8Array(cs.reduce((n, c) => n + c.length, 0));
      let o = 0;
      for (const c of cs) (out.set(c, o), o += c.length);
      return out;
    };

    // A new tunnel after the rotation: the data listener serves the new chain, agents trust it.
    const echoed: Uint8Array[] = [];
    const fresh = await stack.openTunnel(
      q.device.handles[echo.port],
      q.apiToken,
      undefined,
      (m) => echoed.push(new Uint8Array(m)),
    );
    const probe = randomBytes(64 * 1024);
    fresh.send(probe);
    await waitUntil(
      "the new tunnel's echo",
      () => echoed.reduce((n, c) => n + c.length, 0) >= probe.length,
    );
    assertEquals(await sha256(cat(echoed)), await sha256(probe));
    fresh.close();

    // On its next connection an agent uses its new-CA pair and trusts only the new CA.
    await agents[1].stop("SIGKILL");
    const again = await stack.runAgent(states[1], false);
    await again.waitFor(/"renewed certificate in use; the old one is removed"/, 60_000);
    const pair = (await loadPair(states[1]))!;
    const ca = await Deno.readTextFile(`${states[1]}/ca.pem`);
    assert(await issuedBy(pair.certPem, ca));
    // The old CA is refused: an agent that trusts the new CA but still holds an old-CA
    // certificate cannot connect (the cloud no longer accepts that client certificate).
    await Deno.copyFile(`${states[1]}/ca.pem`, `${oldState}/ca.pem`);
    const stale = await stack.runAgent(oldState, false);
    await stale.waitFor(/control stream cannot connect/, 60_000);
    assertEquals(count(stale, /"control stream up"/), 0);
    await stale.stop();
    assertEquals(count(stack.cloud, /"agent connected"/) > 0, true);
    assert(!await issuedBy(await Deno.readTextFile(`${oldState}/agent.pem`), ca));
  } finally {
    await stack.stop();
  }
});

Deno.test("rolling back from update-clients leaves every agent working on the old CA", async () => {
  const { stack, states, agents, rotate, status } = await siteWithAgents(3, [22]);
  try {
    const oldPin = (await status()).primaryPin;
    await rotate("init");
    await rotate("update-clients");
    await waitUntil("renewed on the new CA", async () => (await status()).agents.onNewCa === 3);
    await rotate("rollback");
    await waitUntil("renewed back on the old CA", async () => {
      return (await status()).agents.onOldCa === 3;
    });
    const end = await rotate("standby");
    assertEquals([end.phase, (await status()).primaryPin], ["standby", oldPin]);
    for (const a of agents) await a.waitFor(/"cas":1.*"trusted agent CAs updated"/);
    for (const a of agents) assertEquals(count(a, /control stream lost/), 0);
    // Every agent reconnects on an old-CA pair.
    for (const [i, a] of agents.entries()) {
      await a.stop("SIGKILL");
      const again = await stack.runAgent(states[i]);
      const pair = (await loadPair(states[i]))!;
      assert(await issuedBy(pair.certPem, await Deno.readTextFile(`${states[i]}/ca.pem`)));
      await again.stop();
    }
    assertEquals((await status()).agents.onCurrentCa, 3);
  } finally {
    await stack.stop();
  }
});
