// The cloud's HTTPS as operators and site PCs meet it: behind a proxy that inspects TLS (a
// company laptop) its certificate comes from an authority the CLI does not know, and a machine
// whose clock is far off finds it not valid yet or expired. The real cloud, agent and CLI behind
// a TLS front on loopback (tests/_fixtures/tls_front.ts). Each failure is named with what to do
// (it was "fetch failed"), and `--ca-file` makes the CLI trust the authority for everything it
// does: status, run's tunnels and open's. An authority in this computer's own store (where a
// company's IT puts its proxy's; here `SSL_CERT_FILE`, which Linux's store honours) needs no flag,
// for the CLI and the agent's enrollment alike.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { echoVia, Proc, run, Stack, tunnelOpen } from "../_fixtures/stack.ts";
import { startFrontedStack, startTlsFront } from "../_fixtures/tls_front.ts";

const DAY = 86_400_000;

Deno.test("behind a TLS-inspecting proxy: the CLI names the unknown authority, and works with --ca-file", async () => {
  const { stack, echo, front, caFile } = await startFrontedStack();
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const session = await stack.cliSession(q);

    const refused = await run(["tunnel", "status", "--cloud", front.url], {
      NC_TOKEN: session.token,
    });
    assertEquals(refused.code, 1, refused.stderr);
    assertStringIncludes(refused.stderr, `cannot reach the cloud at ${front.url}`);
    assertStringIncludes(
      refused.stderr,
      "its certificate is not from an authority this computer trusts",
    );
    assertStringIncludes(refused.stderr, "give that authority's certificate with --ca-file FILE");
    assert(!refused.stderr.includes("fetch failed"), refused.stderr);

    // With the authority: status, then run's listeners carry bytes over wss:// through the front.
    const status = await run(["tunnel", "status", "--cloud", front.url, "--ca-file", caFile], {
      NC_TOKEN: session.token,
    });
    assertEquals(status.code, 0, status.stderr);
    assertStringIncludes(status.stdout, "session valid until");
    const cli = new Proc(["tunnel", "run", "--cloud", front.url], {
      NC_TOKEN: session.token,
      NC_CA_FILE: caFile,
    });
    stack.defer(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip}:${echo.port}`));
    assert(await echoVia(ip, echo.port, 1 << 20), "1 MiB both ways through the CLI tunnel");

    // open: the API token's tunnel to one handle, through the same front.
    const { port } = await tunnelOpen(
      stack,
      q.device.handles[echo.port],
      front.url,
      { NC_TOKEN: q.apiToken },
      ["--ca-file", caFile],
    );
    assert(await echoVia("127.0.0.1", port, 256 << 10), "bytes through tunnel open");

    // Without it, run says why its tunnels fail rather than carrying nothing silently.
    const bad = await run(["tunnel", "open", q.device.handles[echo.port], "--cloud", front.url], {
      NC_TOKEN: q.apiToken,
    });
    assertEquals(bad.code, 2, bad.stderr);
    assertStringIncludes(bad.stderr, "not from an authority this computer trusts");

    // A file that holds no certificate is refused before anything is dialed.
    const notPem = await run(
      ["tunnel", "status", "--cloud", front.url, "--ca-file", `${stack.dataDir}/public-url`],
      { NC_TOKEN: session.token },
    );
    assertEquals(notPem.code, 2, notPem.stderr);
    assertStringIncludes(notPem.stderr, "holds no PEM certificate");
  } finally {
    await stack.stop();
  }
});

Deno.test("an authority this computer trusts is trusted with no flag; agent enroll takes --ca-file", async () => {
  const { stack, echo, front, caFile } = await startFrontedStack();
  try {
    const q = await stack.quickstart([echo.port]);
    // The computer's store holds the company's authority, as its IT set it up.
    const store = { SSL_CERT_FILE: caFile, SSL_CERT_DIR: `${stack.dir}/no-such-dir` };

    // The site PC: enrollment through the front, the token carried over the inspected HTTPS.
    const enrolled = await run(
      ["agent", "enroll", "--cloud", front.url, "--state", `${stack.dir}/agent-store`],
      { NC_ENROLL_TOKEN: q.enrollmentToken, ...store },
    );
    assertEquals(enrolled.code, 0, enrolled.stderr);
    assertStringIncludes(enrolled.stderr, "enrolled");

    // Without the store, `agent enroll` names the flag it takes; with the flag it enrolls.
    const token = await stack.enrollmentToken(q);
    const unknown = await run(
      ["agent", "enroll", "--cloud", front.url, "--state", `${stack.dir}/agent-file`],
      { NC_ENROLL_TOKEN: token },
    );
    assertEquals(unknown.code, 1, unknown.stderr);
    assertStringIncludes(unknown.stderr, "not from an authority this computer trusts");
    assertStringIncludes(unknown.stderr, "give that authority's certificate with --ca-file FILE");
    const withFile = await run(
      [
        "agent",
        "enroll",
        "--cloud",
        front.url,
        "--state",
        `${stack.dir}/agent-file`,
        "--ca-file",
        caFile,
      ],
      { NC_ENROLL_TOKEN: token },
    );
    assertEquals(withFile.code, 0, withFile.stderr);
    const notPem = await run(
      ["agent", "enroll", "--cloud", front.url, "--state", `${stack.dir}/agent-x`],
      { NC_ENROLL_TOKEN: token, NC_CA_FILE: `${stack.dataDir}/public-url` },
    );
    assertEquals(notPem.code, 2, notPem.stderr);
    assertStringIncludes(notPem.stderr, "holds no PEM certificate");

    // The operator's laptop: status and run's tunnels over wss:// through the front, no flag.
    await stack.runAgent(`${stack.dir}/agent-store`);
    const session = await stack.cliSession(q);
    const status = await run(["tunnel", "status", "--cloud", front.url], {
      NC_TOKEN: session.token,
      ...store,
    });
    assertEquals(status.code, 0, status.stderr);
    assertStringIncludes(status.stdout, "session valid until");
    const cli = new Proc(["tunnel", "run", "--cloud", front.url], {
      NC_TOKEN: session.token,
      ...store,
    });
    stack.defer(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip}:${echo.port}`));
    assert(await echoVia(ip, echo.port, 256 << 10), "bytes through the CLI tunnel");
  } finally {
    await stack.stop();
  }
});

