/**
 * The shared fixture's cloud restart, which several tests rely on (agents enrolled with a cloud
 * dial the same ports again): a port taken while the cloud was down (by a test running in
 * parallel, in CI) delays the restart instead of failing it, and a process that exits without
 * the line a test waits for fails that wait at once, with its last lines, not after the timeout.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { restartablePorts } from "../_fixtures/ports.ts";
import { Proc, Stack } from "../_fixtures/stack.ts";

/** Listens on `port` as soon as the stopped cloud's control relay child has let it go. */
async function squat(port: number): Promise<Deno.Listener> {
  for (let i = 0;; i++) {
    try {
      return Deno.listen({ hostname: "127.0.0.1", port });
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse) || i >= 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

Deno.test("the fixture restarts a cloud on its ports once other holders let them go", async () => {
  const stack = await Stack.start();
  try {
    const before = { ...stack.ports };
    await stack.cloud.stop();
    // Two holders: the HTTP port (a Deno listener) and the control port, which the control
    // relay child binds (node's); the cloud names either as "already in use" (listen_error.ts).
    const squatters = await Promise.all([before.http, before.control].map(squat));
    setTimeout(() => squatters[0].close(), 1500);
    setTimeout(() => squatters[1].close(), 3000);
    await stack.startCloud();
    assertEquals(stack.ports.http, before.http);
    assertEquals(stack.ports.control, before.control);
    const live = await fetch(`${stack.url}/healthz/live`);
    assertEquals(live.status, 200, await live.text());
  } finally {
    await stack.stop();
  }
});

Deno.test("ports for restarts come from below the kernel's ephemeral range and are free", () => {
  const low = Number(
    Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)[0],
  );
  const ports = restartablePorts(5);
  assertEquals(new Set(ports).size, 5);
  for (const p of ports) {
    assert(p >= 20_000 && p < low, `${p} below ${low}`);
    Deno.listen({ hostname: "127.0.0.1", port: p }).close();
  }
});

Deno.test("waiting for a line of a process that exited fails at once with its last lines", async () => {
  const p = new Proc(["no-such-role"]);
  const e = await p.waitFor(/never printed/, 60_000).then(() => null, (e: Error) => e);
  assert(e, "the wait failed");
  assert(/exited \(code [1-9]\d*\) before printing/.test(e.message), e.message);
});
