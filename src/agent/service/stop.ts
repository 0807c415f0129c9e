/**
 * The one place `connector agent run` learns that it must stop: SIGINT or SIGTERM (SIGINT and
 * SIGBREAK on Windows, where SIGTERM cannot be listened to), or the Windows Service Control
 * Manager through `requestStop()`. `untilStopRequested()` is also the moment the agent is up,
 * which the Windows service reports as RUNNING (`onServing`).
 * @module
 */

let resolveStop: (() => void) | null = null;
const stopRequested = new Promise<void>((r) => (resolveStop = r));
const servingHooks: (() => void)[] = [];
let listening = false;

/** Asks the running agent to stop (the Windows service's STOP/SHUTDOWN). */
export function requestStop(): void {
  resolveStop?.();
}

/** Runs `fn` once the agent is serving (waiting for a stop); at once if it already is. */
export function onServing(fn: () => void): void {
  servingHooks.push(fn);
}

/** The signals that stop the agent on this OS. */
export function stopSignals(os: string = Deno.build.os): Deno.Signal[] {
  return os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
}

/** Resolves when the agent must stop; marks it as serving. */
export function untilStopRequested(): Promise<void> {
  if (!listening) {
    listening = true;
    for (const s of stopSignals()) Deno.addSignalListener(s, requestStop);
  }
  for (const fn of servingHooks.splice(0)) fn();
  return stopRequested;
}
