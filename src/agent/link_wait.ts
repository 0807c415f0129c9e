/**
 * Waiting for a freshly started agent to come online and open its data channel, as the site
 * installers do before they say "done": a technician should leave the site knowing that tunnels
 * reach it, or why not (a firewall that lets the control port out but not the data port). The
 * executable does the waiting (`connector agent status --wait SECONDS`) so the Windows `.cmd`
 * installer, which cannot parse `link.json`, says the same as the `.sh` one, from the same code.
 *
 * Freshness: the installers delete `link.json` before they start the agent, and a file whose
 * writer is gone (on Linux and macOS, `processAlive`) is not taken for the new agent's.
 * @module
 */
import { type LinkStatus, processAlive, readLinkStatus } from "./link_status.ts";

/** How long the data channel may take once the agent is online (its first dial ends by then). */
export const DATA_WAIT_MS = 20_000;
/** How often the file is read. */
export const POLL_MS = 250;

/** How the wait ended. */
export type LinkWaitOutcome =
  | { kind: "ready"; node: string | null }
  | { kind: "data_blocked"; node: string | null; reason: string }
  | { kind: "data_pending"; node: string | null }
  | { kind: "offline"; last: LinkStatus | null };

/** What `waitForLink` needs besides the state directory. */
export interface LinkWaitOptions {
  /** The longest wait for the control stream, in ms. */
  onlineMs: number;
  /** The longest wait for the data channel after that (default `DATA_WAIT_MS`). */
  dataMs?: number;
  /** Poll interval (default `POLL_MS`). */
  pollMs?: number;
  /** Whether the file's writer is alive (default `processAlive`). */
  alive?: (pid: number) => boolean;
}

/** Waits for the agent of `dir` to be online and for its data channel's first outcome. */
export async function waitForLink(dir: string, o: LinkWaitOptions): Promise<LinkWaitOutcome> {
  const alive = o.alive ?? processAlive;
  const poll = o.pollMs ?? POLL_MS;
  const read = async () => {
    const s = await readLinkStatus(dir);
    return s && alive(s.pid) ? s : null;
  };
  let last: LinkStatus | null = null;
  let online: LinkStatus | null = null;
  const onlineBy = Date.now() + o.onlineMs;
  for (;;) {
    const s = await read();
    if (s) last = s;
    if (s?.up) {
      online = s;
      break;
    }
    if (Date.now() >= onlineBy) return { kind: "offline", last };
    await sleep(poll);
  }
  const node = online.node;
  const dataBy = Date.now() + (o.dataMs ?? DATA_WAIT_MS);
  for (let s: LinkStatus | null = online;;) {
    const d = s?.data;
    if (d) {
      return d.ok ? { kind: "ready", node } : { kind: "data_blocked", node, reason: d.reason };
    }
    if (Date.now() >= dataBy) return { kind: "data_pending", node };
    await sleep(poll);
    s = await read();
  }
}

/** The lines an installer (or a technician) reads for an outcome. */
export function describeWait(
  w: LinkWaitOutcome,
  hint: { statusCommand: string; cloudUrl: string },
): string[] {
  const via = (node: string | null) =>
    `the agent is online (control stream up via cloud node ${node ?? "unknown"})`;
  switch (w.kind) {
    case "ready":
      return [via(w.node), "tunnels ready: the data channel to the cloud is open"];
    case "data_blocked":
      return [
        via(w.node),
        `WARNING: the agent cannot open its data channel to the cloud: ${
          w.reason || "dial failed"
        }`,
        "  no tunnel can reach this site until this machine may open outbound TCP connections to " +
        "the cloud's data port",
      ];
    case "data_pending":
      return [
        via(w.node),
        `the data channel to the cloud has not opened yet; see: ${hint.statusCommand}`,
      ];
    case "offline": {
      const why = w.last && !w.last.up && w.last.reason ? ` (last: ${w.last.reason})` : "";
      return [
        `the agent has not reached the cloud yet${why}; check the logs and that this machine ` +
        `reaches ${hint.cloudUrl}`,
      ];
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
