/**
 * Whether a host names this machine's loopback: `localhost`, 127.0.0.0/8 or `::1` (bracketed or
 * not, any case). One reading for the places that treat loopback apart: plain http allowed to it
 * (agent enrollment, the CLI's listeners), and the cloud's start-up checks of its public URL.
 * @module
 */

/** True for `localhost`, 127.0.0.0/8 and `::1`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
