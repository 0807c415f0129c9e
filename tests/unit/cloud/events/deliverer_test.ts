// Webhook delivery across tenants, on a real embedded store with real receivers on loopback: a
// tenant's backlog to a receiver that does not answer holds at most all but one of the node's
// slots, another tenant's delivery goes out while it hangs (queued before the backlog drained,
// and queued later), and once the receiver answers the backlog drains, each delivery once. A
// receiver that fails every attempt rests, is probed one attempt at a time, and its backlog goes
// out once a probe succeeds. An email the mail server refuses for good is not retried; one it
// defers is. A flood to an email alert becomes a few emails and one digest.
import assert from "node:assert/strict";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { ManualClock, systemClock } from "../../../../src/shared/clock.ts";
import { createLogger } from "../../../../src/shared/log.ts";
import { cloudSecretFrom } from "../../../../src/cloud/tenancy/cloud_secret.ts";
import { WebhookSecrets } from "../../../../src/cloud/events/webhook_secret.ts";
import pino from "pino";
import {
  type DelivererDeps,
  DeliveryPool,
  REST_MS,
  TRIP_AFTER,
} from "../../../../src/cloud/events/deliverer.ts";
import type { Store, Webhook } from "../../../../src/cloud/store/store.ts";
import { Mailer } from "../../../../src/cloud/events/mailer.ts";
import { parseSmtpUrl } from "../../../../src/cloud/events/smtp_url.ts";
import { MailServer } from "../../../_fixtures/smtp.ts";
import { addWebhook } from "../../../_fixtures/webhooks.ts";
import { Receiver as ChatReceiver } from "../../../_fixtures/webhook_receiver.ts";
import { EventProducer } from "../../../../src/cloud/events/producer.ts";
import { EACH_PER_WINDOW } from "../../../../src/cloud/events/alert_digest.ts";
import { assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";

/** A loopback receiver: records delivery ids; holds every request while `hold` is set. */
class Receiver {
  readonly got: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  #release: (() => void) | null = null;
  #held: Promise<void> | null = null;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(hold = false) {
    if (hold) this.#held = new Promise((r) => this.#release = r);
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        await req.text();
        await this.#held;
        this.got.push(req.headers.get("x-nanodems-delivery") ?? "");
        this.inFlight--;
        return new Response(null, { status: 204 });
      },
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/in`;
  }

  /** Answers every request from now on. */
  release(): void {
    this.#held = null;
    this.#release?.();
  }

  close(): Promise<void> {
    return this.#server.shutdown();
  }
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Node-1's pool of 4 slots on `store` (loopback receivers allowed; retries a minute apart). */
async function poolOf(store: Store, o: Partial<DelivererDeps> = {}): Promise<DeliveryPool> {
  return new DeliveryPool({
    store,
    secrets: await WebhookSecrets.create(
      await cloudSecretFrom(crypto.getRandomValues(new Uint8Array(32))),
    ),
    clock: systemClock,
    owner: "node-1",
    policy: { allowLoopback: true, allowPrivate: false },
    firstRetryMs: 60_000,
    log: createLogger({ role: "test", level: "silent" }),
    ...o,
  }, 4);
}

async function queue(store: Store, h: Webhook, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await store.createDelivery({
      id: `${h.id}:${i}`,
      tenantId: h.tenantId,
      webhookId: h.id,
      eventType: "device.down",
      body: `{"n":${i}}`,
    });
  }
}

/** Two tenants, Acme and Bolt, each with a webhook for device.down at its URL. */
async function twoTenants(store: Store, acmeUrl: string, boltUrl: string) {
  const a = await store.createTenant({ name: "Acme" });
  const b = await store.createTenant({ name: "Bolt" });
  const hook = (tenantId: string, url: string) => addWebhook(store, tenantId, url);
  return { a, b, acme: await hook(a.id, acmeUrl), bolt: await hook(b.id, boltUrl) };
}

Deno.test("deliveries: one tenant's backlog to a hung receiver never holds another tenant's webhook", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-deliver-" });
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir);
  const hung = new Receiver(true);
  const other = new Receiver();
  let pool: DeliveryPool | null = null;
  try {
    const { a, acme: storm, bolt: calm } = await twoTenants(store, hung.url, other.url);
    await queue(store, storm, 40); // a site of Acme just went down
    await queue(store, calm, 1);
    pool = await poolOf(store);
    const first = pool.fill();
    await until("Bolt's delivery", () => other.got.length === 1);
    await until("Acme's receiver holding three", () => hung.inFlight === 3);
    assert.deepEqual(other.got, [`${calm.id}:0`]);
    assert.equal(hung.got.length, 0, "none of Acme's answered yet");

    // Queued while Acme's backlog still hangs: the next look (the node's 1 s tick) sends it.
    await queue(store, calm, 1, 1);
    const second = pool.fill();
    await until("Bolt's second delivery", () => other.got.length === 2);
    assert.equal(hung.maxInFlight, 3, "one webhook never holds every slot");

    hung.release();
    await Promise.all([first, second]);
    await pool.fill(); // whatever a slot left for the next look
    assert.equal(hung.got.length, 40);
    assert.equal(new Set(hung.got).size, 40, "each once");
    assert.equal(hung.maxInFlight, 3);
    const states = (await store.listDeliveries(a.id, storm.id, 100)).map((d) => d.state);
    assert.deepEqual(new Set(states), new Set(["delivered"]));
    assert.equal(states.length, 40);
  } finally {
    hung.release();
    await pool?.stop();
    await hung.close();
    await other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deliveries: a receiver that fails every attempt rests after five, then one probe at a time; the first success sends the backlog", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-breaker-" });
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir);
  // Nothing listens on the dead receiver's port yet: every attempt is refused at once.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const other = new Receiver();
  let revived: Deno.HttpServer | null = null;
  const revivedGot: string[] = [];
  // The breaker's time: the wall clock plus what the test skips (the store's is the wall clock).
  let skipped = 0;
  const clock = { now: () => Date.now() + skipped };
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  let pool: DeliveryPool | null = null;
  try {
    const { a, acme: dead, bolt: calm } = await twoTenants(
      store,
      `http://127.0.0.1:${deadPort}/in`,
      other.url,
    );
    await queue(store, dead, 30);
    // A failed delivery's own retry (an hour) stays out of this test.
    pool = await poolOf(store, { clock, firstRetryMs: 3_600_000, log });
    const attempts = async () =>
      (await store.listDeliveries(a.id, dead.id, 100)).reduce((n, d) => n + d.attempts.length, 0);

    await pool.fill();
    const tripped = await attempts();
    // Five in a row trip it; the two other slots' attempts already under way may end after.
    assert.ok(tripped >= TRIP_AFTER && tripped <= TRIP_AFTER + 2, `${tripped} attempts`);
    assert.equal(lines.filter((l) => String(l.msg).startsWith("webhook resting")).length, 1);
    // Resting: nothing of it is claimed, and another tenant's delivery goes out meanwhile.
    await queue(store, calm, 1);
    await pool.fill();
    assert.equal(await attempts(), tripped);
    assert.deepEqual(other.got, [`${calm.id}:0`]);

    // The rest over: one probe, which fails and doubles the rest.
    skipped += REST_MS;
    await pool.fill();
    assert.equal(await attempts(), tripped + 1, "one probe");
    skipped += REST_MS; // half of the doubled rest: still resting
    await pool.fill();
    assert.equal(await attempts(), tripped + 1);
    assert.equal(lines.filter((l) => String(l.msg).startsWith("webhook resting")).length, 2);

    // The receiver is back: the next probe succeeds and the backlog goes out.
    revived = Deno.serve({ hostname: "127.0.0.1", port: deadPort, onListen: () => {} }, (req) => {
      revivedGot.push(req.headers.get("x-nanodems-delivery") ?? "");
      return new Response(null, { status: 204 });
    });
    skipped += REST_MS;
    await pool.fill();
    const failedOnce = (await store.listDeliveries(a.id, dead.id, 100))
      .filter((d) => d.state === "pending").length;
    assert.equal(failedOnce, tripped + 1, "those that failed wait for their own retry");
    assert.equal(revivedGot.length, 30 - failedOnce, "every delivery never tried went out");
    assert.ok(lines.some((l) => l.msg === "webhook answers again"));
  } finally {
    await pool?.stop();
    await revived?.shutdown();
    await other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deliveries: an email refused for good (550) fails at its first attempt, not retried for a day; a deferred one (450) waits for its retry; one of two addresses refused is delivered, the refused one named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-mail-final-" });
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir);
  const server = await MailServer.start({ reject: "gone@example.com", defer: "later@example.com" });
  let pool: DeliveryPool | null = null;
  try {
    const t = await store.createTenant({ name: "Acme" });
    const hook = (url: string) => addWebhook(store, t.id, url);
    const gone = await hook("mailto:gone@example.com");
    const later = await hook("mailto:later@example.com");
    const both = await hook("mailto:ops@example.com,gone@example.com");
    for (const h of [gone, later, both]) await queue(store, h, 1);
    pool = await poolOf(store, {
      mailer: new Mailer(parseSmtpUrl(server.url())!, "alerts@example.com"),
    });
    await pool.fill();
    const [g] = await store.listDeliveries(t.id, gone.id, 10);
    assert.equal(g.state, "failed", "a 550 is final: the delivery is not retried");
    assert.equal(g.attempts.length, 1);
    assert.equal(g.attempts[0].status, 550);
    assert.match(g.attempts[0].error, /refused gone@example\.com \(550 5\.1\.1/);
    assert.match(g.attempts[0].note ?? "", /not retried: .*5xx reply is final/);

    const [l] = await store.listDeliveries(t.id, later.id, 10);
    assert.equal(l.state, "pending", "a 450 asks to try again later");
    assert.equal(l.attempts[0].status, 450);
    assert.equal(l.attempts[0].note, undefined);

    const [b] = await store.listDeliveries(t.id, both.id, 10);
    assert.equal(b.state, "delivered", "the message went to the address that took it");
    assert.equal(b.attempts[0].status, 250);
    assert.match(b.attempts[0].note ?? "", /^not sent to gone@example\.com \(550 5\.1\.1/);
    assert.deepEqual((await server.received(1)).map((m) => m.to), [["ops@example.com"]]);
  } finally {
    await pool?.stop();
    await server.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deliveries: a flood to an email alert and a Slack channel — five messages of their own each, then at the window's end one digest that lists every event of the window (the email read back by Python's parser)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-digest-mail-" });
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 14, 1));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  const server = await MailServer.start();
  const channel = new ChatReceiver();
  let pool: DeliveryPool | null = null;
  try {
    const t = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: t.id, name: "Depot" });
    await addWebhook(store, t.id, "mailto:ops@example.com", ["device.down", "camera.motion"]);
    await store.createWebhook({
      tenantId: t.id,
      url: channel.url,
      events: ["device.down", "camera.motion"],
      format: "slack",
      secretSeed: WebhookSecrets.seed(),
      createdBy: "user:u1",
    });
    const events = new EventProducer({
      store,
      log: createLogger({ role: "test", level: "silent" }),
    });
    for (let i = 0; i < 12; i++) {
      await events.emit({
        tenantId: t.id,
        type: i < 9 ? "device.down" : "camera.motion",
        subject: { name: `Cam <${i}>`, siteId: site.id },
        actor: "system",
        detail: i < 9 ? { error: "connection refused" } : {},
        key: `e:${i}`,
      });
      clock.advance(20_000);
    }
    pool = await poolOf(store, {
      clock,
      mailer: new Mailer(parseSmtpUrl(server.url())!, "alerts@example.com"),
      consoleUrl: () => "https://cloud.example.com",
    });
    await pool.fill();
    await server.received(EACH_PER_WINDOW);
    assertEquals(server.got.length, EACH_PER_WINDOW, "no digest before the window's end");
    assertEquals(channel.got.length, EACH_PER_WINDOW, "nor in the channel");
    // Sent in parallel: in any order.
    assert(
      channel.got.some((g) =>
        JSON.parse(g.body).text.startsWith("*Device port down*: Cam &lt;0&gt; (Depot)\n")
      ),
    );

    clock.set(Date.UTC(2026, 11, 5, 14, 10));
    await pool.fill();
    const [digest] = (await server.received(EACH_PER_WINDOW + 1)).slice(-1);
    assertEquals(
      digest.headers.subject,
      "12 alerts 14:00–14:10 UTC: Device port down ×9, Motion detected ×3",
    );
    assertEquals(digest.headers["x-nanodems-event"], "alert.digest");
    const lines = digest.text!.split(/\r?\n/);
    assertEquals(lines.filter((l) => /^14:0\d:\d\d {2}/.test(l)).length, 12, digest.text!);
    assert(
      lines.includes("14:01:00  Device port down: Cam <0> (Depot) — connection refused"),
      digest.text!,
    );
    assert(lines.includes("14:04:40  Motion detected: Cam <11> (Depot)"));
    assertStringIncludes(digest.text!, "at most 5 alerts as emails of their own in 10 minutes");
    assertStringIncludes(digest.html!, "Cam &#60;11&#62; (Depot)");
    const slack = JSON.parse(channel.got.at(-1)!.body).text as string;
    assertEquals(channel.got.length, EACH_PER_WINDOW + 1);
    const chatLines = slack.split("\n");
    assertEquals(
      chatLines[0],
      "*12 alerts 14:00–14:10 UTC*: Device port down ×9, Motion detected ×3",
    );
    assertEquals(
      chatLines[1],
      "14:01:00  Device port down: Cam &lt;0&gt; (Depot) — connection refused",
    );
    assertEquals(chatLines.filter((l) => /^14:0\d:\d\d {2}/.test(l)).length, 12);
    assertEquals(chatLines.at(-2), "<https://cloud.example.com/events|Events>");
    assertStringIncludes(slack, "_This channel gets at most 5 alerts as messages of their own");
    assert(!digest.html!.includes("Cam <11>"), "a name is text in the HTML");
    const [d] = (await store.listDeliveries(t.id, (await store.listWebhooks(t.id))[0].id, 50))
      .filter((x) => x.eventType === "alert.digest");
    assertEquals([d.state, d.attempts[0].status], ["delivered", 250]);
  } finally {
    await pool?.stop();
    await server.close();
    await channel.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
