/**
 * Two connections joined, as a front or a proxy in a test joins its client to its upstream:
 * bytes both ways, each direction's end passed on as a half-close, settled when both are done.
 * @module
 */

/** Copies `from` into `to`, then half-closes `to`. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  try {
    await from.readable.pipeTo(to.writable, { preventClose: true });
  } catch { /* either end went away */ }
  try {
    await (to as Deno.TcpConn).closeWrite();
  } catch { /* closed */ }
}

/** Joins `a` and `b` until both directions have ended. */
export async function joinConns(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  await Promise.all([pipe(a, b), pipe(b, a)]);
}

/** Closes each connection of `conns` that is still open, and forgets them. */
export function closeConns(conns: Set<Deno.Conn>): void {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
  conns.clear();
}
