/**
 * The audit log is append-only and readable by every tenant admin, so it is a flood target: a
 * revoked agent's Hello or an anonymous request decides what goes into many of its rows. This
 * wraps any {@link Store} so every audit entry's actor, action, target and detail strings are
 * clipped (`shared/clip.ts`) before the backend sees them — one place for every backend.
 * @module
 */
import { clip, clipDeep } from "../../shared/clip.ts";
import type { NewAuditEntry, Store } from "./store.ts";

/** The entry with every untrusted-sized field clipped. */
export function clipAuditEntry(e: NewAuditEntry): NewAuditEntry {
  return {
    ...e,
    actor: clip(e.actor),
    action: clip(e.action),
    target: clip(e.target),
    detail: clipDeep(e.detail) as NewAuditEntry["detail"],
  };
}

/** `store` with `appendAudit` clipping its entry; every other method is the store's own. */
export function withClippedAudit<S extends Store>(store: S): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "appendAudit") {
        return (e: NewAuditEntry) => target.appendAudit(clipAuditEntry(e));
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
