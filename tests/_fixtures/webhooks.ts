/**
 * A webhook straight in the store, for tests of what happens to its deliveries: a signing seed
 * and an admin's name, as the API would write them.
 * @module
 */
import { WebhookSecrets } from "../../src/cloud/events/webhook_secret.ts";
import type { EventType, Store, Webhook } from "../../src/cloud/store/store.ts";

/** Adds a webhook of `tenantId` to `url` (https or `mailto:`) for `events`. */
export function addWebhook(
  store: Store,
  tenantId: string,
  url: string,
  events: EventType[] = ["device.down"],
): Promise<Webhook> {
  return store.createWebhook({
    tenantId,
    url,
    events,
    secretSeed: WebhookSecrets.seed(),
    createdBy: "user:u1",
  });
}
