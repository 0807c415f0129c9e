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
  /** The port's protocol (http, https, rtsp, ssh, tcp); absent from older clouds. */
  protocol?: string;
  /** The camera's stream path for an RTSP port, when the cloud knows it. */
  path?: string;
  /** The camera's sub-stream path (a lighter second stream), when known and not `path`. */
  subPath?: string;
}

/** The plan and the session's lifetime. */
export interface Plan {
  session: { expiresAt: number | null; hardCapAt: number | null; sites: string[] };
  entries: PlanEntry[];
}
