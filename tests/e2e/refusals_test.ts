// Every refusal the spine promises, against the real processes: anonymous and cross-tenant
// tunnels, a target the agent's own allowlist refuses even when the cloud asks, an unknown CN,
// a revoked agent cut off, reused and expired enrollment tokens, and a cloud whose CA does not
// match the pin in the token.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_fixtures/assert.ts";
import {
  echoServer,
  echoThrough,
  randomBytes,
  Stack,
  type TunnelRefused,
} from "../_fixtures/stack.ts";
import { createCsr, generateKeyPem, signClientCsr, spkiPin } from "../../src/shared/crypto/pki.ts";
import { saveState } from "../../src/agent/state.ts";

async function audit(stack: Stack, action: string) {
  const r = await stack.admin<
    { entries: { action: string; target: string; tenantId: string | null }[] }
  >(
    "audit",
    "--action",
    action,
  );
  return r.entries;
}

Deno.test("tunnel refusals: anonymous 401, other tenant 403, agent-side allowlist 403", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const a = await stack.quickstart([echo.port], "Alpha");
    const b = await stack.quickstart([echo.port], "Beta");
    await stack.agentFor(a);
    const handle = a.device.handles[echo.port];

    const anon = await assertRejects(() => stack.openTunnel(handle)) as TunnelRefused;
    assertEquals(anon.status, 401);
    assertEquals(anon.body, { error: "auth_required", message: "authentication required" });

    const bad = await assertRejects(() =>
      stack.openTunnel(handle, "nt_" + "x".repeat(43))
    ) as TunnelRefused;
    assertEquals(bad.status, 401);

    const cross = await assertRejects(() => stack.openTunnel(handle, b.apiToken)) as TunnelRefused;
    assertEquals(cross.status, 403);
    assertEquals(cross.body.message, "handle does not belong to your tenant");
    assertEquals(echo.accepted(), 0);

    // A compromised cloud: the device row now points at another port without the allowlist
    // changing. The cloud asks; the agent's own list refuses; nothing is dialed.
    const db = new DatabaseSync(`${stack.dataDir}/connector.db`);
    db.prepare("UPDATE devices SET host = ? WHERE id = ?").run("127.0.0.2", a.device.deviceId);
    db.close();
    const refused = await assertRejects(() =>
      stack.openTunnel(handle, a.apiToken)
    ) as TunnelRefused;
    assertEquals(refused.status, 403);
    assertEquals(refused.body.message, "Target not in allowlist");
    assertEquals(echo.accepted(), 0);
    assert((await audit(stack, "tunnel.deny")).length >= 1);
  } finally {
    await stack.stop();
  }
});

Deno.test("enrollment refusals: reused token, expired token, CA pin mismatch", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const first = await stack.enroll(q.enrollmentToken, "one");
    assertEquals(first.code, 0, first.stderr);

    const again = await stack.enroll(q.enrollmentToken, "two");
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "401 enrollment token has already been used");

    const short = await stack.admin<{ token: string }>(
      "enroll-token",
      "--tenant",
      q.tenantId,
      "--site",
      q.siteId,
      "--ttl",
      "1s",
    );
    await new Promise((r) => setTimeout(r, 1_200));
    const expired = await stack.enroll(short.token, "three");
    assertEquals(expired.code, 1);
    assertStringIncludes(expired.stderr, "401 enrollment token has expired");

    const fresh = await stack.admin<{ token: string }>(
      "enroll-token",
      "--tenant",
      q.tenantId,
      "--site",
      q.siteId,
    );
    const [secret, pin] = fresh.token.split(".");
    const wrongPin = pin.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    const impostor = await stack.enroll(`${secret}.${wrongPin}`, "four");
    assertEquals(impostor.code, 1);
    assertStringIncludes(impostor.stderr, "does not match the pin");
    // The token was never sent: it still works with the right pin.
    const ok = await stack.enroll(fresh.token, "five");
    assertEquals(ok.code, 0, ok.stderr);

    const denied = await audit(stack, "agent.enroll_denied");
    assertEquals(denied.length, 2);
    assert(denied.every((e) => e.tenantId === q.tenantId));
  } finally {
    await stack.stop();
  }
});

