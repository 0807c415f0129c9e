/**
 * How many messages a tenant's admins can have the cloud send by hand in an hour: "Send test" on a
 * webhook or an email alert, and the invitation and password links the cloud emails to people.
 * The mail server and its reputation are the operator's, shared by every tenant: without a limit
 * an admin — or a stolen admin token — scripting invitations to a list of strangers makes the
 * cloud a spam relay (and gets its sender listed for every tenant), and a loop on "Send test"
 * makes it a cannon at somebody's URL. Alerts raised by events are not counted: a site's devices
 * raise them, not a click, and the quiet periods already space them. Counted in the store
 * (shared_rate_limit.ts), so the limit is the deployment's, not each node's.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Store } from "../store/store.ts";
import { SharedRateLimiter } from "./shared_rate_limit.ts";

/** Sends by hand a tenant gets per hour: invitations and password links emailed, test deliveries. */
export const SENDS_PER_TENANT_PER_HOUR = 100;

/** The window the budget is counted in. */
export const SEND_BUDGET_WINDOW_MS = 3_600_000;

/** What an admin reads once the hour's budget is spent. */
export const SEND_BUDGET_SPENT =
  `this tenant had the cloud send ${SENDS_PER_TENANT_PER_HOUR} tests and emailed links within the hour, its limit: try again when the hour is over (alerts from events still go out)`;

/** A tenant's budget of sends by hand. */
export class SendBudget {
  readonly #limit: SharedRateLimiter;

  /** The budget, counted in `store`. */
  constructor(store: Store) {
    this.#limit = new SharedRateLimiter(
      store,
      "tenant-sends",
      SENDS_PER_TENANT_PER_HOUR,
      SEND_BUDGET_WINDOW_MS,
    );
  }

  /** Takes one send of `tenantId`'s budget; false when the hour's budget is spent. */
  take(tenantId: string): Promise<boolean> {
    return this.#limit.take(tenantId);
  }

  /** Takes one send, or throws `rate_limited` (429) with {@linkcode SEND_BUDGET_SPENT}. */
  async spend(tenantId: string): Promise<void> {
    if (!await this.take(tenantId)) throw new AppError("rate_limited", SEND_BUDGET_SPENT);
  }
}
