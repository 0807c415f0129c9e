/**
 * The CLI tunnel's bind plan as it travels from the cloud (`GET /api/cli/sessions/plan`) to the
 * CLI: shared so the two roles cannot disagree on its shape.
 * @module
 */

/** One (loopback IP, port) pair the CLI listens on, and what it stands for. */
export interface PlanEntry {
  ip: string;
  port: number;
  siteId: string;
  site: string;
  deviceId: string;
  device: string;
}

/** The plan and the session's lifetime. */
export interface Plan {
  session: { expiresAt: number | null; hardCapAt: number | null; sites: string[] };
  entries: PlanEntry[];
}
