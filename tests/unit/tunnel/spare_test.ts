import { assert, assertEquals, assertRejects } from "../../_fixtures/assert.ts";
import { Deadlines } from "../../../src/shared/deadlines.ts";
import { EAGER_ANSWER_MS, SPARE_IDLE_MS, SpareDialer } from "../../../src/tunnel/spare.ts";

/** A loopback listener that keeps every connection it accepts, in order. */
function cloud() {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  let wake = null as (() => void) | null;
  (async () => {
    for await (const c of l) {
      accepted.push(c);
      wake?.();
    }
  })().catch(() => {});
  const port = (l.addr as Deno.NetAddr).port;
  return {
    dial: () => Deno.connect({ hostname: "127.0.0.1", port }),
    accepted,
    /** The accepted end of the connection `client` dialed. */
    peerOf(client: Deno.Conn): Deno.Conn {
      const port = (client.localAddr as Deno.NetAddr).port;
      return accepted.find((a) => (a.remoteAddr as Deno.NetAddr).port === port)!;
    },
    async count(n: number) {
      while (accepted.length < n) await new Promise<void>((r) => (wake = r));
    },
    close() {
      l.close();
      for (const c of accepted) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("the first open dials for itself, then one ahead; the next open gets that one", async () => {
  const c = cloud();
  const spares = new SpareDialer(c.dial, new Deadlines(SPARE_IDLE_MS, { now: () => 0 }));
  assert(!spares.holding);
  const first = await spares.take();
  assertEquals(first.reused, false);
  assert(!spares.holding, "nothing is dialed before the open was answered");
  spares.refill();
  assert(spares.holding, "a spare is dialed once the open was answered");
  spares.refill(); // one spare at a time
  await c.count(2);
  const second = await spares.take();
  assertEquals(second.reused, true);
  // The spare is one of the two connections the cloud accepted, and it carries bytes.
  const peer = c.peerOf(second.conn);
  assert(c.accepted.indexOf(peer) < 2);
  await second.conn.write(new Uint8Array([7]));
  const buf = new Uint8Array(1);
  assertEquals(await peer.read(buf), 1);
  assertEquals(buf[0], 7);
  spares.refill();
  await c.count(3); // the next spare
  assertEquals(c.accepted.length, 3);
  first.conn.close();
  second.conn.close();
  spares.close();
  c.close();
});

Deno.test("an unused spare is closed after SPARE_IDLE_MS; the next open dials again", async () => {
  const c = cloud();
  let now = 0;
  const deadlines = new Deadlines(SPARE_IDLE_MS, { now: () => now });
  const spares = new SpareDialer(c.dial, deadlines);
  const first = await spares.take();
  spares.refill();
  await c.count(2);
  const spare = c.accepted.find((a) => a !== c.peerOf(first.conn))!;
  first.conn.close();
  now += SPARE_IDLE_MS - 1;
  deadlines.sweep();
  assert(spares.holding, "not yet");
  now += 2;
  deadlines.sweep();
  assert(!spares.holding);
  // The cloud sees the spare end: an idle CLI holds no connection.
  assertEquals(await spare.read(new Uint8Array(1)), null);
  const next = await spares.take();
  assertEquals(next.reused, false);
  next.conn.close();
  spares.close();
  c.close();
});

Deno.test("close() ends the spare and dials no more; a failed dial is reported and holds nothing", async () => {
  const c = cloud();
  const spares = new SpareDialer(c.dial, new Deadlines(SPARE_IDLE_MS, { now: () => 0 }));
  const first = await spares.take();
  spares.refill();
  await c.count(2);
  const spare = c.accepted.find((a) => a !== c.peerOf(first.conn))!;
  first.conn.close();
  spares.close();
  assert(!spares.holding);
  assertEquals(await spare.read(new Uint8Array(1)), null);
  spares.refill();
  assert(!spares.holding, "a closed dialer dials no more");
  c.close();

  // Nothing listens on the port: the open fails with the dial's error, and so does the spare
  // dialed beside it, which is then dropped.
  const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (gone.addr as Deno.NetAddr).port;
  gone.close();
  const dial = () => Deno.connect({ hostname: "127.0.0.1", port });
  const down = new SpareDialer(dial, new Deadlines(SPARE_IDLE_MS, { now: () => 0 }));
  const e = await assertRejects(() => down.take());
  assert(e instanceof Deno.errors.ConnectionRefused, e.message);
  down.refill();
  for (let i = 0; i < 50 && down.holding; i++) await new Promise((r) => setTimeout(r, 10));
  assert(!down.holding, "a spare whose dial failed is dropped");
  assert((await assertRejects(() => down.take())) instanceof Deno.errors.ConnectionRefused);
  down.close();
});

Deno.test("after a slow answer the next spare is dialed as soon as one is taken; after a fast one, only once answered", async () => {
  const c = cloud();
  const spares = new SpareDialer(c.dial, new Deadlines(SPARE_IDLE_MS, { now: () => 0 }));
  const first = await spares.take();
  spares.answered(EAGER_ANSWER_MS + 30); // a real network away
  assert(spares.holding);
  await c.count(2);
  const taken = await spares.take();
  assertEquals(taken.reused, true);
  assert(spares.holding, "the next one is on its way before this open is answered");
  await c.count(3);
  spares.answered(1); // loopback-fast again
  const again = await spares.take();
  assertEquals(again.reused, true);
  assert(!spares.holding, "on a fast link the next waits for the answer");
  spares.answered(1);
  assert(spares.holding);
  await c.count(4);
  for (const o of [first, taken, again]) o.conn.close();
  spares.close();
  c.close();
});
