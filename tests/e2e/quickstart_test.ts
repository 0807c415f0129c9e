/**
 * The first minutes of a new cloud: `connector cloud` prints where the web UI is, and
 * `cloud admin quickstart --password-stdin` makes an admin who can sign in to it.
 */
import { assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";

Deno.test("quickstart with --password-stdin: the admin signs in to the web UI", async () => {
  const stack = await Stack.start();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../src/main.ts", import.meta.url).pathname,
        "cloud",
        "admin",
        "quickstart",
        "--email",
        "first@example.com",
        "--password-stdin",
        "--data-dir",
        stack.dataDir,
        "--json",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("correct horse battery\n"));
    await w.close();
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const cookie = await stack.signIn("first@example.com", "correct horse battery");
    const home = await fetch(`${stack.url}/`, { headers: { cookie } });
    assertEquals(home.status, 200);
    assertStringIncludes(await home.text(), "Dashboard");
  } finally {
    await stack.stop();
  }
});

/** Runs `cloud admin …` against the stack's data directory with `stdin` piped in. */
async function admin(stack: Stack, args: string[], stdin = "") {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../src/main.ts", import.meta.url).pathname,
      "cloud",
      "admin",
      ...args,
      "--data-dir",
      stack.dataDir,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("quickstart: a too-short password writes nothing; a re-run adds to the same tenant", async () => {
  const stack = await Stack.start();
  try {
    const short = await admin(stack, ["quickstart", "--password-stdin"], "short\n");
    assertEquals(short.code, 2);
    assertStringIncludes(short.stderr, "at least 10 characters");
    assertEquals((await stack.admin<{ tenants: unknown[] }>("tenant", "list")).tenants, []);

    const first = await admin(
      stack,
      ["quickstart", "--password-stdin", "--json"],
      "pw-0123456789\n",
    );
    assertEquals(first.code, 0, first.stderr);
    const q1 = JSON.parse(first.stdout);
    const second = await admin(stack, ["quickstart", "--ports", "22,80", "--json"]);
    assertEquals(second.code, 0, second.stderr);
    const q2 = JSON.parse(second.stdout);
    assertEquals(q2.tenantId, q1.tenantId);
    assertEquals(q2.siteId, q1.siteId);
    assertEquals(q2.userId, q1.userId);
    assertEquals(q2.device.deviceId, q1.device.deviceId);
    assertEquals(q2.device.ports, [22, 80]);
    assertEquals(q2.device.handles["22"], q1.device.handles["22"]);
    assertStringIncludes(q2.reused, 'tenant "Demo"');
    const tenants = (await stack.admin<{ tenants: { name: string }[] }>("tenant", "list")).tenants;
    assertEquals(tenants.map((t) => t.name), ["Demo"]);
    // The password set by the first run still signs in (the re-run did not touch it).
    await stack.signIn("admin@example.com", "pw-0123456789");
    // The printed next steps name the program as it was started and the cloud's own URL.
    const human = await admin(stack, ["quickstart"]);
    assertStringIncludes(human.stdout, "echo enr_");
    assertStringIncludes(human.stdout, `agent enroll --cloud ${stack.url} --token -`);
    assertStringIncludes(human.stdout, "src/main.ts agent run");
  } finally {
    await stack.stop();
  }
});

Deno.test("quickstart: an email of another tenant is refused, not renamed", async () => {
  const stack = await Stack.start();
  try {
    const first = await admin(stack, ["quickstart", "--json"]);
    assertEquals(first.code, 0, first.stderr);
    const q = JSON.parse(first.stdout);
    const other = await admin(stack, ["quickstart", "--tenant", "Other"]);
    assertEquals(other.code, 2);
    assertStringIncludes(other.stderr, `admin@example.com already belongs to tenant "Demo"`);
    assertStringIncludes(other.stderr, `--tenant ${q.tenantId}`);
    const tenants = (await stack.admin<{ tenants: { name: string }[] }>("tenant", "list")).tenants;
    assertEquals(tenants.map((t) => t.name), ["Demo"], "nothing written");
  } finally {
    await stack.stop();
  }
});

Deno.test("cloud admin user list|set-role|reset-password|disable", async () => {
  const stack = await Stack.start();
  try {
    const q = JSON.parse((await admin(stack, ["quickstart", "--json"])).stdout);
    const t = ["--tenant", q.tenantId, "--email", "admin@example.com"];
    assertEquals((await admin(stack, ["user", "reset-password", ...t], "pw-abcdefghij\n")).code, 0);
    await stack.signIn("admin@example.com", "pw-abcdefghij");
    assertEquals((await admin(stack, ["user", "set-role", ...t, "--role", "viewer"])).code, 0);
    let users = (await stack.admin<{ users: { email: string; role: string; disabled: boolean }[] }>(
      "user",
      "list",
      "--tenant",
      q.tenantId,
    )).users;
    assertEquals(users, [{
      ...users[0],
      email: "admin@example.com",
      role: "viewer",
      disabled: false,
    }]);
    assertEquals((await admin(stack, ["user", "disable", ...t])).code, 0);
    users = (await stack.admin<{ users: typeof users }>(
      "user",
      "list",
      "--tenant",
      q.tenantId,
    )).users;
    assertEquals(users[0].disabled, true);
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "admin@example.com", password: "pw-abcdefghij" }),
    });
    assertEquals(login.status, 401);
    await login.body?.cancel();
    const missing = await admin(stack, [
      "user",
      "disable",
      "--tenant",
      q.tenantId,
      "--email",
      "x@example.com",
    ]);
    assertEquals(missing.code, 2);
    assertStringIncludes(missing.stderr, "no user x@example.com");
  } finally {
    await stack.stop();
  }
});

Deno.test("quickstart --ports takes a protocol per port; an unknown one is refused before any write", async () => {
  const stack = await Stack.start();
  try {
    const bad = await admin(stack, ["quickstart", "--ports", "22,80/ftp"]);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "after a slash, e.g. 80/http,554/rtsp");
    assertEquals((await stack.admin<{ tenants: unknown[] }>("tenant", "list")).tenants, []);

    const ok = await admin(stack, ["quickstart", "--ports", "22,8000/http,9554/RTSP", "--json"]);
    assertEquals(ok.code, 0, ok.stderr);
    const q = JSON.parse(ok.stdout);
    const list = await (await fetch(`${stack.url}/api/sites/${q.siteId}/devices`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    })).json();
    const dev = (list.items ?? list).find((d: { id: string }) => d.id === q.device.deviceId);
    assertEquals(dev.protocols, { 22: "ssh", 8000: "http", 9554: "rtsp" });
    // A re-run marks an existing port anew.
    const again = await admin(stack, ["quickstart", "--ports", "8000/https", "--json"]);
    assertEquals(again.code, 0, again.stderr);
    const after = await (await fetch(`${stack.url}/api/sites/${q.siteId}/devices`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    })).json();
    const dev2 = (after.items ?? after).find((d: { id: string }) => d.id === q.device.deviceId);
    assertEquals(dev2.protocols, { 22: "ssh", 8000: "https", 9554: "rtsp" });
  } finally {
    await stack.stop();
  }
});
