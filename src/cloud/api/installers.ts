/**
 * `GET /api/sites/{id}/installer.sh` and `installer.cmd` (admin): the site's installers, each
 * with a fresh one-shot enrollment token (minted and audited like the site page's button), the
 * cloud's public URL and the SHA-256 of each agent executable the cloud has (or the fact it has
 * none). Another tenant's site is a 404; the answer is never cached.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import { downloadName } from "../../shared/downloads.ts";
import type { Clock } from "../../shared/clock.ts";
import type { EnrollmentToken, Store } from "../store/store.ts";
import { mintEnrollmentToken } from "../tenancy/enrollment.ts";
import { hashToken, parseJoinToken } from "../../shared/crypto/token.ts";
import { requireRole } from "../tenancy/roles.ts";
import { listDownloads } from "../downloads.ts";
import { installerSh } from "../installers/sh.ts";
import { installerCmd } from "../installers/cmd.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** What the installer routes need. */
export interface InstallerDeps {
  store: Store;
  clock: Clock;
  caPin: string;
  enrollmentTtlMs: number;
  publicUrl: () => string;
  downloadsDir: string;
}

const KINDS = {
  sh: { write: installerSh, type: "text/x-shellscript; charset=utf-8" },
  cmd: { write: installerCmd, type: "application/x-bat; charset=utf-8" },
} as const;

/** The routes under /api (per-site installers). */
export function installerRoutes(d: InstallerDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  for (const [ext, kind] of Object.entries(KINDS)) {
    app.get(`/sites/:id/installer.${ext}`, requireAuth(d.store), async (c) => {
      const p = c.get("principal");
      requireRole(p.role, "admin");
      const site = await d.store.getSite(p.tenantId, c.req.param("id"));
      if (!site) throw new AppError("not_found", "no such site");
      const files = new Map(
        (await listDownloads(d.downloadsDir)).map((f) => [f.name, f.sha256]),
      );
      const { token, expiresAt } = await mintEnrollmentToken(d.store, {
        tenantId: p.tenantId,
        siteId: site.id,
        actor: p.actor,
        caPin: d.caPin,
        ttlMs: d.enrollmentTtlMs,
        now: d.clock.now(),
        detail: { installer: ext },
      });
      const text = kind.write({
        cloudUrl: d.publicUrl(),
        token,
        expiresAt,
        siteName: site.name,
        sha256: (pl) => files.get(downloadName("agent", pl)) ?? null,
      });
      return c.body(text, 200, {
        "content-type": kind.type,
        "content-disposition": `attachment; filename="nanodems-agent-${site.id}.${ext}"`,
        "cache-control": "no-store",
      });
    });
  }
  // A copyable one-line install command: a fresh token, and the commands that fetch the
  // installer with that token inside (GET /api/install/{token}.sh|.cmd below).
  app.post("/sites/:id/install-command", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const site = await d.store.getSite(p.tenantId, c.req.param("id"));
    if (!site) throw new AppError("not_found", "no such site");
    const { token, expiresAt } = await mintEnrollmentToken(d.store, {
      tenantId: p.tenantId,
      siteId: site.id,
      actor: p.actor,
      caPin: d.caPin,
      ttlMs: d.enrollmentTtlMs,
      now: d.clock.now(),
      detail: { installer: "one-line" },
    });
    return c.json({ token, expiresAt, ...installCommands(d.publicUrl(), token) }, 201);
  });
  app.get("/sites/:id/enrollment-tokens", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const site = await d.store.getSite(p.tenantId, c.req.param("id"));
    if (!site) throw new AppError("not_found", "no such site");
    const now = d.clock.now();
    const items = (await d.store.listEnrollmentTokens(p.tenantId, site.id)).map((t) => ({
      id: t.hash,
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      usedAt: t.usedAt,
      agentId: t.agentId,
      state: t.usedAt !== null ? "used" : t.expiresAt <= now ? "expired" : "active",
    }));
    return c.json({ items });
  });
  app.delete("/sites/:id/enrollment-tokens/:hash", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const site = await d.store.getSite(p.tenantId, c.req.param("id"));
    if (!site) throw new AppError("not_found", "no such site");
    const hash = c.req.param("hash");
    const t = /^[0-9a-f]{64}$/.test(hash) ? await d.store.getEnrollmentToken(hash) : null;
    if (!t || t.siteId !== site.id || !await d.store.revokeEnrollmentToken(p.tenantId, hash)) {
      throw new AppError("not_found", "no active enrollment token with this id on this site");
    }
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "enrollment_token.revoke",
      target: site.id,
      detail: { token: hash.slice(0, 12) },
    });
    return c.json({ revoked: hash });
  });
  // Public: the token in the path is the credential (one-shot, short-lived, what any installer
  // carries). An expired token gets the catalogue's refusal, never an installer; so does a used
  // one, unless the machine that used it may still finish with it: enrollment answers the key
  // it was used with again until the token expires (enroll.ts), and the agent's advice when its
  // answer was lost is "run the same command again" — for a one-line install, this link.
  app.get("/install/:file", async (c) => {
    const m = /^(enr_[A-Za-z0-9_-]{43}\.[0-9a-f]{64})\.(sh|cmd)$/.exec(c.req.param("file"));
    const join = m ? parseJoinToken(m[1]) : null;
    if (!m || !join) throw new AppError("not_found", "no such install link");
    const rec = await d.store.getEnrollmentToken(await hashToken(join.token));
    if (!rec) throw new AppError("not_found", "no such install link");
    const expired = rec.expiresAt <= d.clock.now();
    if (rec.usedAt !== null && (expired || !await finishable(d.store, rec))) {
      throw new AppError("enrollment_token_used");
    }
    if (expired) throw new AppError("enrollment_token_expired");
    const site = await d.store.getSiteById(rec.siteId);
    const files = new Map((await listDownloads(d.downloadsDir)).map((f) => [f.name, f.sha256]));
    const kind = KINDS[m[2] as keyof typeof KINDS];
    const text = kind.write({
      cloudUrl: d.publicUrl(),
      token: m[1],
      expiresAt: rec.expiresAt,
      siteName: site?.name ?? rec.siteId,
      sha256: (pl) => files.get(downloadName("agent", pl)) ?? null,
    });
    return c.body(text, 200, { "content-type": kind.type, "cache-control": "no-store" });
  });
  return app;
}

/**
 * Whether a used token can still finish its own enrollment: it kept the key it was used with
 * and its agent exists and is not revoked (the cloud's repeat conditions, bar the expiry the
 * caller checks).
 */
async function finishable(store: Store, rec: EnrollmentToken): Promise<boolean> {
  if (!rec.agentId || !rec.keyPin) return false;
  const agent = await store.getAgent(rec.agentId);
  return agent !== null && agent.revokedAt === null;
}

/**
 * The one-line install commands for a site PC: fetch the installer that carries `token` and run
 * it as root / Administrator. The token is one-shot and expires; it is the same secret a
 * downloaded installer file carries.
 */
export function installCommands(
  cloudUrl: string,
  token: string,
): { linux: string; windows: string; commands: string } {
  const base = `${cloudUrl}/api/install/${token}`;
  const linux = `curl -fsSL '${base}.sh' | sudo sh`;
  const windows =
    `curl.exe -fsSLo "%TEMP%\\nanodems-agent.cmd" "${base}.cmd" && "%TEMP%\\nanodems-agent.cmd"`;
  return {
    linux,
    windows,
    commands: `# Linux or macOS (a shell on the site PC):\n${linux}\n\n` +
      `# Windows (Command Prompt as Administrator):\n${windows}\n`,
  };
}
