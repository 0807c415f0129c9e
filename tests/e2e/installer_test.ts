// The Linux installer run for real: fetched with curl from a running cloud as an admin, run with
// sh in a throwaway root (NC_INSTALL_ROOT, a temp directory) with no service manager
// (NC_SERVICE_MANAGER=none: the agent starts in the background). The "executable" the cloud
// serves is a launcher script that runs this checkout's agent, put in the cloud's downloads
// directory like a compiled one. Proves: checksum verified, enrollment through a file (the
// token is never on any process's command line, the file is gone), the agent comes online; a
// tampered download is refused with nothing installed; re-running upgrades in place and keeps
// the agent id; without executables the installer stops with the download endpoint's message;
// a one-line install whose enrollment answer was lost is finished by the same one-liner again.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { closedPort, sha256, Stack } from "../_fixtures/stack.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ARCH = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
const AGENT_FILE = `connector-agent-linux-${ARCH}`;

function launcher(marker: string): string {
  return `#!/bin/sh\n# test launcher ${marker}\nexec "${Deno.execPath()}" run -A "${ROOT}src/main.ts" agent "$@"\n`;
}

/** curl as an admin would run it; the token goes in on stdin (`-H @-`), never the command line. */
async function curl(url: string, token: string, out: string): Promise<number> {
  const child = new Deno.Command("curl", {
    args: ["-sS", "-o", out, "-w", "%{http_code}", "-H", "@-", url],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`authorization: Bearer ${token}\n`));
  await w.close();
  const r = await child.output();
  return Number(new TextDecoder().decode(r.stdout));
}

/** Snapshots every process's command line until `until` settles; returns those with `secret`. */
async function watchCommandLines(secret: string, until: Promise<unknown>) {
  let done = false;
  until.finally(() => (done = true));
  const leaks: string[] = [];
  let snapshots = 0;
  while (!done) {
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
        if (cmd.includes(secret)) leaks.push(cmd);
      } catch { /* gone */ }
    }
    snapshots++;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { leaks, snapshots };
}

