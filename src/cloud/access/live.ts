/**
 * Live access: every long-lived connection an operator holds on this node (WebSocket and CLI
 * tunnels, RTSP sessions, proxied WebSockets and streams), with the credential that opened it.
 * Policy is decided once, before bytes flow — and decided again when the store says something
 * changed: a revoked token, CLI session, license, signed-out session or disabled user closes what
 * it opened ("credentials revoked") instead of letting a stream run on for hours.
 * @module
 */
import type { Logger } from "../../shared/log.ts";
import type { Store } from "../store/store.ts";
import type { Principal } from "../tenancy/auth.ts";

/** The close reason operators see. */
export const REVOKED_REASON = "credentials revoked";

interface Entry {
  principal: Principal;
  close(reason: string): void;
}

/** Whether the credential behind a principal still holds at `now`. */
export async function stillValid(store: Store, p: Principal, now: number): Promise<boolean> {
  if (p.userId) {
    const u = await store.getUser(p.userId);
    if (!u || u.disabledAt !== null) return false;
  }
  switch (p.kind) {
    case "session":
      return !!p.sessionHash && (await store.getWebSession(p.sessionHash)) !== null;
    case "api_token": {
      const t = p.credentialHash ? await store.getApiToken(p.credentialHash) : null;
      return !!t && t.revokedAt === null;
    }
    case "cli_session": {
      const s = p.cliSessionHash ? await store.getCliSession(p.cliSessionHash) : null;
      return !!s && s.revokedAt === null && s.expiresAt > now;
    }
    case "license": {
      const l = p.credentialHash ? await store.getLicenseByHash(p.credentialHash) : null;
      return !!l && l.revokedAt === null;
    }
    default:
      return true;
  }
}

/** The live connections of this node. */
export class LiveAccess {
  #entries = new Set<Entry>();

  /** Registers a connection; call the returned function when it ends. */
  add(principal: Principal, close: (reason: string) => void): () => void {
    const e: Entry = { principal, close };
    this.#entries.add(e);
    return () => this.#entries.delete(e);
  }

  /** How many connections are registered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Closes every connection whose credential no longer holds; returns how many. */
  async revalidate(store: Store, now: number, log?: Logger): Promise<number> {
    const verdicts = new Map<string, boolean>();
    let closed = 0;
    for (const e of [...this.#entries]) {
      const p = e.principal;
      const key = `${p.kind}:${p.sessionHash ?? p.cliSessionHash ?? p.credentialHash ?? ""}:${
        p.userId ?? ""
      }`;
      let ok = verdicts.get(key);
      if (ok === undefined) {
        ok = await stillValid(store, p, now);
        verdicts.set(key, ok);
      }
      if (ok) continue;
      this.#entries.delete(e);
      closed++;
      try {
        e.close(REVOKED_REASON);
      } catch { /* already closed */ }
    }
    if (closed) log?.info({ closed }, "closed connections whose credentials were revoked");
    return closed;
  }
}
