/**
 * The last line of defence of every long-running role: an error or promise rejection that no code
 * handled is logged and counted, and the process keeps serving. No request, frame or message from
 * the network may end a node (or an agent holding a site's link, or an operator's CLI) — a bug in
 * one connection's handler must cost that connection, not every tenant's tunnels.
 *
 * Each listener still catches what its own per-connection handler throws and answers the client;
 * this module only exists so that a handler someone forgot to guard cannot take the node down.
 * The count is exported as `connector_unhandled_errors_total`, and a test that sees it rise has
 * found a bug.
 * @module
 */
import type { Logger } from "./log.ts";

let installed = false;
let count = 0;
let current: Logger | null = null;

/** How many unhandled errors and rejections this process survived. */
export function unhandledErrors(): number {
  return count;
}

function describe(reason: unknown): { err: string; stack?: string } {
  if (reason instanceof Error) return { err: reason.message, stack: reason.stack };
  return { err: String(reason) };
}

/**
 * Installs the process-wide handlers (once; a later call only changes the logger they use).
 * Unhandled rejections and uncaught errors are logged at ERROR with their stack — a real fault
 * for the operators of this node, never shown to a client — and counted; the process goes on.
 */
export function installLastResort(log: Logger): void {
  current = log;
  if (installed) return;
  installed = true;
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    count++;
    current?.error(describe(e.reason), "unhandled promise rejection (survived)");
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    count++;
    current?.error(describe(e.error ?? e.message), "uncaught error (survived)");
  });
}
