// The operator's CLI tunnel (`connector tunnel run --token ops_…`) against the real cloud and
// agent: it listens on each device's 127.0.0.X:port, carries bytes, follows the plan as devices
// come and go, heals a bind that was blocked, and exits 3 when the session is revoked.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { echoServer, echoVia, Proc, Stack } from "../_fixtures/stack.ts";

Deno.test("CLI tunnel run: plan, bytes, refresh add/remove, bind healing, revoke exits 3", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  const echo2 = await echoServer();
  stack.defer(echo.close);
  stack.defer(echo2.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(stack.url + path, {
        method,
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await res.json();
    };
    const session = await api("POST", "/api/cli/sessions", { siteIds: [q.siteId] });
    const cli = new Proc([
      "tunnel",
      "run",
      "--cloud",
      stack.url,
      "--refresh",
      "500ms",
    ], { NC_TOKEN: session.token });
    stack.defer(() => cli.stop("SIGKILL"));
    const ip1 = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip1}:${echo.port}`));
    assert(
      cli.lines.some((l) => l.includes(`${ip1}:${echo.port}`) && l.includes("Site 1 /")),
      "the plan table",
    );
    assert(await echoVia(ip1, echo.port, 1 << 20));

    // A device added at the cloud is bound on the next refresh.
    const dev2 = await api("POST", `/api/sites/${q.siteId}/devices`, {
      host: "127.0.0.1",
      ports: [echo2.port],
    });
    await cli.waitFor(new RegExp(`listening listen=${dev2.loopbackIp}:${echo2.port}`));
    assert(await echoVia(dev2.loopbackIp, echo2.port, 256 << 10));

    // A port someone else holds: reported once, bound once it is free.
    const blocker = Deno.listen({ hostname: ip1, port: 0 });
    const blocked = (blocker.addr as Deno.NetAddr).port;
    await api("PATCH", `/api/devices/${q.device.deviceId}`, { ports: [echo.port, blocked] });
    await cli.waitFor(new RegExp(`cannot listen.*${ip1}:${blocked}`));
    await new Promise((r) => setTimeout(r, 1_500));
    assertEquals(cli.count(new RegExp(`cannot listen.*${ip1}:${blocked}`)), 1, "logged once");
    blocker.close();
    await cli.waitFor(new RegExp(`listening listen=${ip1}:${blocked}`));

    // A removed device stops accepting.
    await api("DELETE", `/api/devices/${dev2.id}`);
    await cli.waitFor(new RegExp(`stopped listening listen=${dev2.loopbackIp}:${echo2.port}`));
    // Nothing listens on the pair any more (a connect or bind probe would be confused by
    // loopback TIME-WAIT and self-connects; the kernel's listening sockets are the truth).
    const ss = await new Deno.Command("ss", { args: ["-ltnH"] }).output();
    const listening = new TextDecoder().decode(ss.stdout);
    assert(
      !listening.includes(`${dev2.loopbackIp}:${echo2.port} `),
      `still listening:\n${listening}`,
    );

    // Revoking the session ends the running CLI with a clear message and exit code 3.
    await api("DELETE", `/api/cli/sessions/${session.id}`);
    const status = await cli.exited;
    assertEquals(status.code, 3);
    // The exit can be seen before the last of its output is read: wait for the line itself (it
    // fails once all output is in without it).
    await cli.waitFor(/The CLI session has ended/);
  } finally {
    await stack.stop();
  }
});

Deno.test("CLI tunnel status and a raw tunnel to a pair outside the session", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const session = await stack.cliSession(q);
    const { run } = await import("../_fixtures/stack.ts");
    const st = await run(["tunnel", "status", "--cloud", stack.url], { NC_TOKEN: session.token });
    assertEquals(st.code, 0, st.stderr);
    assert(st.stdout.includes("session valid until"));
    assert(st.stdout.includes(`${q.device.loopbackIp}:22`));
    // What to paste: port 22 is SSH.
    assert(st.stdout.includes(`ssh <user>@${q.device.loopbackIp}`), st.stdout);
    const unknown = await fetch(`${stack.url}/api/cli/raw-tunnel/127.0.9.9/22`, {
      headers: { authorization: `Bearer ${session.token}` },
    });
    assertEquals(unknown.status, 404);
    await unknown.body?.cancel();
    const nt = await fetch(`${stack.url}/api/cli/raw-tunnel/${q.device.loopbackIp}/22`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(nt.status, 403, "the raw CLI tunnel needs a CLI session");
    await nt.body?.cancel();
    const bad = await run(["tunnel", "status", "--cloud", stack.url], {
      NC_TOKEN: "ops_" + "x".repeat(43),
    });
    assertEquals(bad.code, 3);
  } finally {
    await stack.stop();
  }
});

/** Waits for `check` to hold; fails after `ms`. */
async function within(ms: number, what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The issue asks for 2 s; a loaded 2-core test machine gets one more second.
const PROMPT_MS = 3_000;

Deno.test("CLI tunnel run follows the plan and revocation at once (event stream), not at the 60 s refresh", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(stack.url + path, {
        method,
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await res.json();
    };
    const session = await api("POST", "/api/cli/sessions", { siteIds: [q.siteId] });
    // The default refresh is 60 s: everything below must come from the event stream.
    const cli = new Proc(["tunnel", "run", "--cloud", stack.url], { NC_TOKEN: session.token });
    stack.defer(() => cli.stop("SIGKILL"));
    await cli.waitFor(new RegExp(`listening listen=${q.device.loopbackIp}:${echo.port}`));
    // Let the event stream connect (its first read of the change counter).
    await new Promise((r) => setTimeout(r, 1_500));

    const dev2 = await api("POST", `/api/sites/${q.siteId}/devices`, {
      host: "127.0.0.1",
      ports: [echo.port],
    });
    const added = new RegExp(`listening listen=${dev2.loopbackIp}:${echo.port}`);
    await within(PROMPT_MS, "new device bound", () => cli.count(added) > 0);

    await api("DELETE", `/api/devices/${dev2.id}`);
    const removed = new RegExp(`stopped listening listen=${dev2.loopbackIp}:${echo.port}`);
    await within(PROMPT_MS, "removed device closed", () => cli.count(removed) > 0);

    await api("DELETE", `/api/cli/sessions/${session.id}`);
    let code: number | null = null;
    cli.exited.then((s) => (code = s.code));
    await within(PROMPT_MS, "exit after revocation", () => code !== null);
    assertEquals(code, 3);
  } finally {
    await stack.stop();
  }
});

Deno.test("CLI tunnel open exits 3 when its token is revoked", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const minted = await (await fetch(`${stack.url}/api/account/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "open" }),
    })).json();
    const cli = new Proc([
      "tunnel",
      "open",
      q.device.handles[echo.port],
      "--cloud",
      stack.url,
    ], { NC_TOKEN: minted.token });
    stack.defer(() => cli.stop("SIGKILL"));
    await cli.waitFor(/listening on 127\.0\.0\.1:\d+/);
    await new Promise((r) => setTimeout(r, 1_500));
    const del = await fetch(`${stack.url}/api/account/tokens/${minted.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    let code: number | null = null;
    cli.exited.then((s) => (code = s.code));
    await within(PROMPT_MS, "exit after revocation", () => code !== null);
    assertEquals(code, 3);
    await cli.waitFor(/The token was revoked/);
  } finally {
    await stack.stop();
  }
});
