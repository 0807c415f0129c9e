/**
 * The names of the compiled executables the cloud serves for download, shared by the build
 * (`build/compile.ts` lays them out), the cloud's download endpoint and its installers, so the
 * three can never disagree on what `connector-agent-linux-x86_64` means.
 * @module
 */

/** What can be downloaded: the site agent and the operator's tunnel CLI. */
export const DOWNLOAD_KINDS = ["agent", "tunnel"] as const;
/** A downloadable program. */
export type DownloadKind = (typeof DOWNLOAD_KINDS)[number];
/** Operating systems executables are built for (`uname -s` lower-cased; Deno's names). */
export const DOWNLOAD_OSES = ["linux", "darwin", "windows"] as const;
/** An operating system. */
export type DownloadOs = (typeof DOWNLOAD_OSES)[number];
/** CPU architectures executables are built for (Deno's names, as `uname -m` prints on Linux). */
export const DOWNLOAD_ARCHES = ["x86_64", "aarch64"] as const;
/** A CPU architecture. */
export type DownloadArch = (typeof DOWNLOAD_ARCHES)[number];

/** One platform an executable can be built for. */
export interface Platform {
  os: DownloadOs;
  arch: DownloadArch;
}

/** The platforms `deno task compile` can build (Deno's compile targets). */
export const PLATFORM_TARGETS: Record<string, Platform> = {
  "x86_64-unknown-linux-gnu": { os: "linux", arch: "x86_64" },
  "aarch64-unknown-linux-gnu": { os: "linux", arch: "aarch64" },
  "x86_64-apple-darwin": { os: "darwin", arch: "x86_64" },
  "aarch64-apple-darwin": { os: "darwin", arch: "aarch64" },
  "x86_64-pc-windows-msvc": { os: "windows", arch: "x86_64" },
};

const BASE: Record<DownloadKind, string> = { agent: "connector-agent", tunnel: "nanodems-tunnel" };

/** The file name of an executable in the downloads directory, e.g. `connector-agent-linux-x86_64`. */
export function downloadName(kind: DownloadKind, p: Platform): string {
  return `${BASE[kind]}-${p.os}-${p.arch}${p.os === "windows" ? ".exe" : ""}`;
}

/** Parses a downloads-directory file name back into kind and platform; null for anything else. */
export function parseDownloadName(name: string): (Platform & { kind: DownloadKind }) | null {
  for (const kind of DOWNLOAD_KINDS) {
    for (const os of DOWNLOAD_OSES) {
      for (const arch of DOWNLOAD_ARCHES) {
        if (downloadName(kind, { os, arch }) === name) return { kind, os, arch };
      }
    }
  }
  return null;
}

/** Every platform, in a stable order. */
export function allPlatforms(): Platform[] {
  return DOWNLOAD_OSES.flatMap((os) => DOWNLOAD_ARCHES.map((arch) => ({ os, arch })));
}
