// An operator on a company network whose only way out is an HTTP proxy (CONNECT) that wants
// credentials: the real cloud behind a TLS front, the real CLI with HTTPS_PROXY set. `fetch`
// followed HTTPS_PROXY and the tunnels did not, so `status` worked and every tunnel failed; now
// the tunnels go through the same proxy (the proxy's record shows them), the credentials in the
// proxy URL are never logged, NO_PROXY is honoured, and a proxy that refuses is named. An
// operator whose way out is an SSH jump host (`ssh -D`, SOCKS5 in ALL_PROXY) is carried the same.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { echoVia, Proc, run, tunnelOpen } from "../_fixtures/stack.ts";
import { startFrontedStack } from "../_fixtures/tls_front.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";
import { freePort, startSshd } from "../_fixtures/sshd.ts";
import { until } from "../_fixtures/until.ts";

Deno.test("behind an HTTP proxy with credentials: the CLI's tunnels go through it", async () => {
  const { stack, echo, front, caFile } = await startFrontedStack();
  const proxy = startConnectProxy({ user: "ops", password: "Proxy-Secret-1" });
  stack.defer(proxy.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const session = await stack.cliSession(q);
    const env = { NC_TOKEN: session.token, NC_CA_FILE: caFile, HTTPS_PROXY: proxy.url };

    const cli = new Proc(["tunnel", "run", "--cloud", front.url], env);
    stack.defer(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip}:${echo.port}`));
    const through = proxy.carried.length;
    assert(await echoVia(ip, echo.port, 1 << 20), "1 MiB both ways through the proxy");
    assert(proxy.carried.length > through, "the tunnel went through the proxy");
    assert(proxy.carried.every((t) => t === `127.0.0.1:${front.port}`), proxy.carried.join());
    const said = cli.lines.find((l) => l.includes("reaching the cloud through a proxy"));
    assert(said, cli.lines.join("\n"));
    assertStringIncludes(said, `http://127.0.0.1:${proxy.port}`);
    assertEquals(
      cli.lines.some((l) => l.includes("Proxy-Secret-1")),
      false,
      "no credentials logged",
    );

    // NO_PROXY: straight to the cloud, the proxy (here a dead one) never asked.
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (dead.addr as Deno.NetAddr).port;
    dead.close();
    const { port } = await tunnelOpen(stack, q.device.handles[echo.port], front.url, {
      NC_TOKEN: q.apiToken,
      NC_CA_FILE: caFile,
      HTTPS_PROXY: `http://127.0.0.1:${deadPort}`,
      NO_PROXY: "localhost,127.0.0.0/8",
    });
    assert(await echoVia("127.0.0.1", port, 64 << 10), "NO_PROXY: direct");

    // The proxy without the credentials: the CLI says the proxy refused, not "fetch failed".
    const refused = await run(["tunnel", "status", "--cloud", front.url], {
      ...env,
      HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
    });
    assertEquals(refused.code, 1, refused.stderr);
    assertStringIncludes(
      refused.stderr,
      "the proxy (HTTPS_PROXY or HTTP_PROXY) asks for credentials",
    );
    assertEquals(refused.stderr.includes("fetch failed"), false, refused.stderr);
  } finally {
    await stack.stop();
  }
});

Deno.test("through an SSH jump host's SOCKS5 (ssh -D): status, run's tunnels and open go through it", async () => {
  const { stack, echo, front, caFile } = await startFrontedStack();
  const sshd = await startSshd();
  stack.defer(sshd.stop);
  // The operator's way out: `ssh -N -D` to a jump host (here a real OpenSSH on loopback).
  const socks = freePort();
  const ssh = new Deno.Command("ssh", {
    args: [
      ...sshd.sshArgs,
      "-o",
      "ExitOnForwardFailure=yes",
      "-N",
      "-D",
      `127.0.0.1:${socks}`,
      "-p",
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  stack.defer(async () => {
    try {
      ssh.kill("SIGTERM");
    } catch { /* gone */ }
    await ssh.status;
  });
  try {
    await until("ssh -D listening", async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: socks })).close();
        return true;
      } catch {
        return false;
      }
    });
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const session = await stack.cliSession(q);
    const env = {
      NC_TOKEN: session.token,
      NC_CA_FILE: caFile,
      ALL_PROXY: `socks5h://127.0.0.1:${socks}`,
    };
    const status = await run(["tunnel", "status", "--cloud", front.url], env);
    assertEquals(status.code, 0, status.stderr);

    const cli = new Proc(["tunnel", "run", "--cloud", front.url], env);
    stack.defer(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip}:${echo.port}`));
    assert(await echoVia(ip, echo.port, 1 << 20), "1 MiB both ways through ssh -D");
    const said = cli.lines.find((l) => l.includes("reaching the cloud through a proxy"));
    assert(said?.includes(`socks5://127.0.0.1:${socks}`), cli.lines.join("\n"));

    // The same with the jump host gone: the CLI names the proxy, not the cloud, as the problem.
    const dead = freePort();
    const open = await run(
      ["tunnel", "open", q.device.handles[echo.port], "--cloud", front.url],
      { ...env, NC_TOKEN: q.apiToken, ALL_PROXY: `socks5h://127.0.0.1:${dead}` },
    );
    assertEquals(open.code, 2, open.stderr);
    assertStringIncludes(
      open.stderr,
      "the proxy (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) does not answer",
    );
  } finally {
    await stack.stop();
  }
});
