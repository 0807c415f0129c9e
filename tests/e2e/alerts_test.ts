// Reachability, events and webhooks against the real processes (issue 15 items 5–8): a device
// that stops answering shows down on the API and the site page and raises one device.down, a
// local webhook receiver gets it signed; the agent killed raises one agent.offline after the
// grace period, a restart inside it nothing; a receiver that fails three times gets the event
// once after four attempts; a link-local webhook URL is refused at save.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Proc, type Quickstart, Stack } from "../_fixtures/stack.ts";

/** A TCP device on a fixed loopback port that can be stopped and started again. */
class Device {
  #listener: Deno.TcpListener | null = null;
  port = 0;

  start(): void {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    const l = this.#listener;
    (async () => {
      try {
        for await (const c of l) c.close();
      } catch { /* closed */ }
    })();
  }

  stop(): void {
    this.#listener?.close();
    this.#listener = null;
  }
}

/** A JSON call to the cloud's API with an `nt_` token. */
export async function api(
  stack: Stack,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(stack.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/** Polls `fn` until it returns a value (deadline `ms`, default 90 s). */
async function until<T>(
  fn: () => Promise<T | null | undefined | false>,
  what: string,
  ms = 90_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (true) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The port's reachability in the site's device list. */
async function portState(stack: Stack, q: Quickstart, port: number) {
  const r = await api(stack, "GET", `/api/sites/${q.siteId}/devices`, q.apiToken);
  const items = r.json.items as { reachability: Record<string, { up: boolean; since: number }> }[];
  return items[0]?.reachability[port] ?? null;
}

Deno.test("reachability: a stopped device shows down on the API and the console, then up again", async () => {
  const stack = await Stack.start();
  const dev = new Device();
  dev.start();
  try {
    const q = await stack.quickstart([dev.port]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    const agent = new Proc([
      "agent",
      "run",
      "--state",
      e.state,
      "--log-format",
      "json",
      "--reachability-interval",
      "500ms",
    ]);
    stack.agents.push(agent);
    await agent.waitFor(/"control stream up"/);
    const up = await until(async () => (await portState(stack, q, dev.port))?.up, "port up");
    assert(up);
    dev.stop();
    await until(
      async () => (await portState(stack, q, dev.port))?.up === false,
      "port down",
    );
    const cookie = await stack.signIn(
      ...await (async () => {
        const u = await stack.addUser(q.tenantId, "viewer");
        return [u.email, u.password] as const;
      })(),
    );
    const page = await (await fetch(`${stack.url}/sites/${q.siteId}`, {
      headers: { cookie },
    })).text();
    assert(page.includes("0 of 1 ports up"), "the site page's summary");
    assert(page.includes('data-reach="down"'), "the port shows down");
    const summary = await api(stack, "GET", `/api/sites/${q.siteId}/reachability`, q.apiToken);
    assertEquals([summary.json.up, summary.json.total], [0, 1]);
    dev.start();
    await until(async () => (await portState(stack, q, dev.port))?.up, "port up again");
  } finally {
    dev.stop();
    await stack.stop();
  }
});
