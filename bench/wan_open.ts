/**
 * Opening a tunnel when the operator is a real network away from the cloud. This machine's
 * kernel has no `netem` (nor `prio`) qdisc, so the link is a proxy in front of the cloud's HTTP
 * port that delays what it carries (`tests/_fixtures/delay_link.ts`).
 * Through it: the CLI (`connector tunnel open`, which keeps a connection dialed ahead,
 * `src/tunnel/spare.ts`) and the raw WebSocket tunnel opened by the bench (a fresh connection
 * each time), each timed from connect to the echo of one byte.
 * @module
 */
import { Proc } from "../tests/_fixtures/stack.ts";
import type { World } from "./world.ts";
import { tcpStream, wsStream } from "./streams.ts";
import { firstByte } from "./workloads.ts";
import { delayProxy } from "../tests/_fixtures/delay_link.ts";

/** Open + first byte p50/p99 over a link of `rttMs`, `n` opens per path. */
export async function measureWanOpen(
  w: World,
  rttMs: number,
  n: number,
): Promise<{ path: string; p50: number; p99: number }[]> {
  const proxy = delayProxy(w.stack.ports.http, rttMs / 2);
  const cloud = `http://127.0.0.1:${proxy.port}`;
  const cli = new Proc(
    ["tunnel", "open", w.handles.echo, "--cloud", cloud, "--listen", "127.0.0.1:0"],
    { NC_TOKEN: w.apiToken },
  );
  try {
    const line = await cli.waitFor(/^\{"listen":/);
    const port = Number(JSON.parse(line).listen.split(":").at(-1));
    const viaCli = await firstByte(() => tcpStream("127.0.0.1", port), n);
    const viaWs = await firstByte(
      () => wsStream(`${cloud}/api/tunnel/${w.handles.echo}`, w.apiToken),
      n,
    );
    return [
      { path: "CLI tunnel (a connection dialed ahead)", ...viaCli },
      { path: "WebSocket tunnel (a fresh connection each open)", ...viaWs },
    ];
  } finally {
    await cli.stop("SIGKILL");
    proxy.close();
  }
}
