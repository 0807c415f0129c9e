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
import { timeSlicer } from "../../shared/time_slice.ts";

/** The close reason operators see. */
export const REVOKED_REASON = "credentials revoked";

/** What a live connection is, for the live-sessions view. */
export interface LiveInfo {
  /** e.g. "WebSocket tunnel", "CLI tunnel", "RTSP", "proxied stream", "proxied WebSocket". */
  kind: string;
  handleId: string;
  startedAt: number;
  /** Bytes carried so far, both ways, when the connection counts them. */
  bytes?: () => number;
}

/** The reason a connection an admin terminated is closed with. */
export const TERMINATED_REASON = "terminated by an admin";

/**
 * A live connection as the registry holds it. A connection that may be one of tens of thousands
 * (a WebSocket or CLI tunnel) implements it itself and is registered as it is
 * ({@linkcode LiveAccess.register}); the others pass callbacks ({@linkcode LiveAccess.add}).
 */
export interface LiveConn {
  readonly principal: Principal;
  /** Ends the connection; `reason` is what its user is told. */
  close(reason: string): void;
  /** What it is, for the live-sessions view; without it the view does not list it. */
  readonly info?: LiveInfo;
}

/** One live connection as the live-sessions view lists it. */
export interface LiveRow extends Omit<LiveInfo, "bytes"> {
  id: string;
  actor: string;
  userId: string | null;
  /** Bytes so far, both ways; null when the connection does not count them. */
  bytes: number | null;
}

/** The view's row of `e` (which has `info`): its fields named one by one, nothing else. */
function row(e: LiveConn, id: string): LiveRow {
  const info = e.info!;
  return {
    id,
    kind: info.kind,
    handleId: info.handleId,
    startedAt: info.startedAt,
    actor: e.principal.actor,
    userId: e.principal.userId,
    bytes: info.bytes ? info.bytes() : null,
  };
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
  #entries = new Set<LiveConn>();
  /** The view's ids, given when a connection is first listed (most never are). */
  #ids = new WeakMap<LiveConn, string>();

  /** Registers a connection; call the returned function when it ends. */
  add(principal: Principal, close: (reason: string) => void, info?: LiveInfo): () => void {
    const e: LiveConn = { principal, close, info };
    this.#entries.add(e);
    return () => this.#entries.delete(e);
  }

  /** Registers a connection that is its own entry; `unregister` it when it ends. */
  register(conn: LiveConn): void {
    this.#entries.add(conn);
  }

  /** Forgets a connection `register`ed (nothing when it is not here). */
  unregister(conn: LiveConn): void {
    this.#entries.delete(conn);
  }

  #idOf(e: LiveConn): string {
    let id = this.#ids.get(e);
    if (id === undefined) this.#ids.set(e, id = crypto.randomUUID());
    return id;
  }

  /** The described connections of a tenant on this node, oldest first. */
  list(tenantId: string): LiveRow[] {
    return [...this.#entries]
      .filter((e) => e.info && e.principal.tenantId === tenantId)
      .map((e) => row(e, this.#idOf(e)))
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Closes one connection of the tenant ("terminated by an admin"); false when not here. */
  terminate(tenantId: string, id: string): LiveRow | null {
    const e = [...this.#entries].find((x) =>
      this.#ids.get(x) === id && x.principal.tenantId === tenantId
    );
    if (!e || !e.info) return null;
    this.#entries.delete(e);
    try {
      e.close(TERMINATED_REASON);
    } catch { /* already closed */ }
    return row(e, id);
  }

  /** How many connections are registered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Closes every connection whose credential no longer holds; returns how many. */
  async revalidate(store: Store, now: number, log?: Logger): Promise<number> {
    const verdicts = new Map<string, boolean>();
    let closed = 0;
    const slice = timeSlicer(); // a node may hold thousands of live connections
    for (const e of [...this.#entries]) {
      await slice();
      if (!this.#entries.has(e)) continue; // ended meanwhile
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
