/**
 * Who reads a tenant's events: each user keeps their own read state (a colleague's "Mark all
 * read" does not empty my inbox or my badge), so the API, the Events page and the live stream
 * name the reader the same way. A user is `user:<id>` and has read what came before their
 * account; another credential (an API key, a license, a CLI session) reads as its actor.
 * @module
 */
import type { Principal } from "../tenancy/auth.ts";
import type { EventReader, Store } from "../store/store.ts";

/** The reader a request's principal is. */
export async function eventReader(store: Store, p: Principal): Promise<EventReader> {
  if (p.userId) {
    const user = await store.getUser(p.userId);
    return { id: `user:${p.userId}`, since: user?.createdAt ?? 0 };
  }
  return { id: p.actor, since: 0 };
}
