/**
 * One accept loop for every listener of the product. A listener's `accept` fails for two kinds
 * of reason: the listener was closed (the loop ends), or the moment is bad — the process or the
 * system is out of file descriptors (EMFILE, ENFILE), a connection was reset before it was taken.
 * A loop that ended on the second kind left a listener that looked alive and never accepted
 * again; one that retried at once spun a core while descriptors were short. This one reports
 * each failure it outlives and accepts again: after a pause when descriptors ran out (they come
 * back as connections end), after a turn of the event loop otherwise (a pause there would let a
 * peer that resets connections on purpose slow everyone's accepts down).
 * @module
 */
import { isOutOfDescriptors } from "../open_files.ts";

/** How long to wait after running out of descriptors before accepting again. */
export const ACCEPT_PAUSE_MS = 50;

/**
 * Accepts on `listener` until it is closed, handing each connection to `onConn` (which must not
 * throw: a connection's own work runs on its own). Resolves when the listener is closed.
 */
export async function acceptLoop<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  onConn: (conn: C) => void,
  onTrouble: (err: Error) => void = () => {},
): Promise<void> {
  for (;;) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
      onTrouble(e as Error);
      await new Promise((r) => setTimeout(r, isOutOfDescriptors(e) ? ACCEPT_PAUSE_MS : 0));
      continue;
    }
    onConn(conn);
  }
}
