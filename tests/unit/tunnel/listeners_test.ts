import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { Listeners } from "../../../src/tunnel/listeners.ts";
import type { PlanEntry } from "../../../src/tunnel/plan.ts";

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
  assertEquals(events[2], "closed 127.0.0.7:554");
  l.close();
});
