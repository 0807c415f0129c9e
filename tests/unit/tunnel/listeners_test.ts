import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { descriptorReserve, listenerBudget, Listeners } from "../../../src/tunnel/listeners.ts";
import type { PlanEntry } from "../../../src/tunnel/plan.ts";
import { until } from "../../_fixtures/until.ts";

Deno.test("listeners: a missing loopback alias falls back to 127.0.0.1 and still accepts", async () => {
  const events: string[] = [];
  let accepted: PlanEntry | null = null;
  const gotConn = Promise.withResolvers<void>();
  // As on macOS: only 127.0.0.1 exists.
  const listen = (a: { hostname: string; port: number }) => {
    if (a.hostname !== "127.0.0.1") {
      throw new Deno.errors.AddrNotAvailable("Cannot assign requested address (os error 49)");
    }
    return Deno.listen(a);
  };
  const l = new Listeners({
    bound: (k) => events.push(`bound ${k}`),
    failed: (k) => events.push(`failed ${k}`),
    closed: (k) => events.push(`closed ${k}`),
    fallback: (k, at) => events.push(`fallback ${k} ${at}`),
    accept: (conn, entry) => {
      accepted = entry;
      conn.close();
      gotConn.resolve();
    },
  }, listen);
  const entry = { ip: "127.0.0.7", port: 554, site: "Site", device: "Cam" } as unknown as PlanEntry;
  l.sync([entry]);
  assertEquals(events.length, 2, events.join("; "));
  const m = /^fallback 127\.0\.0\.7:554 127\.0\.0\.1:(\d+)$/.exec(events[0]);
  assert(m, events[0]);
  assertEquals(events[1], "bound 127.0.0.7:554");
  const c = await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
  await gotConn.promise;
  c.close();
  assertEquals(accepted, entry);
  // Stable across refreshes: the fallback is not re-bound.
  l.sync([entry]);
  assertEquals(events.length, 2);
  l.sync([]);
  await until("the third event", () => events.length === 3, 5_000, 1);
  assertEquals(events[2], "closed 127.0.0.7:554");
  l.close();
});

Deno.test("listeners: a pair reported closed is free (its port binds again at once)", async () => {
  const closed: string[] = [];
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const l = new Listeners({ ...quiet, closed: (k) => closed.push(k) });
  l.sync([pair("127.0.0.1", port)]);
  assertEquals(l.bound, [`127.0.0.1:${port}`]);
  l.sync([]);
  // The runtime releases the socket when the pending accept is cancelled, not at close():
  // "stopped listening" said at close() could be checked while the kernel still listened.
  await until("the pair reported closed", () => closed.length === 1, 5_000, 1);
  const again = Deno.listen({ hostname: "127.0.0.1", port });
  again.close();
  l.close();
});

/** A plan entry for (ip, port). */
const pair = (ip: string, port: number) =>
  ({ ip, port, site: "Site", device: "Cam" }) as unknown as PlanEntry;

/** A listener that is never accepted on: binds succeed without taking a port. */
function fakeListen(log: string[], failAfter = Infinity) {
  return (a: { hostname: string; port: number }) => {
    if (log.length >= failAfter) throw new Error("Too many open files (os error 24)");
    log.push(`${a.hostname}:${a.port}`);
    const closed = Promise.withResolvers<never>();
    return {
      addr: { transport: "tcp", hostname: a.hostname, port: a.port },
      accept: () => closed.promise,
      close: () => closed.reject(new Deno.errors.BadResource("closed")),
    } as unknown as Deno.TcpListener;
  };
}

const quiet = { bound() {}, failed() {}, closed() {}, accept() {} };

Deno.test("listeners: at most `limit` are bound, the plan's order decides, bound pairs stay", () => {
  const binds: string[] = [];
  const failed: string[] = [];
  const l = new Listeners({ ...quiet, failed: (k) => failed.push(k) }, fakeListen(binds), 3);
  const plan = [1, 2, 3, 4, 5].map((i) => pair(`127.0.0.${i + 1}`, 80));
  assertEquals(l.sync(plan), { wanted: 5, unbound: 2, firstUnbound: "127.0.0.5:80" });
  assertEquals(l.bound, ["127.0.0.2:80", "127.0.0.3:80", "127.0.0.4:80"]);
  // A pair that sorts first arrives: what listens keeps listening (an operator may be using it).
  const more = [pair("127.0.0.1", 80), ...plan];
  assertEquals(l.sync(more), { wanted: 6, unbound: 3, firstUnbound: "127.0.0.1:80" });
  assertEquals(l.bound.length, 3);
  // One leaves the plan: its room goes to the first pair left out.
  assertEquals(l.sync(more.filter((e) => e.ip !== "127.0.0.3")), {
    wanted: 5,
    unbound: 2,
    firstUnbound: "127.0.0.5:80",
  });
  assertEquals(l.bound, ["127.0.0.2:80", "127.0.0.4:80", "127.0.0.1:80"]);
  assertEquals(failed, [], "a pair left out is not a failed bind");
  l.close();
});

Deno.test("listeners: a bind that meets the descriptor limit ends binding, without a failure per pair", () => {
  const binds: string[] = [];
  const failed: string[] = [];
  const l = new Listeners({ ...quiet, failed: (k) => failed.push(k) }, fakeListen(binds, 2));
  const plan = [1, 2, 3, 4, 5].map((i) => pair("127.0.0.2", 8000 + i));
  assertEquals(l.sync(plan), { wanted: 5, unbound: 3, firstUnbound: "127.0.0.2:8003" });
  assertEquals(binds, ["127.0.0.2:8001", "127.0.0.2:8002"], "one try past the limit, no more");
  assertEquals(failed, []);
  l.close();
});

Deno.test("listener budget: the limit less what is open and the reserve; unknown is unlimited", () => {
  assertEquals(descriptorReserve(300), 128);
  assertEquals(descriptorReserve(1_024), 256);
  assertEquals(descriptorReserve(1_048_576), 4_096);
  assertEquals(listenerBudget(1_024, 30), 1_024 - 30 - 256);
  assertEquals(listenerBudget(150, 30), 0);
  assertEquals(listenerBudget(null, 30), Infinity);
  assertEquals(listenerBudget(4_096, null), 4_096 - 64 - 1_024);
});
