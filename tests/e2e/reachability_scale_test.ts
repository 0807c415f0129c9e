// Reachability of a big site against the real processes: a real agent checks 5 201 allowlisted
// pairs (one real device, 2 600 seeded ones on closed ports of 127.77.x.y — loopback, refused at
// once) and the cloud records every one of them — before, a report was cut at its first 4 096
// pairs and the rest of the site never showed. The site page and the API then say "1 of 5201
// ports up", a page of devices in the middle of the list has its states, each down pair is in
// one grouped device.down, the API lists the down pairs a page at a time, and the agent's whole
// view sent again after a restart changes nothing.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { seedDevices } from "../_fixtures/seed.ts";
import { until } from "../_fixtures/until.ts";

/** GET `path` of the cloud's API with the quickstart's token; the JSON answer. */
async function get(stack: Stack, path: string, token: string) {
  const res = await fetch(stack.url + path, { headers: { authorization: `Bearer ${token}` } });
  assertEquals(res.status, 200, path);
  return await res.json();
}

const SEEDED = 2_600;
/** Ports nothing listens on: the seeded hosts answer each check with a refusal. */
const CLOSED = [1, 2];

Deno.test("reachability: a site of 5 201 pairs is recorded whole and shown whole", async () => {
  const stack = await Stack.start();
  const device = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    try {
      for await (const c of device) c.close();
    } catch { /* closed */ }
  })();
  try {
    const port = (device.addr as Deno.NetAddr).port;
    const q = await stack.quickstart([port]);
    await seedDevices(stack, q.tenantId, q.siteId, SEEDED, 8, {
      host: (i) => `127.77.${i >> 8}.${i & 255}`,
      ports: CLOSED,
    });
    const total = 1 + SEEDED * CLOSED.length;
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    const env = { NC_REACHABILITY_INTERVAL: "2s" };
    let agent = await stack.runAgent(e.state, true, env);

    const summary = async () => await get(stack, `/api/sites/${q.siteId}/reachability`, q.apiToken);
    await until("every pair checked", async () => (await summary()).checked === total, 120_000);
    const s = await summary();
    assertEquals([s.up, s.total, s.checked, s.agentOnline], [1, total, total, true]);

    const u = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(u.email, u.password);
    const page = await (await fetch(`${stack.url}/sites/${q.siteId}`, { headers: { cookie } }))
      .text();
    assert(page.includes(`1 of ${total} ports up (${total - 1} down)`), "the site's summary");
    // A viewer cannot open CLI sessions: the port's pill does not tell them to.
    assert(page.includes("which needs the operator role"), "a viewer's pill names the role");
    assert(!page.includes("Use the CLI tunnel"), "no CLI instructions for a viewer");
    // Page 14 of the devices, past the first 4 096 pairs: each port shows down.
    const page14 = await (await fetch(`${stack.url}/sites/${q.siteId}?page=14`, {
      headers: { cookie },
    })).text();
    assertEquals(page14.match(/data-reach="down"/g)?.length, 200, "100 devices, 2 ports each");
    const mid = await get(
      stack,
      `/api/sites/${q.siteId}/devices?cursor=2500&limit=100`,
      q.apiToken,
    );
    const items = mid.items as { host: string; reachability: Record<string, unknown> }[];
    assertEquals(items.length, 100);
    for (const d of items) {
      const r = d.reachability as Record<string, { up: boolean; error: string }>;
      assertEquals(Object.keys(r).sort(), ["1", "2"], d.host);
      assert(!r["1"].up && r["1"].error !== "", `${d.host}:1 down with its reason`);
    }

    // The pairs themselves a page at a time: what is down, then what is up.
    const walk = async (state: string) => {
      const got: { host: string; port: number; up: boolean }[] = [];
      let cursor = "";
      for (let pages = 0; pages < 10; pages++) {
        const r = await get(
          stack,
          `/api/sites/${q.siteId}/reachability?state=${state}${cursor && `&cursor=${cursor}`}`,
          q.apiToken,
        );
        assert(r.ports.length <= 1_000);
        got.push(...r.ports);
        if (!r.next) return { got, pages: pages + 1 };
        cursor = r.next;
      }
      throw new Error("no last page");
    };
    const down = await walk("down");
    assertEquals([down.got.length, down.pages], [total - 1, 6]);
    assert(down.got.every((x) => !x.up));
    assertEquals(new Set(down.got.map((x) => `${x.host}:${x.port}`)).size, total - 1, "each once");
    const up = await walk("up");
    assertEquals(up.got.map((x) => [x.host, x.port]), [["127.0.0.1", port]]);
    const bad = await fetch(`${stack.url}/api/sites/${q.siteId}/reachability?cursor=abc`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).error, "bad_request");

    // Every down pair in exactly one device.down (the real device, first seen up, raised
    // nothing): grouped, a step of the agent's reports at a time, not one event per pair.
    type Ev = {
      type: string;
      subject: { count?: number; host?: string; port?: number };
      detail: { ports?: { host: string; port: number }[] };
    };
    const downs = async () =>
      ((await get(stack, "/api/events?limit=500", q.apiToken)).items as Ev[])
        .filter((e) => e.type === "device.down");
    const covered = (evs: Ev[]) =>
      evs.flatMap((e) =>
        e.detail.ports?.map((p) => `${p.host}:${p.port}`) ?? [`${e.subject.host}:${e.subject.port}`]
      );
    await until(
      "every down pair raised",
      async () => covered(await downs()).length === total - 1,
      60_000,
    );
    const raised = await downs();
    assertEquals(new Set(covered(raised)).size, total - 1, "each pair once");
    assert(raised.length <= 40, `${raised.length} events for ${total - 1} pairs`);
    assert(raised.every((e) => e.subject.count === e.detail.ports?.length));
    const unread = async () =>
      (await get(stack, "/api/events?limit=1", q.apiToken)).unread as number;
    const before = await unread();

    // The agent restarted: its whole view again (after a new round), and nothing changes.
    await agent.stop("SIGTERM");
    agent = await stack.runAgent(e.state, true, env);
    await agent.waitFor(/"control stream up"/);
    await new Promise((r) => setTimeout(r, 6_000)); // two rounds of checks and their reports
    assertEquals(await unread(), before, "no new event");
    const again = await summary();
    assertEquals([again.up, again.checked], [1, total]);
  } finally {
    device.close();
    await stack.stop();
  }
});