Deno.test("a TLS-inspecting proxy that blocks WebSockets: status works, and the tunnel says the proxy refused it", async () => {
  const { stack, echo, caFile } = await startFrontedStack();
  const blocking = await startTlsFront(stack.ports.http, { blockWebSockets: true });
  stack.defer(blocking.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    await Deno.writeTextFile(caFile, blocking.caPem);
    const session = await stack.cliSession(q);
    const status = await run(["tunnel", "status", "--cloud", blocking.url, "--ca-file", caFile], {
      NC_TOKEN: session.token,
    });
    assertEquals(status.code, 0, status.stderr);
    // The tunnel opens its WebSocket when a client connects: the proxy's 403 page, named.
    const { proc, port } = await tunnelOpen(
      stack,
      q.device.handles[echo.port],
      blocking.url,
      { NC_TOKEN: q.apiToken },
      ["--ca-file", caFile],
    );
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    stack.defer(() => Promise.resolve(client.close()));
    const said = await proc.waitFor(/from something that is not the cloud/);
    assertStringIncludes(said, "HTTP 403 (Server: InspectingProxy)");
    assertStringIncludes(said, "does not let WebSockets through");
    assertStringIncludes(said, "Blocked Access denied WebSocket connections are not allowed");
    assert(!said.includes("<html"), said);
  } finally {
    await stack.stop();
  }
});

