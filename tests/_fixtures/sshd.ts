/**
 * A real OpenSSH server for tests and benchmarks, started on a free loopback port with its own
 * configuration, host key and one client key (nothing of the machine's own sshd is touched).
 * @module
 */

/** A running sshd and how to reach it. */
export interface Sshd {
  port: number;
  /** The listening sshd's process id (it forks one process per connection). */
  pid: number;
  user: string;
  /** Client private key (for `ssh -i`). */
  identity: string;
  /** ssh client options that trust this server without a known_hosts file. */
  sshArgs: string[];
  stop(): Promise<void>;
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Starts sshd on 127.0.0.1 (listening on all of 127.0.0.0/8 is not needed), with a fresh host
 * key each time — on `port` when given (a "reinstalled" device on the same address).
 */
export async function startSshd(
  opts: { extraConfig?: string[]; port?: number } = {},
): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "nc-sshd-" });
  await Deno.chmod(dir, 0o700);
  await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`]);
  await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/client_key`]);
  await Deno.copyFile(`${dir}/client_key.pub`, `${dir}/authorized_keys`);
  await Deno.chmod(`${dir}/authorized_keys`, 0o600);
  const user = Deno.env.get("USER") ?? (Deno.uid() === 0 ? "root" : "nobody");
  const port = opts.port ?? freePort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${dir}/host_key`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    `PidFile ${dir}/sshd.pid`,
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "StrictModes no",
    "UsePAM no",
    "AllowTcpForwarding yes",
    "GatewayPorts no",
    "LogLevel ERROR",
    ...(opts.extraConfig ?? []),
  ];
  await Deno.writeTextFile(`${dir}/sshd_config`, config.join("\n") + "\n");
  // sshd requires its privilege-separation directory when run as root.
  if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const child = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-e", "-f", `${dir}/sshd_config`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Ready when the port accepts.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        const err = new TextDecoder().decode((await child.output()).stderr);
        throw new Error(`sshd did not start: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    pid: child.pid,
    user,
    identity: `${dir}/client_key`,
    sshArgs: [
      "-i",
      `${dir}/client_key`,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
    ],
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
