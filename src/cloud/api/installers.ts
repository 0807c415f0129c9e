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
import type { Store } from "../store/store.ts";
import { mintEnrollmentToken } from "../tenancy/enrollment.ts";
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
  return app;
}
