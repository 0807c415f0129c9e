/**
 * The CLI's bind plan, fetched from `GET /api/cli/sessions/plan` with the CLI session token:
 * which (127.0.0.X, port) pairs to listen on and which site and device each stands for.
 * @module
 */
import type { Plan, PlanEntry } from "../shared/protocol/plan.ts";
import { notTheCloud, reachFailure } from "../shared/reach_error.ts";
import { CA_FLAG, cloudFetch } from "./trust.ts";

export type { Plan, PlanEntry };

/** The cloud refused (401: the session is revoked or expired) or could not be reached. */
export class PlanError extends Error {
  /** HTTP status, or 0 when the cloud could not be reached. */
  readonly status: number;
  /** Creates the error. */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Fetches the plan. */
export async function fetchPlan(cloud: URL, token: string): Promise<Plan> {
  let res: Response;
  try {
    res = await cloudFetch(new URL("/api/cli/sessions/plan", cloud), {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    throw new PlanError(
      0,
      `cannot reach the cloud at ${cloud.origin}: ${
        reachFailure(e, Date.now(), { caFlag: CA_FLAG })
      }`,
    );
  }
  const text = await res.text().catch(() => "");
  let body: (Plan & { message?: unknown }) | undefined;
  try {
    body = JSON.parse(text);
  } catch { /* not the cloud's answer */ }
  const server = res.headers.get("server");
  if (!res.ok) {
    throw new PlanError(
      res.status,
      typeof body?.message === "string" ? body.message : notTheCloud(res.status, server, text),
    );
  }
  // A 200 that is no plan (a network's sign-in page, a web server at a wrong --cloud URL).
  if (!Array.isArray(body?.entries) || typeof body?.session !== "object" || !body.session) {
    throw new PlanError(0, notTheCloud(res.status, server, text));
  }
  return body;
}

/**
 * What to paste to use a pair, by its port's protocol: the URL for a browser or a player (a
 * camera's stream path when the cloud knows it, and its sub-stream's URL beside it), the ssh
 * command; "" for plain TCP.
 */
export function useOf(e: PlanEntry): string {
  const at = (scheme: string, usual: number) =>
    `${scheme}://${e.ip}${e.port === usual ? "" : `:${e.port}`}`;
  switch (e.protocol) {
    case "http":
      return `${at("http", 80)}/`;
    case "https":
      return `${at("https", 443)}/`;
    case "rtsp":
      return `${at("rtsp", 554)}${e.path ?? "/<stream path>"}` +
        (e.subPath ? `  (sub-stream ${at("rtsp", 554)}${e.subPath})` : "");
    case "ssh":
      return `ssh ${e.port === 22 ? "" : `-p ${e.port} `}<user>@${e.ip}`;
    default:
      return "";
  }
}

/**
 * Text from the cloud (names an admin typed) as it may reach the operator's terminal: control
 * characters, escape sequences among them, shown as `?` rather than obeyed.
 */
export function printable(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/** Renders the plan as the table the CLI prints at start. */
export function planTable(entries: PlanEntry[]): string {
  if (!entries.length) return "  (no devices in this session's sites yet)";
  const rows = entries.map((e) => [
    `${e.ip}:${e.port}`,
    printable(`${e.site} / ${e.device}`),
    printable(useOf(e)),
  ]);
  // Not Math.max(...rows): a spread of 100 000 arguments overflows the stack.
  const w = rows.reduce((m, r) => Math.max(m, r[0].length), 0);
  const w2 = rows.reduce((m, r) => Math.max(m, r[1].length), 0);
  return rows.map(([a, b, c]) => `  ${a.padEnd(w)}  →  ${c ? `${b.padEnd(w2)}  ${c}` : b}`)
    .join("\n");
}
