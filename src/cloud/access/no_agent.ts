/**
 * What to say when no agent of a site is connected: "agent reconnecting" (the guide's words) when
 * the site has an agent that is away, and the truth when it never had one — "no agent has
 * connected to site X yet: install one from the site page" — so nobody waits for a reconnect
 * that cannot happen.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Store } from "../store/store.ts";

/** The refusal for a site without a connected agent. */
export async function noAgentError(
  store: Store,
  tenantId: string,
  siteId: string,
): Promise<AppError> {
  // Any agent the site ever had (a revoked one included) keeps the guide's wording.
  if ((await store.listAgents(tenantId, siteId)).length) return new AppError("agent_offline");
  const site = await store.getSite(tenantId, siteId);
  return new AppError(
    "no_agent_yet",
    `no agent has connected to site "${site?.name ?? siteId}" yet: install one from the site page`,
  );
}
