// The gate a node's motion watchers pass before they subscribe: at most N at once, the next in
// line first (those trying again after a failure behind the others), a wait that ends when its
// watcher stops, and a slot given back once only.
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

Deno.test("subscribe slots: a size under one is refused", () => {
  for (const n of [0, -1, 1.5, NaN]) assertThrows(() => new SubscribeSlots(n));
});
