/**
 * Interactive round trips under bulk when the agent's link is slow, the case where a shared
 * connection's queue is what a keystroke waits behind (on loopback the CPU is the limit, not the
 * queue). The whole world — targets, cloud, agent, CLI, sshd and ssh — runs in a private network
 * namespace (`unshare -n`, its own loopback, MTU 1500), where the data port's traffic, and the
 * sshd port's for `ssh -R`, is shaped with `tc` (HTB, each direction its own class at `rate`):
 * the one connection that crosses the WAN in a real deployment. Nothing outside the namespace
 * is touched. Needs root (or user namespaces with CAP_NET_ADMIN) and `tc` with HTB and u32;
 * otherwise the section reports why it did not run.
 *
 * `measureSlowLink` runs this file inside the namespace and reads its one JSON line.
 * @module
 */
import { startWorld } from "./world.ts";
import { interactiveUnderBulk } from "./workloads.ts";

/** One path's figures over the slow link. */
export interface SlowLinkResult {
  path: string;
  quiet: { p50: number; p99: number };
  loaded: { p50: number; p99: number };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const o = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!o.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(o.stderr).trim()}`);
  }
}

/** `tc` on this namespace's loopback. */
const tc = (...args: string[]) => run("tc", [args[0], "add", "dev", "lo", ...args.slice(1)]);

/** Shapes both directions of `ports` on this namespace's loopback to `rate` each. */
async function shape(ports: number[], rate: string): Promise<void> {
  await tc("qdisc", "root", "handle", "1:", "htb", "default", "1");
  await tc("class", "parent", "1:", "classid", "1:1", "htb", "rate", "20gbit");
  let cls = 10;
  for (const port of ports) {
    for (const dir of ["sport", "dport"]) {
      const id = `1:${cls++}`;
      await tc("class", "parent", "1:", "classid", id, "htb", "rate", rate);
      const match = ["u32", "match", "ip", dir, String(port), "0xffff", "flowid", id];
      await tc("filter", "parent", "1:", "protocol", "ip", "prio", "1", ...match);
    }
  }
}

/** Bytes the shaped classes have sent so far. */
async function shapedBytes(): Promise<number> {
  const o = await new Deno.Command("tc", { args: ["-s", "class", "show", "dev", "lo"] }).output();
  let sum = 0;
  for (const m of new TextDecoder().decode(o.stdout).matchAll(/Sent (\d+) bytes/g)) {
    sum += Number(m[1]);
  }
  return sum;
}

/** Waits until the shaped link stays idle (under 8 KB a second) for a second, at most 60 s. */
async function drained(): Promise<void> {
  const end = Date.now() + 60_000;
  let last = await shapedBytes();
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1_000));
    const now = await shapedBytes();
    if (now - last < 8_000) return;
    last = now;
  }
}

/**
 * Runs the measurement in a private network namespace: `n` round trips of 64 bytes per path
 * with `bulkStreams` uploads and as many downloads on the same shaped connection. Returns the
 * figures, or why it could not run.
 */
export async function measureSlowLink(
  rate: string,
  bulkStreams: number,
  n: number,
): Promise<SlowLinkResult[] | { unavailable: string }> {
  const self = new URL(import.meta.url).pathname;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("unshare", {
      args: ["-n", Deno.execPath(), "run", "-A", self, rate, String(bulkStreams), String(n)],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    return { unavailable: `unshare: ${(e as Error).message}` };
  }
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success || !line.startsWith("{")) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    return { unavailable: err || `exit ${out.code}` };
  }
  const r = JSON.parse(line) as { results?: SlowLinkResult[]; unavailable?: string };
  return r.results ?? { unavailable: r.unavailable ?? "no result" };
}

if (import.meta.main) {
  const [rate = "50mbit", k = "3", n = "150"] = Deno.args;
  try {
    // Before anything connects: a connection's segment size is fixed at its handshake.
    await run("ip", ["link", "set", "lo", "up"]);
    await run("ip", ["link", "set", "lo", "mtu", "1500"]);
    const world = await startWorld();
    try {
      await shape([world.stack.ports.data, world.sshdPort], rate);
      const results: SlowLinkResult[] = [];
      for (const p of world.paths.filter((p) => p.name !== "direct")) {
        // A closed bulk stream still delivers what its sockets held (megabytes on loopback, for
        // seconds at this rate); the quiet figure waits until the link is idle.
        await drained();
        const r = await interactiveUnderBulk(p.load, p.open.echo, Number(n), Number(k));
        results.push({ path: p.name, ...r });
      }
      console.log(JSON.stringify({ results }));
    } finally {
      await world.stop();
    }
  } catch (e) {
    console.log(JSON.stringify({ unavailable: (e as Error).message }));
  }
}
