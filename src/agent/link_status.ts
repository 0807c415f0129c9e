/**
 * The agent's link to the cloud as a small file in its state directory (`link.json`): up or
 * down, through which cloud node, since when, and why it is down; and whether its data channel
 * (the connections tunnels ride on, to the cloud's data port) could be opened — a site firewall
 * that lets the control port out but not the data port leaves an agent online that no tunnel
 * can reach. The service itself is the only
 * writer; `connector agent status` and the installer read it, so a technician sees "online"
 * without the optional health endpoint and without reading logs.
 * @module
 */
import { join } from "node:path";
import { writeSecretFile } from "../shared/crypto/files.ts";

/** The file's name. */
export const LINK_FILE = "link.json";

/** What the file says. */
export interface LinkStatus {
  up: boolean;
  /** The cloud node holding the control stream (when up). */
  node: string | null;
  /** Epoch ms of the last change. */
  since: number;
  /** Why the link is down ("" when up). */
  reason: string;
  /** The process that wrote it. */
  pid: number;
  /** The data channel's last outcome (absent until the first data dial ended either way). */
  data?: DataChannelStatus;
}

/** Whether the agent's last data connection could be opened. */
export interface DataChannelStatus {
  ok: boolean;
  /** Epoch ms of the last change. */
  since: number;
  /** What the last failed dial met, with the address dialed ("" when ok). */
  reason: string;
}

/** Writes the status (atomically; failures are the caller's to log). */
export async function writeLinkStatus(dir: string, s: LinkStatus): Promise<void> {
  await writeSecretFile(join(dir, LINK_FILE), JSON.stringify(s) + "\n");
}

/** Reads the status, or null when there is none or it is unreadable. */
export async function readLinkStatus(dir: string): Promise<LinkStatus | null> {
  try {
    const s = JSON.parse(await Deno.readTextFile(join(dir, LINK_FILE))) as LinkStatus;
    return typeof s.up === "boolean" && typeof s.pid === "number" ? s : null;
  } catch {
    return null;
  }
}

/** Whether a process id is alive on this machine (Linux/macOS; unknown elsewhere: true). */
export function processAlive(pid: number): boolean {
  if (Deno.build.os === "windows") return true;
  // 0 and negative ids name process groups: never signal those.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    // EPERM: it exists but is not ours.
    return e instanceof Deno.errors.PermissionDenied;
  }
}

/** The data channel's line for `status`: "ok since …", "blocked since …: why", or unknown. */
export function describeData(s: LinkStatus | null, alive: boolean): string {
  const d = s?.data;
  if (!d || !alive) return "unknown (no data connection tried yet)";
  const since = new Date(d.since).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  return d.ok
    ? `ok since ${since}`
    : `blocked since ${since}: ${d.reason} — no tunnel can reach this site until this machine ` +
      "may open outbound TCP connections to the cloud's data port";
}

/** One line for `status`: "up via node-1 since …", "down: …", or why it is unknown. */
export function describeLink(s: LinkStatus | null, alive: boolean): string {
  if (!s) return "unknown (the agent has not run since it was installed)";
  if (!alive) return `unknown (the agent is not running; last: ${s.up ? "up" : "down"})`;
  const since = new Date(s.since).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  return s.up
    ? `up via ${s.node ?? "the cloud"} since ${since}`
    : `down since ${since}: ${s.reason || "connecting"}`;
}
