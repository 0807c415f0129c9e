/**
 * Real tools through the operator's CLI tunnel, as the guide's §7 promises: OpenSSH `ssh` runs a
 * command on a device's sshd and iperf3 measures through it, both pointed at 127.0.0.X:port as
 * if on the camera's LAN.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Proc, Stack } from "../_fixtures/stack.ts";
import { freePort, startSshd } from "../_fixtures/sshd.ts";

Deno.test("ssh and iperf3 through the CLI tunnel", async () => {
  const stack = await Stack.start();
  const sshd = await startSshd();
  stack.defer(sshd.stop);
  const iperfPort = freePort();
  const iperf = new Deno.Command("iperf3", {
    args: ["-s", "-B", "127.0.0.1", "-p", String(iperfPort)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  stack.defer(async () => {
    iperf.kill("SIGKILL");
    await iperf.status;
  });
  try {
    const q = await stack.quickstart([sshd.port, iperfPort]);
    await stack.agentFor(q);
    const session = await stack.cliSession(q);
    const cli = new Proc(["tunnel", "run", "--cloud", stack.url], { NC_TOKEN: session.token });
    stack.defer(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip}:${sshd.port}`));
    await cli.waitFor(new RegExp(`listening listen=${ip}:${iperfPort}`));

    const ssh = await new Deno.Command("ssh", {
      args: [
        ...sshd.sshArgs,
        "-p",
        String(sshd.port),
        `${sshd.user}@${ip}`,
        "echo through-the-tunnel; head -c 4000000 /dev/zero | wc -c",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(ssh.stdout);
    assertEquals(ssh.code, 0, new TextDecoder().decode(ssh.stderr));
    assertEquals(out.trim().split("\n"), ["through-the-tunnel", "4000000"]);

    // iperf3 waits for its server; retry while the server is starting.
    let report: { end?: { sum_received?: { bytes?: number } }; error?: string } = {};
    for (let i = 0; i < 20 && !report.end?.sum_received?.bytes; i++) {
      const r = await new Deno.Command("iperf3", {
        args: ["-c", ip, "-p", String(iperfPort), "-t", "1", "-J"],
        stdout: "piped",
        stderr: "null",
      }).output();
      try {
        report = JSON.parse(new TextDecoder().decode(r.stdout));
      } catch {
        report = {};
      }
      if (!report.end?.sum_received?.bytes) await new Promise((r) => setTimeout(r, 200));
    }
    assert((report.end?.sum_received?.bytes ?? 0) > 1 << 20, JSON.stringify(report).slice(0, 500));
  } finally {
    await stack.stop();
  }
});
