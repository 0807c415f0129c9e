/**
 * The download endpoint: `GET /download/{agent|tunnel}/{os}/{arch}` streams a compiled
 * executable from the downloads directory with its SHA-256 in `x-checksum-sha256`, and
 * `GET /api/downloads` lists what is on offer (name, platform, size, SHA-256) for the UI.
 *
 * Downloads need no credentials: the executables are the same for every tenant and hold no
 * secret, and the installer that fetches them must not spend its one-shot enrollment token on
 * it. Integrity comes from the SHA-256 each per-site installer embeds (fetched with an admin's
 * credentials) and checks before installing. The listing is for signed-in users only, like the
 * rest of /api. Without executables (a development checkout) both say so and how to build them.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import {
  DOWNLOAD_ARCHES,
  DOWNLOAD_KINDS,
  DOWNLOAD_OSES,
  type DownloadKind,
  type Platform,
} from "../../shared/downloads.ts";
import type { Store } from "../store/store.ts";
import { findDownload, listDownloads, missingMessage } from "../downloads.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** The path parameters of a download. */
export const downloadParams = z.object({
  kind: z.enum(DOWNLOAD_KINDS),
  os: z.enum(DOWNLOAD_OSES),
  arch: z.enum(DOWNLOAD_ARCHES),
});

/** The public path of an executable. */
export function downloadPath(kind: DownloadKind, p: Platform): string {
  return `/download/${kind}/${p.os}/${p.arch}`;
}

/** The download routes (mounted at the root: /download/… and /api/downloads). */
export function downloadRoutes(d: { store: Store; downloadsDir: string }): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.get("/download/:kind/:os/:arch", async (c) => {
    const r = downloadParams.safeParse(c.req.param());
    if (!r.success) {
      throw new AppError(
        "bad_request",
        `expected /download/{${DOWNLOAD_KINDS.join("|")}}/{${DOWNLOAD_OSES.join("|")}}/{${
          DOWNLOAD_ARCHES.join("|")
        }}`,
      );
    }
    const { kind, os, arch } = r.data;
    const f = await findDownload(d.downloadsDir, kind, { os, arch });
    if (!f) throw new AppError("not_found", missingMessage(kind, { os, arch }));
    const file = await Deno.open(f.path);
    return new Response(file.readable, {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(f.size),
        "content-disposition": `attachment; filename="${f.name}"`,
        "x-checksum-sha256": f.sha256,
        "cache-control": "no-cache",
      },
    });
  });
  app.get("/api/downloads", requireAuth(d.store), async (c) => {
    const items = (await listDownloads(d.downloadsDir)).map((f) => ({
      kind: f.kind,
      os: f.os,
      arch: f.arch,
      name: f.name,
      size: f.size,
      sha256: f.sha256,
      url: downloadPath(f.kind, f),
    }));
    return c.json({
      items,
      ...(items.length ? {} : {
        message: missingMessage("agent", { os: "linux", arch: "x86_64" })
          .replace(/executable \S+/, "executables"),
      }),
    });
  });
  return app;
}
