/**
 * The console's lists at scale (issue 14 item 17): a site with `devices` devices and a tenant of
 * `agents` agents on 100 more sites (150 of them online) seeded through the store, with a
 * reachability state for each of the site's pairs (one device in ten down), then every
 * list a user pages through — the site page (first, middle and last page), its search, the sites
 * list, the agents list (first and middle page, a search), the dashboard's polled numbers and
 * the API's device and agent pages — fetched `reps` times each over HTTP with a signed-in
 * cookie. Reports p50/p99 ms per page.
 * @module
 */
import { Stack } from "../tests/_fixtures/stack.ts";
import { seedAgents, seedDevices, seedPortStates } from "../tests/_fixtures/seed.ts";
import { quantile } from "./failover.ts";

/** One list's page times. */
export interface ListTiming {
  list: string;
  p50: number;
  p99: number;
  /** Bytes of the last answer. */
  bytes: number;
}

/** Seeds a site with `devices` devices and the tenant with `agents` agents; times each list. */
export async function measureLists(
  devices: number,
  reps: number,
  agents = devices,
): Promise<ListTiming[]> {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    await seedDevices(stack, q.tenantId, q.siteId, devices);
    // Every pair checked, one device in ten down: the site page counts them on every load.
    await seedPortStates(stack, q.tenantId, q.siteId, devices);
    const sites: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${stack.url}/api/sites`, {
        method: "POST",
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `Depot ${i}` }),
      });
      if (r.status !== 201) throw new Error(`POST /api/sites: HTTP ${r.status}`);
      sites.push((await r.json()).id);
    }
    await seedAgents(stack, q.tenantId, sites, agents, { online: Math.min(150, agents) });
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const cookie = { cookie: await stack.signIn(viewer.email, viewer.password) };
    const bearer = { authorization: `Bearer ${q.apiToken}` };
    const pages = Math.ceil((devices + 1) / 100);
    const lists: [string, string, Record<string, string>][] = [
      ["site page, first page of devices", `/sites/${q.siteId}`, cookie],
      ["site page, middle page", `/sites/${q.siteId}?page=${Math.ceil(pages / 2)}`, cookie],
      ["site page, last page", `/sites/${q.siteId}?page=${pages}`, cookie],
      ["site page, search", `/sites/${q.siteId}?q=gate%2099`, cookie],
      ["sites list", "/sites", cookie],
      ["agents list, first page", "/agents", cookie],
      ["agents list, middle page", `/agents?page=${Math.ceil(agents / 200)}`, cookie],
      ["agents list, search", "/agents?q=gate-99", cookie],
      ["dashboard", "/", cookie],
      ["dashboard numbers (polled)", "/ui/fragments/dashboard", cookie],
      [
        "API devices, a middle page",
        `/api/sites/${q.siteId}/devices?cursor=${devices >> 1}`,
        bearer,
      ],
      ["API devices, search", `/api/sites/${q.siteId}/devices?q=10.0.1.`, bearer],
      ["API reachability, first page", `/api/sites/${q.siteId}/reachability`, bearer],
      ["API reachability, down only", `/api/sites/${q.siteId}/reachability?state=down`, bearer],
      ["API agents, a middle page", `/api/agents?cursor=${agents >> 1}`, bearer],
      ["API agents, search", "/api/agents?q=gate-99", bearer],
    ];
    const out: ListTiming[] = [];
    for (const [list, path, headers] of lists) {
      const ms: number[] = [];
      let bytes = 0;
      for (let i = 0; i < reps; i++) {
        const started = performance.now();
        const res = await fetch(`${stack.url}${path}`, { headers });
        bytes = (await res.arrayBuffer()).byteLength;
        ms.push(performance.now() - started);
        if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
      }
      out.push({ list, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), bytes });
    }
    return out;
  } finally {
    await stack.stop();
  }
}

if (import.meta.main) {
  const devices = Number(Deno.args[0] ?? 10_000);
  const agents = Number(Deno.args[2] ?? devices);
  for (const t of await measureLists(devices, Number(Deno.args[1] ?? 50), agents)) {
    console.log(
      `${t.list}: p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms, ${t.bytes} bytes`,
    );
  }
}