/** Runs the installer while watching every process's command line for the token. */
async function runInstaller(
  script: string,
  root: string,
  secret: string,
  manager = "none",
  env: Record<string, string> = {},
) {
  const out = new Deno.Command("sh", {
    args: [script],
    env: { NC_INSTALL_ROOT: root, NC_SERVICE_MANAGER: manager, NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const { leaks, snapshots } = await watchCommandLines(secret, out);
  const r = await out;
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout) + d.decode(r.stderr), leaks, snapshots };
}

async function waitOnline(stack: Stack, token: string, agentId: string, pid: number) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const r = await fetch(`${stack.url}/api/agents`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const items = (await r.json()).items as { id: string; online: boolean }[];
    const seen = items.find((a) => a.id === agentId);
    if (seen?.online) {
      // Online through this very process (not a leftover): its log says so.
      return items;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`agent ${agentId} (pid ${pid}) did not come online`);
}

/**
 * A throwaway root (in a temp dir) whose agent is killed and files removed with the stack, and
 * the agent executable `content` served by the stack's cloud.
 */
async function throwawayRoot(stack: Stack, content: string) {
  const tmp = await Deno.makeTempDir({ prefix: "nc-installer-" });
  const downloads = `${stack.dataDir}/downloads`;
  await Deno.mkdir(downloads, { recursive: true });
  await Deno.writeTextFile(`${downloads}/${AGENT_FILE}`, content);
  const root = `${tmp}/root`;
  const state = `${root}/var/lib/nanodems-agent`;
  stack.defer(async () => {
    killPidFile(`${state}/agent.pid`);
    await Deno.remove(tmp, { recursive: true });
  });
  return { tmp, root, state, downloads };
}

/** Runs `connector-agent status` as installed under `root`. */
async function agentStatus(root: string, state: string) {
  const status = await new Deno.Command(`${root}/usr/local/bin/connector-agent`, {
    args: ["status", "--state", state],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: status.code, text: new TextDecoder().decode(status.stdout) };
}

/** A quickstart site's installer.sh, downloaded by an admin into `tmp`, and its token. */
async function siteInstaller(stack: Stack, tmp: string) {
  const q = await stack.quickstart([22]);
  const script = `${tmp}/installer.sh`;
  assertEquals(
    await curl(`${stack.url}/api/sites/${q.siteId}/installer.sh`, q.apiToken, script),
    200,
  );
  const secret = /ENROLL_TOKEN='(enr_[A-Za-z0-9_-]+)\./.exec(await Deno.readTextFile(script))![1];
  return { q, script, secret };
}

function killPidFile(path: string) {
  try {
    // An empty or garbled file must not become kill(0): that signals the whole process group,
    // which is the test runner itself — the suite would end with no summary and no failure.
    const pid = Number(Deno.readTextFileSync(path).trim());
    if (Number.isInteger(pid) && pid > 1 && pid !== Deno.pid) Deno.kill(pid, "SIGKILL");
  } catch { /* not running */ }
}

Deno.test("installer.sh: verify, enroll through a file, online; re-run upgrades and keeps the id; tampered download refused", async () => {
  const stack = await Stack.start();
  const v1 = launcher("v1");
  const { tmp, root, state, downloads } = await throwawayRoot(stack, v1);
  try {
    const q = await stack.quickstart([22]);

    // The admin downloads the site's installer with curl.
    const script = `${tmp}/installer.sh`;
    const url = `${stack.url}/api/sites/${q.siteId}/installer.sh`;
    assertEquals(await curl(url, q.apiToken, script), 200);
    const text = await Deno.readTextFile(script);
    const secret = /ENROLL_TOKEN='(enr_[A-Za-z0-9_-]+)\./.exec(text)![1];
    assertStringIncludes(
      text,
      `SHA256_LINUX_${ARCH.toUpperCase()}='${await sha256(new TextEncoder().encode(v1))}'`,
    );

    // The watcher does see a secret on a command line (so an empty result below means something).
    const control = new Deno.Command("sh", { args: ["-c", "sleep 0.3", `x-${secret}`] }).output();
    assert((await watchCommandLines(secret, control)).leaks.length > 0, "watcher is blind");

    // First run: installs, enrolls, starts; the agent comes online.
    const first = await runInstaller(script, root, secret);
    assertEquals(first.code, 0, first.out);
    assertStringIncludes(first.out, "checksum verified");
    assertStringIncludes(
      first.out,
      "the agent is online (control stream up via cloud node node-1)",
    );
    assertStringIncludes(first.out, "tunnels ready: the data channel to the cloud is open");
    // The agent itself waited (`status --wait`, what the Windows installer runs too), then showed
    // its status.
    assertStringIncludes(first.out, "waiting up to 30 s for the agent to reach the cloud");
    assertStringIncludes(first.out, "data:     ok since");
    assertStringIncludes(first.out, "logs:");
    assertStringIncludes(first.out, "status:");
    assertEquals(first.leaks, [], "the token appeared on a command line");
    assert(first.snapshots > 3, `only ${first.snapshots} process snapshots`);
    assertEquals(await Deno.readTextFile(`${root}/usr/local/bin/connector-agent`), v1);
    assertEquals((await Deno.stat(`${root}/usr/local/bin/connector-agent`)).mode! & 0o777, 0o755);
    assertEquals((await Deno.stat(state)).mode! & 0o777, 0o700);
    assertEquals((await Deno.stat(`${state}/agent.key`)).mode! & 0o777, 0o600);
    const names = [...Deno.readDirSync(state)].map((e) => e.name);
    assert(!names.some((n) => n.includes("token")), `token file left: ${names}`);
    const id1 = JSON.parse(await Deno.readTextFile(`${state}/agent.json`)).agentId as string;
    const pid1 = Number(await Deno.readTextFile(`${state}/agent.pid`));
    await waitOnline(stack, q.apiToken, id1, pid1);

    // `connector agent status` on that state directory reports the background agent.
    const status = await agentStatus(root, state);
    const statusText = status.text;
    assertEquals(status.code, 0, statusText);
    assertStringIncludes(statusText, id1);
    assertStringIncludes(statusText, `pid ${pid1} running`);
    assertStringIncludes(statusText, "control:  up via node-1 since");
    assertStringIncludes(statusText, "data:     ok since");

    // The cloud gets a new executable; a fresh installer upgrades in place, keeping the id.
    const v2 = launcher("v2");
    await Deno.writeTextFile(`${downloads}/${AGENT_FILE}`, v2);
    assertEquals(await curl(url, q.apiToken, script), 200);
    const again = await runInstaller(script, root, secret);
    assertEquals(again.code, 0, again.out);
    assertStringIncludes(again.out, "already enrolled");
    // The new agent's own link, not the old one's (removed before the start), made it say so.
    assertStringIncludes(again.out, "tunnels ready: the data channel to the cloud is open");
    assertEquals(await Deno.readTextFile(`${root}/usr/local/bin/connector-agent`), v2);
    const id2 = JSON.parse(await Deno.readTextFile(`${state}/agent.json`)).agentId;
    assertEquals(id2, id1);
    const pid2 = Number(await Deno.readTextFile(`${state}/agent.pid`));
    assert(pid2 !== pid1, "the agent was not restarted");
    assert(!(await exists(`/proc/${pid1}`)), "the old agent still runs");
    const agents = await waitOnline(stack, q.apiToken, id1, pid2);
    assertEquals(agents.length, 1, "re-running must not enroll a second agent");

    // With systemd chosen, the installer hands over to `connector agent install`, which (under
    // NC_INSTALL_ROOT) writes the unit into the root and runs no systemctl.
    const sd = await runInstaller(script, root, secret, "systemd");
    assertEquals(sd.code, 0, sd.out);
    assertStringIncludes(sd.out, "skipped (--root");
    assertStringIncludes(sd.out, "journalctl -u nanodems-agent");
    const unit = await Deno.readTextFile(`${root}/etc/systemd/system/nanodems-agent.service`);
    assertStringIncludes(
      unit,
      `ExecStart=${root}/usr/local/bin/connector-agent run --state ${state}`,
    );

    // A download altered after the installer was made is refused; nothing is installed.
    const fresh = `${tmp}/root2`;
    await Deno.writeTextFile(`${downloads}/${AGENT_FILE}`, v2 + "# tampered\n");
    const tampered = await runInstaller(script, fresh, secret);
    assertEquals(tampered.code, 1);
    assertStringIncludes(tampered.out, "checksum mismatch");
    assertStringIncludes(tampered.out, "nothing was installed");
    assert(!(await exists(fresh)), "the tampered run wrote files");
  } finally {
    await stack.stop();
  }
});

Deno.test("one-line install whose enrollment answer could not be saved: the same command again finishes it", async () => {
  const stack = await Stack.start();
  const { tmp, root, state } = await throwawayRoot(stack, launcher("v1"));
  try {
    const q = await stack.quickstart([22]);
    const made = await fetch(`${stack.url}/api/sites/${q.siteId}/install-command`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(made.status, 201);
    const { linux, token } = await made.json() as { linux: string; token: string };
    const link = /'(http[^']+\/api\/install\/[^']+\.sh)'/.exec(linux)![1];
    const secret = token.split(".")[0];
    // What `curl -fsSL '<link>' | sudo sh` runs, fetched and run as the test's root can.
    const oneLiner = async () => {
      const r = await fetch(link);
      assertEquals(r.status, 200, `the link answered ${r.status}`);
      await Deno.writeTextFile(`${tmp}/one-line.sh`, await r.text());
      return await runInstaller(`${tmp}/one-line.sh`, root, secret);
    };

    // The cloud enrolls the machine, and the identity cannot be saved: a directory stands where
    // the certificate goes (what a full disk or a read-only file system does to the same write).
    await Deno.mkdir(`${state}/agent.pem`, { recursive: true });
    const first = await oneLiner();
    assertEquals(first.code, 1, first.out);
    assertStringIncludes(first.out, "but its identity cannot be saved");
    assertStringIncludes(first.out, "run the same command again");
    assertStringIncludes(first.out, "the agent is installed but not enrolled");
    const agentId = /enrolled this machine as (ag-[^,\s]+),/.exec(first.out)![1];

    // The technician frees the space and runs the same one-liner: the link still answers for
    // the used token, and the cloud hands this machine the identity it made.
    await Deno.remove(`${state}/agent.pem`, { recursive: true });
    const second = await oneLiner();
    assertEquals(second.code, 0, second.out);
    assertStringIncludes(second.out, "using this agent's private key from the earlier attempt");
    assertStringIncludes(
      second.out,
      "the agent is online (control stream up via cloud node node-1)",
    );
    assertEquals(JSON.parse(await Deno.readTextFile(`${state}/agent.json`)).agentId, agentId);
    const pid = Number(await Deno.readTextFile(`${state}/agent.pid`));
    const agents = await waitOnline(stack, q.apiToken, agentId, pid);
    assertEquals(agents.map((a) => a.id), [agentId], "one agent, not two");
    assertEquals([...first.leaks, ...second.leaks], [], "the token appeared on a command line");
  } finally {
    await stack.stop();
  }
});

Deno.test("installer.sh: a site whose firewall blocks the data port — online, with a warning that says why; status says blocked", async () => {
  // The data port as such a firewall leaves it: the cloud advertises a port nothing listens on.
  const blocked = closedPort();
  const stack = await Stack.start({ cloudArgs: ["--data-public-port", String(blocked)] });
  const { tmp, root, state } = await throwawayRoot(stack, launcher("v1"));
  try {
    const { script, secret } = await siteInstaller(stack, tmp);
    const r = await runInstaller(script, root, secret);
    assertEquals(r.code, 0, r.out);
    assertStringIncludes(r.out, "the agent is online (control stream up via cloud node node-1)");
    assertStringIncludes(
      r.out,
      `WARNING: the agent cannot open its data channel to the cloud: 127.0.0.1:${blocked}: `,
    );
    assertStringIncludes(r.out, "outbound TCP connections to the cloud's data port");
    assert(!r.out.includes("tunnels ready"), r.out);
    const status = await agentStatus(root, state);
    const statusText = status.text;
    assertStringIncludes(statusText, "control:  up via node-1 since");
    assertStringIncludes(statusText, `data:     blocked since `);
    assertStringIncludes(statusText, `127.0.0.1:${blocked}: `);
  } finally {
    await stack.stop();
  }
});

Deno.test("installer.sh behind an HTTP proxy: the https_proxy of the download is the agent's, kept for the service", async () => {
  const stack = await Stack.start();
  const { tmp, root, state } = await throwawayRoot(stack, launcher("v1"));
  const proxy = startConnectProxy({ user: "site", password: "Proxy-Secret-3" });
  stack.defer(proxy.close);
  try {
    const { script, secret } = await siteInstaller(stack, tmp);
    const r = await runInstaller(script, root, secret, "none", {
      https_proxy: proxy.url,
      DENO_NO_UPDATE_CHECK: "1",
    });
    assertEquals(r.code, 0, r.out);
    assertStringIncludes(r.out, "the agent will reach the cloud through the proxy in https_proxy");
    assertStringIncludes(r.out, "tunnels ready: the data channel to the cloud is open");
    assertEquals(r.out.includes("Proxy-Secret-3"), false, "the password is never printed");
    assertEquals(
      [...new Set(proxy.carried)].sort(),
      [
        stack.url.replace("http://", ""),
        `127.0.0.1:${stack.ports.control}`,
        `127.0.0.1:${stack.ports.data}`,
      ]
        .sort(),
      "the enrollment, the control stream and the data connection all went through the proxy",
    );
    assertEquals((await Deno.stat(`${state}/proxy.url`)).mode! & 0o777, 0o600);
    const status = await agentStatus(root, state);
    assertStringIncludes(status.text, "control:  up via node-1 since");
    assertStringIncludes(
      status.text,
      `proxy:    http://127.0.0.1:${proxy.port} (given at enrollment`,
    );
    assertEquals(status.text.includes("Proxy-Secret-3"), false);
  } finally {
    await stack.stop();
  }
});

Deno.test("installer.sh run again where the way out is now a proxy: the agent keeps it and comes back through it", async () => {
  const stack = await Stack.start();
  const { tmp, root, state } = await throwawayRoot(stack, launcher("v1"));
  const proxy = startConnectProxy();
  stack.defer(proxy.close);
  try {
    const { script, secret } = await siteInstaller(stack, tmp);
    const first = await runInstaller(script, root, secret);
    assertEquals(first.code, 0, first.out);
    assert(!(await exists(`${state}/proxy.url`)), "no proxy at first");
    assertEquals(proxy.carried, []);

    const again = await runInstaller(script, root, secret, "none", {
      https_proxy: proxy.url,
      DENO_NO_UPDATE_CHECK: "1",
    });
    assertEquals(again.code, 0, again.out);
    assertStringIncludes(again.out, "already enrolled");
    assertStringIncludes(again.out, `kept the proxy http://127.0.0.1:${proxy.port} for agent run`);
    assertStringIncludes(again.out, "tunnels ready: the data channel to the cloud is open");
    assertEquals(
      [...new Set(proxy.carried)].sort(),
      [`127.0.0.1:${stack.ports.control}`, `127.0.0.1:${stack.ports.data}`].sort(),
    );
    assertEquals((await Deno.stat(`${state}/proxy.url`)).mode! & 0o777, 0o600);
  } finally {
    await stack.stop();
  }
});

Deno.test("installer.sh: a cloud without executables — the endpoint says so and the installer stops with it", async () => {
  const stack = await Stack.start();
  const tmp = await Deno.makeTempDir({ prefix: "nc-installer-" });
  stack.defer(() => Deno.remove(tmp, { recursive: true }));
  try {
    const q = await stack.quickstart([22]);
    const r = await fetch(`${stack.url}/download/agent/linux/${ARCH}`);
    assertEquals(r.status, 404);
    const body = await r.json();
    assertEquals(body.error, "not_found");
    assertStringIncludes(body.message, "has no compiled executable");
    assertStringIncludes(body.message, "deno task compile");

    const script = `${tmp}/installer.sh`;
    const url = `${stack.url}/api/sites/${q.siteId}/installer.sh`;
    assertEquals(await curl(url, q.apiToken, script), 200);
    assertStringIncludes(
      await Deno.readTextFile(script),
      "none: the cloud has no executable for this platform",
    );
    const run = await runInstaller(script, `${tmp}/root`, "enr_never");
    assertEquals(run.code, 1);
    assertStringIncludes(run.out, `cannot download the agent: ${body.message}`);
    assert(!(await exists(`${tmp}/root`)), "nothing may be installed");
  } finally {
    await stack.stop();
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("agent enroll: the token from stdin (--token-file -); --if-needed skips an enrolled state", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const state = `${stack.dir}/stdin-agent`;
    const enroll = async (extra: string[], stdin: string) => {
      const p = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}src/main.ts`,
          "agent",
          "enroll",
          "--cloud",
          stack.url,
          "--state",
          state,
          ...extra,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
      const r = await p.output();
      return { code: r.code, err: new TextDecoder().decode(r.stderr) };
    };
    const first = await enroll(["--token-file", "-"], `${q.enrollmentToken}\n`);
    assertEquals(first.code, 0, first.err);
    const id = JSON.parse(await Deno.readTextFile(`${state}/agent.json`)).agentId;
    const skip = await enroll(["--if-needed", "--token-file", "-"], "");
    assertEquals(skip.code, 0, skip.err);
    assertStringIncludes(skip.err, "already enrolled");
    assertEquals(JSON.parse(await Deno.readTextFile(`${state}/agent.json`)).agentId, id);
  } finally {
    await stack.stop();
  }
});
