// The live registry: a connection that is its own entry (a tunnel) and one registered with
// callbacks are listed alike, by tenant, with only the view's fields; an id, once listed, stays
// and terminates that connection; an unregistered one is gone.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  LiveAccess,
  type LiveConn,
  type LiveInfo,
  TERMINATED_REASON,
} from "../../../../src/cloud/access/live.ts";
import type { Principal } from "../../../../src/cloud/tenancy/auth.ts";

const principal = (tenantId: string): Principal => ({
  kind: "cli_session",
  tenantId,
  userId: "u1",
  role: "operator",
  actor: "cli:abcd",
  cliSessionHash: "secret-hash",
  siteIds: ["s1"],
});

class Tunnel implements LiveConn, LiveInfo {
  readonly kind = "CLI tunnel";
  readonly handleId = "h_1";
  readonly startedAt = 2;
  closedWith: string | null = null;
  constructor(readonly principal: Principal) {}
  get info(): LiveInfo {
    return this;
  }
  bytes(): number {
    return 42;
  }
  close(reason: string): void {
    this.closedWith = reason;
  }
}

Deno.test("live access: own entries and callback entries are listed alike, with the view's fields only", () => {
  const live = new LiveAccess();
  const tunnel = new Tunnel(principal("t1"));
  live.register(tunnel);
  const closed: string[] = [];
  const unlive = live.add(principal("t1"), (r) => closed.push(r), {
    kind: "RTSP",
    handleId: "h_2",
    startedAt: 1,
  });
  live.add(principal("t2"), () => {}, { kind: "RTSP", handleId: "h_3", startedAt: 0 });
  live.add(principal("t1"), () => {}); // not described: counted, not listed
  assertEquals(live.size, 4);
  const rows = live.list("t1");
  assertEquals(rows.map((r) => [r.kind, r.handleId, r.bytes]), [
    ["RTSP", "h_2", null],
    ["CLI tunnel", "h_1", 42],
  ]);
  // Exactly the view's fields: nothing of the principal beyond who it is.
  assertEquals(Object.keys(rows[1]).sort(), [
    "actor",
    "bytes",
    "handleId",
    "id",
    "kind",
    "startedAt",
    "userId",
  ]);
  assert(!JSON.stringify(rows).includes("secret-hash"));
  // Ids stay from one listing to the next.
  assertEquals(live.list("t1").map((r) => r.id), rows.map((r) => r.id));

  // Terminated by its id, in its tenant only.
  assertEquals(live.terminate("t2", rows[1].id), null);
  assertEquals(live.terminate("t1", rows[1].id)?.handleId, "h_1");
  assertEquals(tunnel.closedWith, TERMINATED_REASON);
  assertEquals(live.list("t1").map((r) => r.handleId), ["h_2"]);
  unlive();
  assertEquals(live.list("t1"), []);
  assertEquals(closed, []);

  // Unregistered: gone, and unregistering twice does nothing.
  const other = new Tunnel(principal("t1"));
  live.register(other);
  assertEquals(live.list("t1").length, 1);
  live.unregister(other);
  live.unregister(other);
  assertEquals(live.list("t1"), []);
  assertEquals(live.terminate("t1", "no-such-id"), null);
});
