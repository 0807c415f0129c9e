/**
 * One bulk stream when the agent is a real network away from its cloud node: the data
 * connection (two mux sessions, the product's `mux_session.ts`, in this process) and `ssh -R`
 * (a second `ssh -N -R` client logging in to the world's sshd) each pass the same delaying link
 * (`tests/_fixtures/delay_link.ts`, a round trip of `rttMs`). The mux runs twice: with windows
 * that stay at INITIAL_WINDOW (a peer of protocol 2) and with windows that grow (protocol 3, see
 * "Growing windows" in `proto/mux.md`). Over such a link a stream moves at most one window per
 * round trip; the loopback bulk rows cannot show that. Each direction starts a fresh stream, so
 * the window's growth is inside the figure; the connection under it is a few seconds old, as the
 * agent's are (dialed ahead of their tunnels): with growing windows the transfers wait until both
 * ends have the round-trip samples that make the link long (about 2 s, `mux_session.ts`).
 * @module
 */
import { delayProxy } from "../tests/_fixtures/delay_link.ts";
import { freePort } from "../tests/_fixtures/sshd.ts";
import { MuxSession, type MuxStream } from "../src/shared/transport/mux_session.ts";
import { waitAccepting, type World } from "./world.ts";
import { tcpStream } from "./streams.ts";
import { bulk } from "./workloads.ts";

const CHUNK = 64 << 10;

/** Upload and download rates of one path over the link, in Gbit/s. */
export interface WanBulkResult {
  path: string;
  upGbps: number;
  downGbps: number;
}

async function send(s: MuxStream, bytes: number): Promise<void> {
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  for (let sent = 0; sent < bytes;) {
    sent += await s.write(chunk.subarray(0, Math.min(CHUNK, bytes - sent)));
  }
  await s.closeWrite();
}

async function receive(s: MuxStream, bytes: number): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  let got = 0;
  for (let n; (n = await s.read(buf)) !== null;) got += n;
  if (got !== bytes) throw new Error(`received ${got} of ${bytes} bytes`);
}

/** Gbit/s of `bytes` one way on a fresh stream: `from` writes, the other side reads. */
async function oneWay(
  cloud: MuxSession,
  accepted: () => Promise<MuxStream>,
  bytes: number,
  up: boolean,
): Promise<number> {
  const c = cloud.openStream("bench", 1);
  await c.opened;
  const a = await accepted();
  const t0 = performance.now();
  await Promise.all(up ? [send(c, bytes), receive(a, bytes)] : [send(a, bytes), receive(c, bytes)]);
  const gbps = (bytes * 8) / ((performance.now() - t0) / 1000) / 1e9;
  c.close();
  a.close();
  return gbps;
}

/** The data connection over the link, windows growing or not. */
async function muxOverLink(rttMs: number, bytes: number, grow: boolean): Promise<WanBulkResult> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const link = delayProxy((l.addr as Deno.NetAddr).port, rttMs / 2);
  const [a, b] = await Promise.all([
    l.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: link.port }),
  ]);
  l.close();
  a.setNoDelay(true);
  b.setNoDelay(true);
  // Streams the agent side accepted, and readers waiting for the next one (either may be first).
  const ready: MuxStream[] = [];
  const waiting: ((s: MuxStream) => void)[] = [];
  const cloud = new MuxSession(a, { role: "cloud", growWindows: grow });
  const agent = new MuxSession(b, {
    role: "agent",
    growWindows: grow,
    onOpen: (s) => {
      s.accept();
      const w = waiting.shift();
      if (w) w(s);
      else ready.push(s);
    },
  });
  const accepted = () => {
    const s = ready.shift();
    return s ? Promise.resolve(s) : new Promise<MuxStream>((r) => waiting.push(r));
  };
  try {
    for (const end = performance.now() + 10_000; grow && performance.now() < end;) {
      if (cloud.rttConfirmed && agent.rttConfirmed) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const upGbps = await oneWay(cloud, accepted, bytes, true);
    const downGbps = await oneWay(cloud, accepted, bytes, false);
    return {
      path: grow ? "data connection, windows grow" : "data connection, 256 KiB windows",
      upGbps,
      downGbps,
    };
  } finally {
    cloud.close();
    agent.close();
    link.close();
  }
}

/** `ssh -R` whose SSH connection passes the link, forwarding a port to the bulk target. */
async function sshOverLink(w: World, rttMs: number, bytes: number): Promise<WanBulkResult> {
  const link = delayProxy(w.sshdPort, rttMs / 2);
  const remote = freePort();
  const ssh = new Deno.Command("ssh", {
    args: [
      ...w.sshLogin.args,
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      "-R",
      `127.0.0.1:${remote}:127.0.0.1:${w.targets.bulk}`,
      "-p",
      String(link.port),
      `${w.sshLogin.user}@127.0.0.1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitAccepting(remote, "ssh -R over the link");
    const r = await bulk(() => tcpStream("127.0.0.1", remote), bytes);
    return { path: "ssh -R", upGbps: r.upGbps, downGbps: r.downGbps };
  } finally {
    ssh.kill("SIGKILL");
    await ssh.status;
    link.close();
  }
}

/** One stream each way over a link of `rttMs`: `ssh -R`, then the data connection twice. */
export async function measureWanBulk(
  w: World,
  rttMs: number,
  bytes: number,
): Promise<WanBulkResult[]> {
  return [
    await sshOverLink(w, rttMs, bytes),
    await muxOverLink(rttMs, bytes, false),
    await muxOverLink(rttMs, bytes, true),
  ];
}
