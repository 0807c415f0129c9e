// Happy Eyeballs ordering and racing with scripted attempts (no sockets, no timing asserted).
import { assert, assertEquals, assertRejects } from "../../../_fixtures/assert.ts";
import {
  interleave,
  race,
  resolveAll,
  type ResolvedAddress,
} from "../../../../src/shared/transport/happy_eyeballs.ts";

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

Deno.test("interleave: IPv6 first, alternating families, demoted addresses last", () => {
  const addrs = [v4("192.0.2.1"), v4("192.0.2.2"), v6("2001:db8::1"), v6("2001:db8::2")];
  assertEquals(interleave(addrs).map((a) => a.address), [
    "2001:db8::1",
    "192.0.2.1",
    "2001:db8::2",
    "192.0.2.2",
  ]);
  assertEquals(interleave(addrs, new Set(["2001:db8::1"])).map((a) => a.address), [
    "2001:db8::2",
    "192.0.2.1",
    "192.0.2.2",
    "2001:db8::1",
  ]);
  assertEquals(interleave([v4("192.0.2.9")]).map((a) => a.address), ["192.0.2.9"]);
});

Deno.test("resolveAll: IP literals are their own address; names go through the resolver", async () => {
  assertEquals(await resolveAll("[::1]"), [v6("::1")]);
  assertEquals(await resolveAll("127.0.0.1"), [v4("127.0.0.1")]);
  const r = await resolveAll(
    "cloud.test",
    () => Promise.resolve([v4("127.0.0.2"), v4("127.0.0.2"), v6("::1")]),
  );
  assertEquals(r, [v4("127.0.0.2"), v6("::1")], "duplicates dropped");
});

Deno.test("race: a hanging first address loses to the next one, which is started by the stagger", async () => {
  const aborted: string[] = [];
  const win = await race(
    [v6("::1"), v4("127.0.0.1")],
    (a, signal) =>
      new Promise<string>((resolve) => {
        signal.addEventListener("abort", () => aborted.push(a.address));
        if (a.family === 4) resolve(`conn-${a.address}`);
      }),
    { staggerMs: 20 },
  );
  assertEquals(win.address.address, "127.0.0.1");
  assertEquals(win.value, "conn-127.0.0.1");
  assertEquals(aborted, ["::1"], "the loser is aborted");
});

Deno.test("race: a failure starts the next attempt at once; all failing rejects with every reason", async () => {
  const started: string[] = [];
  // A stagger far longer than any test: only the failure can start the second attempt.
  const win = await race([v6("::1"), v4("127.0.0.1")], (a) => {
    started.push(a.address);
    return a.family === 6 ? Promise.reject(new Error("refused")) : Promise.resolve(1);
  }, { staggerMs: 3_600_000 });
  assertEquals(win.address.address, "127.0.0.1");
  assertEquals(started, ["::1", "127.0.0.1"]);
  const e = await assertRejects(() =>
    race([v6("::1"), v4("127.0.0.1")], () => Promise.reject(new Error("nope")), { staggerMs: 10 })
  );
  assert(e.message.includes("::1: nope") && e.message.includes("127.0.0.1: nope"), e.message);
  await assertRejects(() => race([], () => Promise.resolve(1)));
});

Deno.test("race: a late second success is discarded", async () => {
  const discarded: string[] = [];
  let releaseSecond!: () => void;
  const second = new Promise<void>((r) => (releaseSecond = r));
  const win = await race([v6("::1"), v4("127.0.0.1")], async (a) => {
    if (a.family === 6) {
      await second; // finishes only after the other has won
      return "late";
    }
    return "first";
  }, { staggerMs: 5, discard: (v) => discarded.push(v) });
  assertEquals(win.value, "first");
  releaseSecond();
  await new Promise((r) => setTimeout(r, 10));
  assertEquals(discarded, ["late"]);
});
