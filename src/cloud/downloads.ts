/**
 * The cloud's downloads directory (`--downloads-dir`, default `<data-dir>/downloads`): the
 * compiled executables `deno task compile` lays out (`connector-agent-linux-x86_64`, …). This
 * module finds them and knows their SHA-256 (hashed once per file version, keyed by size and
 * modification time), which the download endpoint sends and the installers embed. A development
 * checkout has no executables; `missingMessage` says so and how to build them.
 * @module
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import {
  type DownloadKind,
  downloadName,
  parseDownloadName,
  type Platform,
} from "../shared/downloads.ts";

/** One executable on offer. */
export interface DownloadFile extends Platform {
  kind: DownloadKind;
  name: string;
  path: string;
  size: number;
  sha256: string;
}

const cache = new Map<string, { size: number; mtime: number; sha256: string }>();

async function sha256File(path: string): Promise<string> {
  // Streamed, so a 100 MB executable is never held in memory at once.
  const h = createHash("sha256");
  using f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

async function describe(dir: string, name: string): Promise<DownloadFile | null> {
  const parsed = parseDownloadName(name);
  if (!parsed) return null;
  const path = join(dir, name);
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch {
    return null;
  }
  if (!st.isFile) return null;
  const mtime = st.mtime?.getTime() ?? 0;
  let hit = cache.get(path);
  if (!hit || hit.size !== st.size || hit.mtime !== mtime) {
    hit = { size: st.size, mtime, sha256: await sha256File(path) };
    cache.set(path, hit);
  }
  return { ...parsed, name, path, size: st.size, sha256: hit.sha256 };
}

/** Every executable in the directory (none when it does not exist), sorted by name. */
export async function listDownloads(dir: string): Promise<DownloadFile[]> {
  const out: DownloadFile[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const f = e.isFile || e.isSymlink ? await describe(dir, e.name) : null;
      if (f) out.push(f);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The executable of one kind for one platform, or null. */
export function findDownload(
  dir: string,
  kind: DownloadKind,
  p: Platform,
): Promise<DownloadFile | null> {
  return describe(dir, downloadName(kind, p));
}

/** What to tell someone who asks for an executable the cloud does not have. */
export function missingMessage(kind: DownloadKind, p: Platform): string {
  const name = downloadName(kind, p);
  return `this cloud has no compiled executable ${name} (a development checkout has none): ` +
    "build the executables with 'deno task compile --target <target>' (see build/compile.ts), " +
    "which lays them out in out/downloads/, and start the cloud with --downloads-dir " +
    "(NC_DOWNLOADS_DIR) pointing there, or copy them to <data-dir>/downloads";
}