Deno.test("a clock far off: the CLI and the agent's enrollment name the clock, not 'fetch failed'", async () => {
  const stack = await Stack.start();
  // As a machine two days behind sees a certificate issued yesterday; and one years ahead.
  const future = await startTlsFront(stack.ports.http, { validFrom: Date.now() + 2 * DAY });
  stack.defer(future.close);
  const past = await startTlsFront(stack.ports.http, { validFrom: Date.now() - 400 * DAY });
  stack.defer(past.close);
  try {
    const q = await stack.quickstart([22]);
    const session = await stack.cliSession(q);
    for (const [front, words] of [[future, "is not valid yet"], [past, "has expired"]] as const) {
      const caFile = `${stack.dir}/ca-${front.port}.pem`;
      await Deno.writeTextFile(caFile, front.caPem);
      const r = await run(["tunnel", "status", "--cloud", front.url, "--ca-file", caFile], {
        NC_TOKEN: session.token,
      });
      assertEquals(r.code, 1, r.stderr);
      assertStringIncludes(r.stderr, `its certificate ${words} by this computer's clock (here `);
      assertStringIncludes(r.stderr, "turn on time synchronisation, NTP");

      // The site PC's installer: `agent enroll` against the same front (the runtime's trust
      // extended with DENO_CERT, as the front's authority were a public one).
      const e = await run(
        ["agent", "enroll", "--cloud", front.url, "--state", `${stack.dir}/a-${front.port}`],
        { NC_ENROLL_TOKEN: q.enrollmentToken, DENO_CERT: caFile },
      );
      assertEquals(e.code, 1, e.stderr);
      assertStringIncludes(e.stderr, `its certificate ${words} by this computer's clock`);
    }
    // The token was never sent: it still enrolls, straight to the cloud.
    const ok = await stack.enroll(q.enrollmentToken);
    assertEquals(ok.code, 0, ok.stderr);
  } finally {
    await stack.stop();
  }
});

Deno.test("a network's sign-in page answering for the cloud (200, HTML): named, not taken for a plan", async () => {
  const portal = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(
        "<html><body><h1>Welcome to Hotel Wi-Fi</h1><p>Sign in to continue</p></body></html>",
        {
          headers: { "content-type": "text/html", server: "CaptivePortal" },
        },
      ),
  );
  try {
    const cloud = `http://127.0.0.1:${portal.addr.port}`;
    const token = `ops_${"A".repeat(43)}`;
    for (const cmd of [["tunnel", "status"], ["tunnel", "run"]]) {
      const r = await run([...cmd, "--cloud", cloud], { NC_TOKEN: token });
      assertEquals(r.code, 1, r.stderr);
      assertStringIncludes(
        r.stderr,
        "HTTP 200 (Server: CaptivePortal) from something that is not the cloud",
      );
      assertStringIncludes(r.stderr, "this network's sign-in page");
      assertStringIncludes(r.stderr, 'it said: "Welcome to Hotel Wi-Fi Sign in to continue"');
      assert(!/TypeError|at .*\.ts:\d+/.test(r.stderr), r.stderr);
    }
    const open = await run(["tunnel", "open", "h-AAAAAAAAAAAAAAAAAAAAAA", "--cloud", cloud], {
      NC_TOKEN: `nt_${"A".repeat(43)}`,
    });
    assertEquals(open.code, 2, open.stderr);
    assertStringIncludes(
      open.stderr,
      "HTTP 200 (Server: CaptivePortal) from something that is not the cloud",
    );
    // The site PC's enrollment: the same words, and nothing sent (the token is unused).
    const dir = await Deno.makeTempDir({ prefix: "nc-portal-" });
    try {
      const e = await run(["agent", "enroll", "--cloud", cloud, "--state", dir], {
        NC_ENROLL_TOKEN: `enr_${"A".repeat(43)}.${"0".repeat(64)}`,
      });
      assertEquals(e.code, 1, e.stderr);
      assertStringIncludes(
        e.stderr,
        `cannot reach the cloud at ${cloud}: HTTP 200 (Server: CaptivePortal)`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await portal.shutdown();
  }
});
