/**
 * Ports for a test process that restarts on the same addresses (a cloud node, FerretDB). The
 * kernel hands out port-0 listeners and the local end of every outgoing connection from its
 * ephemeral range (`net.ipv4.ip_local_port_range`); a port from that range, freed while a server
 * restarts, can be taken in that second by any test running in parallel, and the restart fails
 * with "Address already in use". Ports below the range are never handed out that way: only
 * another caller of this module could take one, a chance of one in several thousand per port,
 * which the callers' retries cover.
 * @module
 */

/** The first port of the kernel's ephemeral range (32768 where /proc does not say). */
function ephemeralStart(): number {
  try {
    const text = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const low = Number(text.trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** The lowest port handed out here: above the well-known and common service ports. */
const FLOOR = 20_000;

/**
 * `n` distinct TCP ports on 127.0.0.1 below the ephemeral range, each bound and released (free
 * now). Where the range starts too low to leave room, ports from the kernel (port 0) instead.
 */
export function restartablePorts(n: number): number[] {
  const top = ephemeralStart();
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    const port = top - FLOOR > 1000 && tries < 1000
      ? FLOOR + Math.floor(Math.random() * (top - FLOOR))
      : 0;
    if (port && ports.includes(port)) continue;
    try {
      const l = Deno.listen({ hostname: "127.0.0.1", port });
      ports.push((l.addr as Deno.NetAddr).port);
      l.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
  return ports;
}
