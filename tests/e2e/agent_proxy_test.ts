// A site whose only way out is an HTTP proxy that wants credentials: the real cloud behind a TLS
// front, the real agent. The proxy given at enrollment (`--proxy` / NC_PROXY, what the installers
// fill from https_proxy) carries the enrollment, is kept 0600 in the state directory, and is what
// `agent run` — a service that inherits no shell — goes through for its control stream and data
// connections, with no environment at all; `--proxy off` goes direct. The password is never
// printed. A hostile proxy that diverts the data connection to a server with a publicly trusted
// certificate for the cloud's host gets nothing: data connections trust only the pinned CA.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import {
  closedPort,
  echoThrough,
  Proc,
  randomBytes,
  run,
  Stack,
  TunnelRefused,
} from "../_fixtures/stack.ts";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { startTlsServer } from "../_fixtures/tls_server.ts";
import { startFrontedStack } from "../_fixtures/tls_front.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";

Deno.test("agent behind an HTTP proxy: enrolled through --proxy, which agent run keeps using with no environment", async () => {
  const { stack, echo, front, caFile } = await startFrontedStack();
  const proxy = startConnectProxy({ user: "site", password: "Proxy-Secret-2" });
  stack.defer(proxy.close);
  try {
    const q = await stack.quickstart([echo.port]);
    // A technician whose shell has https_proxy, enrolling by hand without telling the agent:
    // the cloud unreachable directly (here a closed port), and the note says what to do.
    const untold = await run(
      [
        "agent",
        "enroll",
        "--cloud",
        `https://127.0.0.1:${closedPort()}`,
        "--state",
        `${stack.dir}/x`,
      ],
      { NC_ENROLL_TOKEN: q.enrollmentToken, https_proxy: proxy.url },
    );
    assertEquals(untold.code, 1, untold.stderr);
    assertStringIncludes(
      untold.stderr,
      "note: https_proxy is set here, but the agent goes through a proxy only when told",
    );
    assertStringIncludes(untold.stderr, 'NC_PROXY="$https_proxy"');
    assertEquals(untold.stderr.includes("Proxy-Secret-2"), false);
    const state = `${stack.dir}/agent-proxied`;
    const e = await run(["agent", "enroll", "--cloud", front.url, "--state", state], {
      NC_ENROLL_TOKEN: q.enrollmentToken,
      NC_PROXY: proxy.url,
      NC_CA_FILE: caFile,
    });
    assertEquals(e.code, 0, e.stderr);
    assertStringIncludes(
      e.stderr,
      `reaching the cloud through the proxy http://127.0.0.1:${proxy.port}`,
    );
    assertEquals(e.stderr.includes("Proxy-Secret-2"), false, "the password is never printed");
    assert(proxy.carried.length > 0, "the enrollment went through the proxy");
    assert(proxy.carried.every((t) => t === `127.0.0.1:${front.port}`), proxy.carried.join());
    const enrolled = proxy.carried.length;
    const saved = await Deno.stat(`${state}/proxy.url`);
    assertEquals(saved.mode! & 0o777, 0o600);
    assertEquals((await Deno.readTextFile(`${state}/proxy.url`)).trim(), proxy.url);

    // The service: no proxy variable, no flag — the saved proxy carries control and data.
    const agent = new Proc(["agent", "run", "--state", state, "--log-format", "json"]);
    stack.agents.push(agent);
    await agent.waitFor(/"control stream up"/);
    const said = agent.lines.find((l) => l.includes("reaching the cloud through a proxy"));
    assert(said && said.includes(`"from":"saved"`), agent.lines.join("\n"));
    assertEquals(agent.lines.some((l) => l.includes("Proxy-Secret-2")), false);
    const ws = await stack.openTunnel(q.device.handles[echo.port], q.apiToken);
    const data = randomBytes(256 << 10);
    assertEquals((await echoThrough(ws, data)).received.byteLength, data.byteLength);
    assertEquals(
      proxy.carried.slice(enrolled).sort(),
      [
        `127.0.0.1:${stack.ports.control}`,
        `127.0.0.1:${stack.ports.data}`,
      ].sort(),
    );
    await agent.stop("SIGKILL");

    // --proxy off: straight to the cloud, the proxy not asked.
    const carried = proxy.carried.length;
    const direct = new Proc(["agent", "run", "--state", state, "--log-format", "json"], {
      NC_PROXY: "off",
    });
    stack.agents.push(direct);
    await direct.waitFor(/"control stream up"/);
    assertEquals(proxy.carried.length, carried);
    await direct.stop("SIGKILL");

    // A proxy URL that is no http:// one is said before anything is dialed, naming the setting.
    const bad = await run(["agent", "run", "--state", state, "--proxy", "socks5://127.0.0.1:1"]);
    assertEquals(bad.code, 2, bad.stderr);
    assertStringIncludes(bad.stderr, "--proxy (NC_PROXY): only http:// proxies (HTTP CONNECT)");
  } finally {
    await stack.stop();
  }
});

Deno.test("agent data connections: a hostile proxy with a publicly trusted certificate for the cloud's host gets no ticket", async () => {
  const publicCa = await createCA({ commonName: "a public authority" });
  // What any public authority would issue for the cloud's public name (it may not add .invalid).
  const leaf = await issueServerCert({
    ca: publicCa,
    commonName: "127.0.0.1",
    hostnames: ["127.0.0.1"],
  });
  const impostor = startTlsServer(leaf);
  let proxy: ReturnType<typeof startConnectProxy> | undefined;
  await Stack.withEchoSite(async ({ stack, agent, handle, q }) => {
    try {
      // The control stream went through the proxy untouched: it trusts only the pinned CA.
      assert(proxy!.carried.includes(`127.0.0.1:${stack.ports.control}`), proxy!.carried.join());
      const refused = await stack.openTunnel(handle, q.apiToken).then(
        (ws) => {
          ws.close();
          return null;
        },
        (e: Error) => e,
      );
      assert(refused instanceof TunnelRefused, `no tunnel may open: ${refused}`);
      assertEquals([refused.status, refused.body.error], [502, "agent_data_unreachable"]);
      // The operator reads what is wrong: not a blocked port, something answering for the cloud.
      assertStringIncludes(
        refused.body.message ?? "",
        "what answers the cloud's data port on the way is not the cloud",
      );
      assertStringIncludes(refused.body.message ?? "", "certificate not valid for name");
      assert(proxy!.carried.includes(`127.0.0.1:${stack.ports.data}`), proxy!.carried.join());
      const failed = await agent.waitFor(/"data connection to the cloud failed"/);
      assertStringIncludes(failed, "certificate not valid for name");
      assertEquals(impostor.received(), 0, "the impostor got no preface and no ticket");
    } finally {
      await proxy?.close();
      await impostor.close();
    }
  }, {
    runAgent: async (stack, state) => {
      const root = `${stack.dir}/public-root.pem`;
      await Deno.writeTextFile(root, publicCa.certPem);
      proxy = startConnectProxy(undefined, { [`127.0.0.1:${stack.ports.data}`]: impostor.port });
      // DENO_CERT: the agent's runtime trusts the authority, as it trusts the public ones.
      return await stack.runAgent(state, true, { NC_PROXY: proxy.url, DENO_CERT: root });
    },
  });
});
