// `connector agent install | uninstall` through the real CLI with --root (files under a temp
// directory, no command run) and --dry-run, and the choice of service manager: where systemd
// does not run, install says so and what to do instead.
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../../_fixtures/assert.ts";
import { run } from "../../../_fixtures/stack.ts";
import { saveState } from "../../../../src/agent/state.ts";
import {
  createCA,
  createCsr,
  generateKeyPem,
  signClientCsr,
} from "../../../../src/shared/crypto/pki.ts";
import { systemdUnit } from "../../../../src/agent/service/systemd.ts";
import { launchdPlist } from "../../../../src/agent/service/launchd.ts";
import { chooseManager, parseWait, statusManager } from "../../../../src/agent/service/main.ts";
import { UsageError } from "../../../../src/shared/cli.ts";
import { installPlan, uninstallPlan } from "../../../../src/agent/service/plan.ts";
import { stopSignals } from "../../../../src/agent/service/stop.ts";

async function enrolledState(dir: string) {
  // A real key and its certificate: the state loader only accepts a matching pair.
  const ca = await createCA({ commonName: "test CA" });
  const keyPem = await generateKeyPem();
  const { certPem } = await signClientCsr({
    ca,
    csrPem: await createCsr({ keyPem, commonName: "x" }),
    commonName: "ag-test",
  });
  await saveState(dir, {
    agentId: "ag-test",
    siteId: "site-test",
    cloudUrl: "https://cloud.example.com",
    controlEndpoint: "cloud.example.com:8443",
    caPin: `sha256:${"0".repeat(64)}`,
    enrolledAt: new Date().toISOString(),
    keyPem,
    certPem,
    caPem: ca.certPem,
  });
}

Deno.test("install/uninstall --root: the systemd unit is written, no command runs, then removed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const state = `${dir}/state`;
    const root = `${dir}/root`;
    await enrolledState(state);
    const args = ["--manager", "systemd", "--root", root, "--exec", "/opt/agent", "--state", state];
    const r = await run(["agent", "install", ...args]);
    assertEquals(r.code, 0, r.stderr);
    const unit = `${root}/etc/systemd/system/nanodems-agent.service`;
    assertEquals(await Deno.readTextFile(unit), systemdUnit({ exec: "/opt/agent", state }));
    assertEquals((await Deno.stat(unit)).mode! & 0o777, 0o644);
    assertStringIncludes(r.stderr, "skipped (--root");
    assertStringIncludes(r.stderr, "systemctl enable nanodems-agent.service");

    const u = await run(["agent", "uninstall", ...args]);
    assertEquals(u.code, 0, u.stderr);
    await assertRejects(() => Deno.stat(unit));
    assertStringIncludes(u.stderr, `identity stays in ${state}`);
    await Deno.stat(`${state}/agent.json`); // kept without --purge
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install --root: the launchd daemon plist", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await enrolledState(`${dir}/state`);
    const r = await run([
      "agent",
      "install",
      "--manager",
      "launchd",
      "--root",
      `${dir}/root`,
      "--exec",
      "/usr/local/bin/connector-agent",
      "--state",
      `${dir}/state`,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      await Deno.readTextFile(`${dir}/root/Library/LaunchDaemons/com.nanodems.agent.plist`),
      launchdPlist({
        exec: "/usr/local/bin/connector-agent",
        state: `${dir}/state`,
        logFile: "/Library/Logs/Nanodems/agent.log",
      }),
    );
    assertStringIncludes(r.stderr, "launchctl bootstrap system");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install refuses an agent that is not enrolled; --dry-run shows the Windows steps", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await run([
      "agent",
      "install",
      "--manager",
      "systemd",
      "--root",
      dir,
      "--exec",
      "/x",
      "--state",
      `${dir}/none`,
    ]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "not enrolled");
    const w = await run([
      "agent",
      "install",
      "--manager",
      "windows",
      "--dry-run",
      "--exec",
      "C:\\Program Files\\Nanodems\\Agent\\connector-agent.exe",
      "--state",
      "C:\\ProgramData\\Nanodems\\Agent",
    ]);
    assertEquals(w.code, 0, w.stderr);
    assertStringIncludes(
      w.stderr,
      "would run icacls C:\\ProgramData\\Nanodems\\Agent /inheritance:r",
    );
    assertStringIncludes(w.stderr, "would run sc.exe create NanodemsAgent binPath=");
    assertStringIncludes(w.stderr, "would run sc.exe start NanodemsAgent");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the service manager: by platform, and a clear refusal where systemd does not run", () => {
  assertEquals(chooseManager("auto", "darwin", () => false), "launchd");
  assertEquals(chooseManager("auto", "windows", () => false), "windows");
  assertEquals(chooseManager("auto", "linux", () => true), "systemd");
  assertEquals(chooseManager("systemd", "linux", () => false), "systemd");
  let msg = "";
  try {
    chooseManager("auto", "linux", () => false);
  } catch (e) {
    msg = (e as Error).message;
  }
  assertStringIncludes(msg, "does not run systemd");
  assertStringIncludes(msg, "install/Containerfile");
  assertEquals(statusManager("auto", "linux", () => false), null, "status: no service, no failure");
  assertEquals(
    statusManager("none", "linux", () => true),
    null,
    "the installer's value is accepted",
  );
  assertEquals(statusManager("auto", "linux", () => true), "systemd");
  assert(/expected auto.*or none/.test((() => {
    try {
      chooseManager("upstart", "linux", () => true);
      return "";
    } catch (e) {
      return (e as Error).message;
    }
  })()));
});

Deno.test("plans: restart on every install (upgrade = same steps), purge only when asked", () => {
  const sd = installPlan("systemd", { exec: "/e", state: "/var/lib/nanodems-agent" });
  assertEquals(
    sd.filter((s) => s.kind === "run").map((s) => s.kind === "run" && s.argv.join(" ")),
    [
      "systemctl daemon-reload",
      "systemctl enable nanodems-agent.service",
      "systemctl restart nanodems-agent.service",
    ],
  );
  const ld = installPlan("launchd", { exec: "/e", state: "/s" });
  assert(
    ld.some((s) =>
      s.kind === "run" && s.argv.join(" ") === "launchctl kickstart -k system/com.nanodems.agent"
    ),
  );
  assert(
    !uninstallPlan("systemd", { state: "/s" }).some((s) => s.kind === "remove" && s.path === "/s"),
  );
  assert(
    uninstallPlan("systemd", { state: "/s", purge: true }).some((s) =>
      s.kind === "remove" && s.path === "/s"
    ),
  );
});

Deno.test("stop signals: SIGTERM where it exists, SIGBREAK on Windows (SIGTERM cannot be listened to there)", () => {
  assertEquals(stopSignals("linux"), ["SIGINT", "SIGTERM"]);
  assertEquals(stopSignals("darwin"), ["SIGINT", "SIGTERM"]);
  assertEquals(stopSignals("windows"), ["SIGINT", "SIGBREAK"]);
});

Deno.test("status --wait: whole seconds from 1 to 3600, a clear refusal otherwise", () => {
  assertEquals(parseWait(undefined), null);
  assertEquals(parseWait("30"), 30);
  for (const bad of ["0", "-1", "1.5", "30s", "", "3601"]) {
    assertThrows(() => parseWait(bad), UsageError, "--wait: expected a whole number of seconds");
  }
});
