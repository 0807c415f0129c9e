// The gate a node's motion watchers pass before they subscribe: at most N at once, the next in
// line first (those trying again after a failure behind the others), tenants and then their sites
// taking turns, a wait that ends when its watcher stops, and a slot given back once only.
import { assert, assertEquals, assertThrows } from "../../../_fixtures/assert.ts";
import { SubscribeSlots } from "../../../../src/cloud/events/subscribe_slots.ts";

const settled = () => new Promise((r) => setTimeout(r, 0));

Deno.test("subscribe slots: at most N at once; a slot given back goes to the oldest waiter", async () => {
  const slots = new SubscribeSlots(2);
  const never = new AbortController().signal;
  const order: number[] = [];
  const gives: (() => void)[] = [];
  const takers = [0, 1, 2, 3, 4].map((i) =>
    slots.take(never).then((give) => {
      assert(give);
      order.push(i);
      gives[i] = give;
    })
  );
  await settled();
  assertEquals([order, slots.taken, slots.waiting], [[0, 1], 2, 3]);
  gives[1]();
  gives[1](); // a second call gives nothing more back
  await settled();
  assertEquals([order, slots.taken, slots.waiting], [[0, 1, 2], 2, 2]);
  gives[0]();
  await settled();
  assertEquals(order, [0, 1, 2, 3]);
  gives[2]();
  gives[3]();
  await Promise.all(takers);
  assertEquals([order, slots.taken, slots.waiting], [[0, 1, 2, 3, 4], 1, 0]);
  gives[4]();
  assertEquals(slots.taken, 0);
});

Deno.test("subscribe slots: a watcher stopped while it waits leaves the line and holds nothing", async () => {
  const slots = new SubscribeSlots(1);
  const never = new AbortController().signal;
  const first = await slots.take(never);
  assert(first);
  const stopped = new AbortController();
  const waiting = slots.take(stopped.signal);
  const next = slots.take(never);
  await settled();
  assertEquals(slots.waiting, 2);
  stopped.abort();
  assertEquals(await waiting, null);
  assertEquals(slots.waiting, 1);
  first();
  const give = await next;
  assert(give, "the one behind it got the slot");
  assertEquals([slots.taken, slots.waiting], [1, 0]);
  give();
  // Already stopped: no slot, no wait.
  const aborted = new AbortController();
  aborted.abort();
  assertEquals(await slots.take(aborted.signal), null);
  assertEquals(slots.taken, 0);
});

Deno.test("subscribe slots: those trying again after a failure wait behind the others", async () => {
  const slots = new SubscribeSlots(1);
  const never = new AbortController().signal;
  const held = await slots.take(never);
  assert(held);
  const order: string[] = [];
  const wait = (name: string, retrying: boolean) =>
    slots.take(never, retrying).then((give) => {
      order.push(name);
      give?.();
    });
  const all = [
    wait("retry-1", true),
    wait("fresh-1", false),
    wait("retry-2", true),
    wait("fresh-2", false),
  ];
  await settled();
  assertEquals(slots.waiting, 4);
  held();
  await Promise.all(all);
  assertEquals(order, ["fresh-1", "fresh-2", "retry-1", "retry-2"]);
  assertEquals([slots.taken, slots.waiting], [0, 0]);
  // A retrying waiter that stops leaves its own line.
  const again = await slots.take(never);
  assert(again);
  const stopped = new AbortController();
  const gone = slots.take(stopped.signal, true);
  stopped.abort();
  assertEquals(await gone, null);
  assertEquals(slots.waiting, 0);
  again();
  assertEquals(slots.taken, 0);
});

Deno.test("subscribe slots: tenants take turns, and within a tenant its sites", async () => {
  const slots = new SubscribeSlots(1);
  const never = new AbortController().signal;
  const held = await slots.take(never);
  assert(held);
  const order: string[] = [];
  const all: Promise<void>[] = [];
  const wait = (tenantId: string, siteId: string, n: number, retrying = false) => {
    for (let i = 1; i <= n; i++) {
      all.push(
        slots.take(never, retrying, { tenantId, siteId }).then((give) => {
          order.push(`${tenantId}/${siteId}#${i}${retrying ? "r" : ""}`);
          give?.();
        }),
      );
    }
  };
  // A big site of tenant A queued first (a node's start), then one camera each of A's second
  // site, of tenant B and of tenant C, and one of B's trying again.
  wait("A", "big", 4);
  wait("B", "b1", 1, true);
  wait("A", "small", 1);
  wait("B", "b1", 1);
  wait("C", "c1", 1);
  await settled();
  assertEquals(slots.waiting, 8);
  held();
  await Promise.all(all);
  assertEquals(order, [
    "A/big#1",
    "B/b1#1",
    "C/c1#1",
    "A/small#1",
    "A/big#2",
    "A/big#3",
    "A/big#4",
    "B/b1#1r",
  ]);
  assertEquals([slots.taken, slots.waiting], [0, 0]);
});

Deno.test("subscribe slots: a waiter that stops leaves its site's turn to the next", async () => {
  const slots = new SubscribeSlots(1);
  const never = new AbortController().signal;
  const held = await slots.take(never);
  assert(held);
  const stopped = new AbortController();
  const gone = slots.take(stopped.signal, false, { tenantId: "A", siteId: "s" });
  const order: string[] = [];
  const next = slots.take(never, false, { tenantId: "B", siteId: "t" }).then((give) => {
    order.push("B");
    give?.();
  });
  stopped.abort();
  assertEquals(await gone, null);
  assertEquals(slots.waiting, 1);
  held();
  await next;
  assertEquals([order, slots.taken, slots.waiting], [["B"], 0, 0]);
  // Aborting after the grant changes nothing: the slot is the holder's to give back.
  const late = new AbortController();
  const give = await slots.take(late.signal, false, { tenantId: "A", siteId: "s" });
  late.abort();
  assertEquals([slots.taken, slots.waiting], [1, 0]);
  give?.();
  assertEquals(slots.taken, 0);
});

Deno.test("subscribe slots: a size under one is refused", () => {
  for (const n of [0, -1, 1.5, NaN]) assertThrows(() => new SubscribeSlots(n));
});
