/**
 * The agent's state directory: its private key (never leaves the machine), its certificate, the
 * pinned agent CA and what enrollment returned, all written 0600. Default locations follow each
 * platform's convention; `--state` / `NC_STATE_DIR` overrides.
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { writeSecretFile } from "../shared/crypto/files.ts";
import { CURRENT_FILES, loadPair, removeNextPair } from "./cert_files.ts";

/** What enrollment left behind, besides the PEM files. */
export const agentIdentitySchema = z.object({
  agentId: z.string().min(1),
  siteId: z.string().min(1),
  cloudUrl: z.string().url(),
  controlEndpoint: z.string().min(3),
  caPin: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  enrolledAt: z.string(),
});

/** The agent's identity file contents. */
export type AgentIdentity = z.infer<typeof agentIdentitySchema>;

/** Everything the agent needs to run. */
export interface AgentState extends AgentIdentity {
  keyPem: string;
  certPem: string;
  caPem: string;
  /** "next" when the key and certificate are a renewed pair that has not connected yet. */
  pairSource?: "current" | "next";
}

/** The default state directory for this platform and user. */
export function defaultStateDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (Deno.build.os === "windows") {
    return join(env.ProgramData ?? "C:\\ProgramData", "Nanodems", "Agent");
  }
  if (Deno.uid?.() === 0) return "/var/lib/nanodems-agent";
  const base = env.XDG_STATE_HOME ?? join(env.HOME ?? ".", ".local", "state");
  return join(base, "nanodems-agent");
}

const FILES = { ...CURRENT_FILES, ca: "ca.pem", identity: "agent.json" };

/**
 * `agent.json` read back; a damaged file (edited by hand, a disk that failed) is one line that
 * names the file and the way out, not a JSON parser's position or a list of schema issues.
 */
function parseIdentity(raw: string, path: string): AgentIdentity {
  let why: string;
  try {
    const r = agentIdentitySchema.safeParse(JSON.parse(raw));
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    why = `${issue.path.join(".") || "the file"}: ${issue.message}`;
  } catch {
    why = "not valid JSON";
  }
  throw new Error(
    `the agent's identity file ${path} is damaged (${why}); restore the state directory from ` +
      "a backup, or enroll again with --force and a fresh token",
  );
}

/** Writes the enrolled state (key first, identity last: a crash leaves no half identity). */
export async function saveState(dir: string, s: AgentState): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await removeNextPair(dir);
  await writeSecretFile(join(dir, FILES.key), s.keyPem);
  await writeSecretFile(join(dir, FILES.cert), s.certPem);
  await writeSecretFile(join(dir, FILES.ca), s.caPem);
  const identity: AgentIdentity = {
    agentId: s.agentId,
    siteId: s.siteId,
    cloudUrl: s.cloudUrl,
    controlEndpoint: s.controlEndpoint,
    caPin: s.caPin,
    enrolledAt: s.enrolledAt,
  };
  await writeSecretFile(join(dir, FILES.identity), JSON.stringify(identity, null, 2) + "\n");
}

/**
 * Loads the state, or null when the directory holds no enrolled agent. The key and certificate
 * are the matching pair issued last (a renewed pair before it has connected: see
 * cert_files.ts); with `proven`, the pair that has connected before when it is whole.
 */
export async function loadState(
  dir: string,
  opts: { proven?: boolean } = {},
): Promise<AgentState | null> {
  let raw: string;
  try {
    raw = await Deno.readTextFile(join(dir, FILES.identity));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const identity = parseIdentity(raw, join(dir, FILES.identity));
  const pair = await loadPair(dir, opts);
  if (!pair) throw new Error(`no private key in ${dir} matches a certificate there; re-enroll`);
  return {
    ...identity,
    keyPem: pair.keyPem,
    certPem: pair.certPem,
    pairSource: pair.source,
    caPem: await Deno.readTextFile(join(dir, FILES.ca)),
  };
}