Deno.test("control refusals: unknown CN refused and audited; revoked agent cut off at once", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);

    // A certificate from the real agent CA whose CN was never registered.
    const ca = {
      certPem: await Deno.readTextFile(`${stack.dataDir}/ca/agent-ca.pem`),
      keyPem: await Deno.readTextFile(`${stack.dataDir}/ca/agent-ca.key`),
    };
    const keyPem = await generateKeyPem();
    const { certPem } = await signClientCsr({
      ca,
      csrPem: await createCsr({ keyPem, commonName: "x" }),
      commonName: "ag-not-registered",
    });
    const state = `${stack.dir}/rogue`;
    await saveState(state, {
      agentId: "ag-not-registered",
      siteId: q.siteId,
      cloudUrl: stack.url,
      controlEndpoint: `127.0.0.1:${stack.ports.control}`,
      caPin: await spkiPin(ca.certPem),
      enrolledAt: new Date().toISOString(),
      keyPem,
      certPem,
      caPem: ca.certPem,
    });
    const rogue = await stack.runAgent(state, false);
    await rogue.waitFor(/unknown CN/);
    assertEquals(rogue.count(/"control stream up"/), 0);
    const rejected = await audit(stack, "agent.reject_unregistered_cn");
    assertEquals(rejected[0]?.target, "ag-not-registered");

    // A real agent with a live tunnel, then revoked.
    const agent = await stack.agentFor(q);
    const ws = await stack.openTunnel(q.device.handles[echo.port], q.apiToken);
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on(
        "close",
        (code: number, reason: Uint8Array) => r({ code, reason: new TextDecoder().decode(reason) }),
      )
    );
    const agentId = JSON.parse(agent.lines.find((l) => l.includes("agent starting"))!).agent;
    await stack.admin("agent", "revoke", "--tenant", q.tenantId, "--agent", agentId);
    const c = await closed;
    assertEquals(c.code, 1011);
    assertEquals(c.reason, "agent disconnected");
    await agent.waitFor(/agent revoked/, 10_000);
    const refused = await assertRejects(() =>
      stack.openTunnel(q.device.handles[echo.port], q.apiToken)
    ) as TunnelRefused;
    assertEquals(refused.status, 503);
    assertEquals(refused.body.message, "agent reconnecting");
  } finally {
    await stack.stop();
  }
});

Deno.test("resilience: cloud restart, agent back within the backoff cap; agent killed mid-tunnel", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    const agent = await stack.agentFor(q);
    const handle = q.device.handles[echo.port];

    await stack.cloud.stop("SIGKILL");
    await agent.waitFor(/"control stream lost/);
    const before = agent.count(/"control stream up"/);
    const t0 = Date.now();
    await stack.startCloud();
    while (agent.count(/"control stream up"/) === before) {
      assert(Date.now() - t0 < 20_000, "agent did not come back within the 15 s backoff cap");
      await new Promise((r) => setTimeout(r, 100));
    }
    const data = randomBytes(1 << 20);
    const out = await echoThrough(await stack.openTunnel(handle, q.apiToken), data);
    assertEquals(out.received.byteLength, data.byteLength);

    // Kill the agent while a tunnel is open: the operator learns why.
    const ws = await stack.openTunnel(handle, q.apiToken);
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on(
        "close",
        (code: number, reason: Uint8Array) => r({ code, reason: new TextDecoder().decode(reason) }),
      )
    );
    await agent.stop("SIGKILL");
    const c = await closed;
    assertEquals(c.code, 1011);
    assertEquals(c.reason, "agent disconnected");
  } finally {
    await stack.stop();
  }
});

/** The open file descriptors of a process. */
function openFds(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Sends `request` on a fresh connection and reads the answer to its end; its status line. */
async function refusedUpgrade(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("refused upgrades: each connection closed after its answer, no descriptor kept", async () => {
  // Found by `deno task fuzz --target camera`: a refused live-view upgrade (node:http's, a camera
  // that refused its stream, or no credential at all) ended only the cloud's side, and the socket
  // nobody read kept its descriptor for good — 13 000 refusals, 18 000 descriptors.
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    const handle = q.device.handles[echo.port];
    const upgrade = (target: string, auth = "") =>
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: Upgrade\r\n` +
      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    const asks: [string, string][] = [
      // The live view without a credential, and with one for a camera whose agent is away.
      [upgrade(`/api/live/${handle}?path=/s`), "HTTP/1.1 401"],
      [
        upgrade(`/api/live/${handle}?path=/s`, `Authorization: Bearer ${q.apiToken}\r\n`),
        "HTTP/1.1 503",
      ],
      // The browser proxy's upgrade without a credential.
      [upgrade(`/c/${handle}/ws`), "HTTP/1.1 401"],
    ];
    const pid = stack.cloud.child.pid;
    await refusedUpgrade(stack.ports.http, asks[0][0]); // the listener's own first allocations
    const before = openFds(pid);
    for (let i = 0; i < 60; i++) {
      for (const [request, status] of asks) {
        const said = await refusedUpgrade(stack.ports.http, request);
        assert(said.startsWith(status), `${request.split("\r\n")[0]}: ${said}`);
      }
    }
    // Each closes within a moment of its answer (180 refused here).
    let now = openFds(pid);
    for (let tries = 0; tries < 100 && now > before + 10; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      now = openFds(pid);
    }
    assert(
      now <= before + 10,
      `the cloud held ${before} descriptors, and ${now} after 180 refusals`,
    );
  } finally {
    await stack.stop();
  }
});
