// Sign-in limits hold across the nodes of a deployment: two real cloud processes on one store
// (the way a load balancer spreads one guesser's requests). Failures counted on node-1 and on
// node-2 add up to one limit for the address (then 429 on either node), and the account they
// locked is locked on the other node too — while its owner, from an address that never failed,
// still signs in there. Before, each node counted in its own memory: a guesser had the limit
// once per node, and an account locked on one node was open on the other.
import { assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { SIGN_IN_FAILURES_PER_MINUTE } from "../../src/cloud/api/session_routes.ts";

/** POST /api/auth/login on `node` from the loopback address `from`: the status. */
async function login(node: Stack, email: string, password: string, from: string) {
  const out = await new Deno.Command("curl", {
    args: [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--max-time",
      "30",
      "--interface",
      from,
      "-H",
      "content-type: application/json",
      "--data-binary",
      "@-",
      `${node.url}/api/auth/login`,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  // The password goes on standard input, never on a command line.
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify({ email, password })));
  await w.close();
  return Number(new TextDecoder().decode((await out.output()).stdout));
}

Deno.test("sign-in limits are one budget across nodes: an address and an account limited on either node", async () => {
  const n1 = await Stack.start();
  let n2: Stack | null = null;
  try {
    const q = await n1.quickstart([9]);
    const user = await n1.addUser(q.tenantId);
    n2 = await Stack.start({ joining: n1, node: "node-2" });
    // The limit's failures, alternating between the nodes, from one address.
    for (let i = 0; i < SIGN_IN_FAILURES_PER_MINUTE; i++) {
      const node = i % 2 ? n2 : n1;
      assertEquals(await login(node, user.email, "wrong password", "127.0.0.1"), 401, `try ${i}`);
    }
    for (const node of [n1, n2]) {
      assertEquals(
        await login(node, user.email, user.password, "127.0.0.1"),
        429,
        `${node.node}: the address is limited`,
      );
      assertEquals(
        await login(node, user.email, "wrong again", "127.0.0.2"),
        429,
        `${node.node}: the account is locked for a wrong password from anywhere`,
      );
    }
    assertEquals(await login(n2, user.email, user.password, "127.0.0.3"), 200, "the owner gets in");
    assertEquals(await login(n1, user.email, user.password, "127.0.0.4"), 200);
  } finally {
    await n2?.stop();
    await n1.stop();
  }
});
