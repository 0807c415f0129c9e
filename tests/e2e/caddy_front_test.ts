// The guide's deployment: Caddy terminating HTTPS in front of a node ("Caddy → Kestrel"), with the
// Caddyfile this repository ships (install/Caddyfile) run by a real Caddy on loopback — its own
// internal authority for "localhost", no ACME, nothing off the machine. Through it: the health
// probe, an agent's enrollment, the CLI's WebSocket tunnel (its early-data header passed on), the
// browser proxy's pages and an MJPEG stream that must arrive while it is still playing, and the
// client's scheme as the cloud sees it (X-Forwarded-Proto from a trusted proxy).
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { echoServer, echoVia, run, Stack, tunnelOpen } from "../_fixtures/stack.ts";
import { FRAME, startCamera } from "../_fixtures/camera.ts";
import { freePort } from "../_fixtures/sshd.ts";
import { until } from "../_fixtures/until.ts";

const CADDYFILE = new URL("../../install/Caddyfile", import.meta.url).pathname;

/** Runs Caddy with the shipped Caddyfile for https://localhost:PORT → `upstream`. */
async function startCaddy(dir: string, upstream: number) {
  const port = freePort();
  // Test-only global options before the shipped site block: no admin endpoint, no redirect
  // listener on :80, its authority kept in `dir` and not installed in this machine's store.
  const config = `{
	admin off
	auto_https disable_redirects
	skip_install_trust
	storage file_system ${dir}/caddy
}
${await Deno.readTextFile(CADDYFILE)}`;
  await Deno.writeTextFile(`${dir}/Caddyfile`, config);
  const child = new Deno.Command("caddy", {
    args: ["run", "--config", `${dir}/Caddyfile`, "--adapter", "caddyfile"],
    env: {
      NC_DOMAIN: `localhost:${port}`,
      NC_UPSTREAM: `127.0.0.1:${upstream}`,
      HOME: dir,
      XDG_DATA_HOME: `${dir}/data`,
      XDG_CONFIG_HOME: `${dir}/config`,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  (async () => {
    for await (const l of child.stderr.pipeThrough(new TextDecoderStream())) lines.push(l);
  })().catch(() => {});
  const rootCa = `${dir}/caddy/pki/authorities/local/root.crt`;
  await until(
    `caddy serving https://localhost:${port} (${lines.join("").slice(-300)})`,
    async () => {
      try {
        await Deno.stat(rootCa);
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    },
  );
  return {
    url: `https://localhost:${port}`,
    rootCa,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

Deno.test("Caddy in front of a node (install/Caddyfile): health, enrollment, CLI tunnel, /c/ pages and a live MJPEG stream over HTTPS", async () => {
  const stack = await Stack.start({
    cloudArgs: ["--trusted-proxies", "127.0.0.1/32,::1/128"],
  });
  const dir = await Deno.makeTempDir({ prefix: "nc-caddy-" });
  const echo = await echoServer();
  stack.defer(echo.close);
  const cam = await startCamera();
  stack.defer(cam.close);
  try {
    const caddy = await startCaddy(dir, stack.ports.http);
    stack.defer(caddy.stop);
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(caddy.rootCa)] });
    stack.defer(() => Promise.resolve(client.close()));
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${caddy.url}${path}`, { client, headers } as RequestInit);

    const health = await get("/healthz/ready");
    assertEquals(health.status, 200);
    await health.body?.cancel();

    // A site PC enrolls through Caddy (its authority given as a company's would be).
    const q = await stack.quickstart([echo.port, cam.port]);
    const state = `${stack.dir}/agent-caddy`;
    const e = await run(["agent", "enroll", "--cloud", caddy.url, "--state", state], {
      NC_ENROLL_TOKEN: q.enrollmentToken,
      NC_CA_FILE: caddy.rootCa,
    });
    assertEquals(e.code, 0, e.stderr);
    await stack.runAgent(state);

    // The operator's CLI: a WebSocket tunnel over wss:// through Caddy, bytes both ways.
    const { port } = await tunnelOpen(stack, q.device.handles[echo.port], caddy.url, {
      NC_TOKEN: q.apiToken,
      NC_CA_FILE: caddy.rootCa,
    });
    assert(await echoVia("127.0.0.1", port, 1 << 20), "1 MiB both ways through Caddy");

    // The browser proxy: the camera's page, then its MJPEG stream while it still plays (60 s of
    // frames: a buffering front would hold the first one back).
    const auth = { authorization: `Bearer ${q.apiToken}` };
    const h = q.device.handles[cam.port];
    const page = await get(`/c/${h}/`, auth);
    assertEquals(page.status, 200);
    assertStringIncludes(await page.text(), `/c/${h}/`);
    const stream = await get(`/c/${h}/mjpeg?frames=600&gap=100`, auth);
    assertEquals(stream.status, 200);
    const reader = stream.body!.getReader();
    let seen = new Uint8Array(0);
    const hasFrame = () => seen.some((_, i) => FRAME.every((b, j) => seen[i + j] === b));
    while (!hasFrame()) {
      const { value, done } = await reader.read();
      assert(!done, "the stream ended before a frame");
      seen = new Uint8Array([...seen, ...value]);
    }
    await reader.cancel();

    // The scheme the cloud sees is the client's (https, from a trusted proxy's X-Forwarded-Proto):
    // the session cookie of a sign-in through Caddy is Secure.
    const user = await stack.addUser(q.tenantId);
    const signIn = await fetch(`${caddy.url}/api/auth/login`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: user.email, password: user.password }),
    } as RequestInit);
    const cookie = signIn.headers.get("set-cookie") ?? "";
    await signIn.body?.cancel();
    assertEquals(signIn.status, 200, cookie);
    assertStringIncludes(cookie.toLowerCase(), "secure");
    const forgotten = (l: string) => l.includes("is not in --trusted-proxies");
    assertEquals(stack.cloud.lines.some(forgotten), false, "Caddy is trusted here");
  } finally {
    await stack.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("Caddy in front with --trusted-proxies forgotten: the node says so, once", async () => {
  const stack = await Stack.start();
  const dir = await Deno.makeTempDir({ prefix: "nc-caddy-" });
  try {
    const caddy = await startCaddy(dir, stack.ports.http);
    stack.defer(caddy.stop);
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(caddy.rootCa)] });
    stack.defer(() => Promise.resolve(client.close()));
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${caddy.url}/healthz/ready`, { client } as RequestInit);
      assertEquals(r.status, 200);
      await r.body?.cancel();
    }
    const said = await stack.cloud.waitFor(/is not in --trusted-proxies/);
    assertStringIncludes(said, "requests from 127.0.0.1 carry X-Forwarded-For");
    assertStringIncludes(said, "add it to --trusted-proxies (NC_TRUSTED_PROXIES)");
    assertEquals(stack.cloud.lines.filter((l) => l.includes("--trusted-proxies:")).length, 1);
  } finally {
    await stack.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
