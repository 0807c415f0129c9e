/**
 * Everything the bench measures through, started on loopback in one call: the targets process,
 * the real cloud and agent (tests/_fixtures/stack.ts), the CLI tunnel (`connector tunnel run`
 * on the device's 127.0.0.X), and OpenSSH — an sshd with its own keys and an `ssh -N -R`
 * client whose forwarded ports on the sshd side reach the same targets. Each path gets an
 * opener per target and the processes whose memory and CPU it costs.
 * @module
 */
import { Proc, Stack } from "../tests/_fixtures/stack.ts";
import { freePort, startSshd } from "../tests/_fixtures/sshd.ts";
import { type Opener, tcpStream, wsStream } from "./streams.ts";
import { ProcGroup } from "./procfs.ts";
import type { LoadTarget } from "./load.ts";

/** The targets every path reaches. */
export type TargetName = "bulk" | "echo" | "http";

/** One way to reach the targets. */
export interface BenchPath {
  name: "direct" | "ssh -R" | "CLI tunnel" | "WebSocket tunnel";
  open: Record<"bulk" | "echo", Opener>;
  /** The bulk target on this path, for a load run in a process of its own (`load.ts`). */
  load: LoadTarget;
  /** Base URL of the HTTP target on this path (TCP paths only). */
  httpUrl?: string;
  /** The processes that carry this path's bytes (none for direct). */
  procs?: ProcGroup;
}

/** The running world. */
export interface World {
  paths: BenchPath[];
  stack: Stack;
  targets: Record<TargetName, number>;
  apiToken: string;
  handles: Record<TargetName, string>;
  cloudPid: number;
  agentPid: number;
  /** The cloud's `/metrics` URL (its heap gauges), when it has a metrics listener. */
  metricsUrl: string | null;
  /** The cloud's RTSP listener port, when the cloud has one. */
  rtspPort: number | null;
  /** Extra device ports the caller asked for, by name. */
  extra: Record<string, { port: number; handle: string; sshPort: number }>;
  sshGroup: ProcGroup;
  /** The sshd's port (its one SSH connection carries every `ssh -R` forward). */
  sshdPort: number;
  /** What an `ssh` client needs to log in to that sshd: its options and user. */
  sshLogin: { args: string[]; user: string };
  stop(): Promise<void>;
}

