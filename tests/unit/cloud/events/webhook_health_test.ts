// A webhook's health from its newest deliveries: idle, delivering, failing since the first
// attempt of the streak, "at least" when the streak reaches past what was read, held back once
// the deliverer's breaker trips, and the sentence an admin reads.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { describeHealth, webhookHealth } from "../../../../src/cloud/events/webhook_health.ts";
import { TRIP_AFTER } from "../../../../src/cloud/events/deliverer.ts";
import type { DeliveryAttempt, WebhookDelivery } from "../../../../src/cloud/store/store.ts";

let n = 0;
function delivery(
  attempts: DeliveryAttempt[],
  state: WebhookDelivery["state"] = "pending",
  nextAttemptAt = 0,
): WebhookDelivery {
  return {
    id: `w1:${++n}`,
    tenantId: "t1",
    webhookId: "w1",
    eventType: "device.down",
    body: "{}",
    state,
    attempts,
    nextAttemptAt,
    createdAt: attempts[0]?.at ?? 0,
    claimedBy: null,
  };
}
const fail = (at: number, status: number | null = 500): DeliveryAttempt => ({
  at,
  status,
  error: status === null ? "connection refused" : `HTTP ${status}`,
});
const ok = (at: number): DeliveryAttempt => ({ at, status: 204, error: "" });
const iso = (ms: number) => new Date(ms).toISOString();

Deno.test("webhook health: nothing attempted yet", () => {
  const h = webhookHealth([delivery([])], true);
  assertEquals([h.state, h.failedInRow, h.pending], ["idle", 0, 1]);
  assertEquals(describeHealth(h, iso), "Nothing attempted yet.");
});

Deno.test("webhook health: the newest attempt succeeded after failures", () => {
  const h = webhookHealth([
    delivery([fail(1_000), fail(2_000), ok(3_000)], "delivered"),
    delivery([fail(500)], "failed"),
  ], true);
  assertEquals([h.state, h.failedInRow, h.lastOkAt, h.lastError], ["ok", 0, 3_000, null]);
  assertEquals(
    describeHealth(h, iso),
    "Delivering: the last attempt succeeded at 1970-01-01T00:00:03.000Z.",
  );
});

Deno.test("webhook health: failing since the first attempt of the streak, across deliveries", () => {
  const h = webhookHealth([
    delivery([fail(5_000, null)], "pending", 9_000),
    delivery([ok(1_000)], "delivered"),
    delivery([fail(2_000), fail(4_000)], "pending", 8_000),
  ], true);
  assertEquals(h.state, "failing");
  assertEquals([h.failedInRow, h.failingSince, h.lastOkAt], [3, 2_000, 1_000]);
  assertEquals(h.lastError, { status: null, error: "connection refused" });
  assertEquals([h.pending, h.nextAttemptAt, h.atLeast, h.throttled], [2, 8_000, false, false]);
  assertEquals(
    describeHealth(h, iso),
    "Failing since 1970-01-01T00:00:02.000Z, 3 attempts in a row (connection refused).",
  );
});

Deno.test("webhook health: a streak reaching past what was read is 'at least'; held back once tripped", () => {
  const attempts = Array.from({ length: TRIP_AFTER }, (_, i) => fail(1_000 * (i + 1)));
  const h = webhookHealth([delivery(attempts)], false);
  assertEquals([h.failedInRow, h.atLeast, h.throttled], [TRIP_AFTER, true, true]);
  assertEquals(
    describeHealth(h, iso),
    `Failing since 1970-01-01T00:00:01.000Z, at least ${TRIP_AFTER} attempts in a row (HTTP 500).` +
      " New deliveries are held back: one attempt at a time until one succeeds.",
  );
  // All it has: exactly that many.
  assertEquals(webhookHealth([delivery(attempts)], true).atLeast, false);
  const one = webhookHealth([delivery([fail(7)])], true);
  assertEquals(describeHealth(one, iso).includes("1 attempt in a row"), true);
});
