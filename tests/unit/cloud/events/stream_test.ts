// The console's live event feed on a real SQLite store: a burst of 600 events between two reads
// arrives whole and oldest first (one read of the newest 100 used to skip the rest), and a burst
// past MAX_EVENTS_PER_READ is one `gap` the page turns into a reload link, after which new events
// flow again. A page shown again resumes after the newest event it shows.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { eventStream, MAX_EVENTS_PER_READ } from "../../../../src/cloud/events/stream.ts";
import type { Principal } from "../../../../src/cloud/tenancy/auth.ts";

type Sse = { event: string; data: Record<string, unknown> };

/** Reads a `text/event-stream` response: `until(event, n)` waits (10 s at most) for n of them. */
function readSse(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const got: Sse[] = [];
  /** Reads until `n` messages of `event` arrived (or 10 s). */
  const until = async (event: string, n: number) => {
    const deadline = Date.now() + 10_000;
    while (got.filter((m) => m.event === event).length < n) {
      assert(Date.now() < deadline, `${n} ${event} messages, got ${got.length}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const { value, done } = await Promise.race([
        reader.read(),
        new Promise<never>((_, no) => {
          timer = setTimeout(
            () => no(new Error(`${n} ${event} messages, got ${got.length}`)),
            deadline - Date.now(),
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (ev && data) got.push({ event: ev, data: JSON.parse(data) });
      }
    }
  };
  return { got, until, cancel: () => reader.cancel().catch(() => {}) };
}

Deno.test("event feed: a burst arrives whole, oldest first; a larger one is one gap", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-stream-" });
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  const t = await store.createTenant({ name: "Acme" });
  const append = async (n: number, tag: string) => {
    for (let i = 0; i < n; i++) {
      await store.appendEvent({
        key: `${tag}-${i}`,
        tenantId: t.id,
        type: "agent.offline",
        subject: { name: `${tag} ${i}` },
        actor: "system",
        detail: {},
      });
    }
  };
  await append(1, "before"); // the page rendered it: not sent
  const principal: Principal = {
    kind: "api_key",
    tenantId: t.id,
    userId: null,
    role: "admin",
    actor: "key:test",
  };
  // The feed's reads wait while a burst is written, so a burst is one read's worth, whatever the
  // timing of the writes.
  let gate: Promise<void> = Promise.resolve();
  const gated = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== "listEvents") {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return async (...a: Parameters<typeof store.listEvents>) => {
        await gate;
        return await target.listEvents(...a);
      };
    },
  });
  const burst = async (n: number, tag: string) => {
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    await append(n, tag);
    open();
  };
  const abort = new AbortController();
  const res = eventStream({
    store: gated,
    principal,
    now: () => clock.now(),
    signal: abort.signal,
    everyMs: 30,
  });
  const { got, until, cancel } = readSse(res);
  try {
    await until("unread", 1);
    await burst(600, "burst");
    await until("event", 600);
    const names = got.filter((m) => m.event === "event").map((m) =>
      (m.data.subject as { name: string }).name
    );
    assertEquals(names, Array.from({ length: 600 }, (_, i) => `burst ${i}`));

    await burst(MAX_EVENTS_PER_READ + 50, "storm");
    await until("gap", 1);
    const gap = got.find((m) => m.event === "gap")!;
    assert(Number(gap.data.atLeast) >= MAX_EVENTS_PER_READ, JSON.stringify(gap.data));
    assertEquals(
      got.filter((m) => m.event === "event").length,
      600,
      "none of the storm one by one",
    );
    // After the gap the feed goes on from the newest.
    await append(1, "after");
    await until("event", 601);
    const last = got.filter((m) => m.event === "event").at(-1)!;
    assertEquals((last.data.subject as { name: string }).name, "after 0");
  } finally {
    abort.abort();
    await cancel();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("event feed: a page shown again resumes after its newest event; past the newest, from the newest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-stream-" });
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock: new ManualClock() });
  const t = await store.createTenant({ name: "Acme" });
  const other = await store.createTenant({ name: "Other" });
  const append = (tenantId: string, name: string) =>
    store.appendEvent({
      key: name,
      tenantId,
      type: "agent.offline",
      subject: { name },
      actor: "system",
      detail: {},
    });
  const principal: Principal = {
    kind: "api_key",
    tenantId: t.id,
    userId: null,
    role: "viewer",
    actor: "key:test",
  };
  const shown = (await append(t.id, "shown"))!;
  await append(t.id, "while hidden 1");
  await append(other.id, "another tenant's");
  await append(t.id, "while hidden 2");
  const abort = new AbortController();
  const open = (after: number) =>
    readSse(
      eventStream({ store, principal, now: Date.now, signal: abort.signal, everyMs: 30, after }),
    );
  const resumed = open(shown.seq);
  const ahead = open(Number.MAX_SAFE_INTEGER);
  const names = (got: Sse[]) =>
    got.filter((m) => m.event === "event").map((m) => (m.data.subject as { name: string }).name);
  try {
    await resumed.until("event", 2);
    assertEquals(names(resumed.got), ["while hidden 1", "while hidden 2"]);
    // A seq past the newest (another database, a forged URL) does not stall the feed.
    await ahead.until("unread", 1);
    await append(t.id, "new");
    await ahead.until("event", 1);
    await resumed.until("event", 3);
    assertEquals(names(ahead.got), ["new"]);
    assertEquals(names(resumed.got), ["while hidden 1", "while hidden 2", "new"]);
  } finally {
    abort.abort();
    await resumed.cancel();
    await ahead.cancel();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