/** Resolves once 127.0.0.1:`port` accepts a connection (throws after 20 s, naming `what`). */
export async function waitAccepting(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what} never accepted on ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Starts the targets, cloud, agent, CLI tunnel and ssh -R; `extraPorts` are more devices. */
export async function startWorld(extraPorts: Record<string, number> = {}): Promise<World> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
  };
  try {
    const targetsProc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./targets.ts", import.meta.url).pathname],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    cleanup.push(async () => {
      targetsProc.kill("SIGKILL");
      await targetsProc.status;
    });
    const reader = targetsProc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    reader.cancel().catch(() => {});
    const targets = JSON.parse(first.value ?? "{}") as Record<TargetName, number>;

    // The metrics listener: the idle section reads the cloud's heap gauges from it.
    const stack = await Stack.start({ cloudArgs: ["--metrics", "127.0.0.1:0"] });
    cleanup.push(() => stack.stop());
    const ready = JSON.parse(stack.cloud.lines.find((l) => /"cloud ready"/.test(l)) ?? "{}");
    const rtspPort = typeof ready.rtsp === "number" ? ready.rtsp : null;
    const extraNames = Object.keys(extraPorts);
    const devicePorts = [targets.bulk, targets.echo, targets.http, ...Object.values(extraPorts)];
    const q = await stack.quickstart(devicePorts, "Bench");
    // The agent runs on an executable of its own, as on a site PC, where nothing else maps its
    // pages: idle, it gives them back (agent/page_out.ts), which pages shared with the cloud's
    // and the CLI's processes here could not be.
    const own = await Deno.makeTempDir({ prefix: "nc-bench-agent-" });
    cleanup.push(() => Deno.remove(own, { recursive: true }));
    stack.agentExecutable = `${own}/deno`;
    await Deno.copyFile(Deno.execPath(), stack.agentExecutable);
    const agent = await stack.agentFor(q);
    const handles = {
      bulk: q.device.handles[targets.bulk],
      echo: q.device.handles[targets.echo],
      http: q.device.handles[targets.http],
    };

    // The CLI tunnel on the device's loopback address.
    const session = await stack.cliSession(q);
    const cli = new Proc(["tunnel", "run", "--cloud", stack.url], { NC_TOKEN: session.token });
    cleanup.push(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    for (const p of devicePorts) await cli.waitFor(new RegExp(`listening listen=${ip}:${p}\\b`));

    // OpenSSH: sshd on loopback, `ssh -N -R` forwarding sshd-side ports to the targets.
    const sshd = await startSshd();
    cleanup.push(() => sshd.stop());
    const remote = new Map(devicePorts.map((p) => [p, freePort()]));
    const forwards = [...remote].flatMap(([t, r]) => ["-R", `127.0.0.1:${r}:127.0.0.1:${t}`]);
    const ssh = new Deno.Command("ssh", {
      args: [
        ...sshd.sshArgs,
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        ...forwards,
        "-p",
        String(sshd.port),
        `${sshd.user}@127.0.0.1`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    cleanup.push(async () => {
      ssh.kill("SIGKILL");
      await ssh.status;
    });
    for (const r of remote.values()) await waitAccepting(r, "ssh -R");
    const sshGroup = new ProcGroup("sshd + ssh", [sshd.pid, ssh.pid], true, ["sshd", "ssh"]);

    const ws = (h: string) => () =>
      wsStream(`ws://127.0.0.1:${stack.ports.http}/api/tunnel/${h}`, q.apiToken);
    const paths: BenchPath[] = [
      {
        name: "direct",
        open: {
          bulk: () => tcpStream("127.0.0.1", targets.bulk),
          echo: () => tcpStream("127.0.0.1", targets.echo),
        },
        load: { tcp: { hostname: "127.0.0.1", port: targets.bulk } },
        httpUrl: `http://127.0.0.1:${targets.http}/`,
      },
      {
        name: "ssh -R",
        open: {
          bulk: () => tcpStream("127.0.0.1", remote.get(targets.bulk)!),
          echo: () => tcpStream("127.0.0.1", remote.get(targets.echo)!),
        },
        load: { tcp: { hostname: "127.0.0.1", port: remote.get(targets.bulk)! } },
        httpUrl: `http://127.0.0.1:${remote.get(targets.http)}/`,
        procs: sshGroup,
      },
      {
        name: "CLI tunnel",
        open: {
          bulk: () => tcpStream(ip, targets.bulk),
          echo: () => tcpStream(ip, targets.echo),
        },
        load: { tcp: { hostname: ip, port: targets.bulk } },
        httpUrl: `http://${ip}:${targets.http}/`,
        procs: new ProcGroup(
          "cloud + agent + CLI",
          [stack.cloud.child.pid, agent.child.pid, cli.child.pid],
          false,
          ["cloud", "agent", "CLI"],
        ),
      },
      {
        name: "WebSocket tunnel",
        open: { bulk: ws(handles.bulk), echo: ws(handles.echo) },
        load: {
          ws: {
            url: `ws://127.0.0.1:${stack.ports.http}/api/tunnel/${handles.bulk}`,
            token: q.apiToken,
          },
        },
        procs: new ProcGroup("cloud + agent", [stack.cloud.child.pid, agent.child.pid], false, [
          "cloud",
          "agent",
        ]),
      },
    ];
    const extra = Object.fromEntries(extraNames.map((n) => {
      const port = extraPorts[n];
      return [n, { port, handle: q.device.handles[port], sshPort: remote.get(port)! }];
    }));
    return {
      paths,
      stack,
      targets,
      apiToken: q.apiToken,
      handles,
      cloudPid: stack.cloud.child.pid,
      agentPid: agent.child.pid,
      rtspPort,
      metricsUrl: stack.ports.metrics ? `http://127.0.0.1:${stack.ports.metrics}/metrics` : null,
      extra,
      sshGroup,
      sshdPort: sshd.port,
      sshLogin: { args: sshd.sshArgs, user: sshd.user },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
