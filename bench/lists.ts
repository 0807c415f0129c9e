/**
 * The console's lists at scale (issue 14 item 17): a site with `devices` devices seeded through
 * the store, then every list a user pages through — the site page (first, middle and last page),
 * its search, the sites list, the agents list, the dashboard and the API's device pages — fetched
 * `reps` times each over HTTP with a signed-in cookie. Reports p50/p99 ms per page.
 * @module
 */
import { Stack } from "../tests/_fixtures/stack.ts";
import { seedDevices } from "../tests/_fixtures/seed.ts";
import { quantile } from "./failover.ts";

/** One list's page times. */
export interface ListTiming {
  list: string;
  p50: number;
  p99: number;
  /** Bytes of the last answer. */
  bytes: number;
}

/** Seeds a site with `devices` devices and times each list `reps` times. */
export async function measureLists(devices: number, reps: number): Promise<ListTiming[]> {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    await seedDevices(stack, q.tenantId, q.siteId, devices);
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
      ["agents list", "/agents", cookie],
      ["dashboard", "/", cookie],
      [
        "API devices, a middle page",
        `/api/sites/${q.siteId}/devices?cursor=${devices >> 1}`,
        bearer,
      ],
      ["API devices, search", `/api/sites/${q.siteId}/devices?q=10.0.1.`, bearer],
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
  for (const t of await measureLists(devices, Number(Deno.args[1] ?? 50))) {
    console.log(
      `${t.list}: p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms, ${t.bytes} bytes`,
    );
  }
}
