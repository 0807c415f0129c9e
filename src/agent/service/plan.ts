/**
 * Installing and removing the agent's service as a list of steps (write this file, run that
 * command), built by pure functions per service manager and carried out by one executor. The
 * steps can be printed instead (`--dry-run`), and `--root DIR` writes every file under DIR and
 * runs no command (tests, image builds).
 * @module
 */
import { join, win32 } from "node:path";
import { launchdPlist } from "./launchd.ts";
import { LAUNCHD_LABEL, type ServiceOs, servicePaths, SYSTEMD_UNIT } from "./paths.ts";
import { systemdUnit } from "./systemd.ts";
import { scInstallCommands, scUninstallCommands } from "./windows.ts";
import { dirOf } from "./paths.ts";

/** The service managers `connector agent install` knows. */
export const MANAGERS = ["systemd", "launchd", "windows"] as const;
/** A service manager. */
export type Manager = (typeof MANAGERS)[number];

/** One step of an install or uninstall. */
export type Step =
  | { kind: "mkdir"; path: string }
  | { kind: "write"; path: string; content: string; mode: number }
  | { kind: "remove"; path: string }
  | { kind: "run"; argv: string[]; mayFail?: boolean };

/** The OS a manager belongs to. */
export function osOf(m: Manager): ServiceOs {
  return m === "systemd" ? "linux" : m === "launchd" ? "darwin" : "windows";
}

/** The steps that install (or update) and start the service. */
export function installPlan(
  m: Manager,
  o: { exec: string; state: string; exists?: boolean },
): Step[] {
  const paths = servicePaths(osOf(m));
  if (m === "systemd") {
    return [
      {
        kind: "write",
        path: paths.definition!,
        content: systemdUnit(o),
        mode: 0o644,
      },
      { kind: "run", argv: ["systemctl", "daemon-reload"] },
      { kind: "run", argv: ["systemctl", "enable", `${SYSTEMD_UNIT}.service`] },
      { kind: "run", argv: ["systemctl", "restart", `${SYSTEMD_UNIT}.service`] },
    ];
  }
  if (m === "launchd") {
    const target = `system/${LAUNCHD_LABEL}`;
    return [
      { kind: "mkdir", path: dirOf("darwin", paths.logFile!) },
      {
        kind: "write",
        path: paths.definition!,
        content: launchdPlist({ ...o, logFile: paths.logFile! }),
        mode: 0o644,
      },
      { kind: "run", argv: ["launchctl", "bootout", target], mayFail: true },
      { kind: "run", argv: ["launchctl", "bootstrap", "system", paths.definition!] },
      { kind: "run", argv: ["launchctl", "enable", target] },
      { kind: "run", argv: ["launchctl", "kickstart", "-k", target] },
    ];
  }
  return [
    { kind: "mkdir", path: win32.join(o.state, "logs") },
    // The key must be readable by SYSTEM and Administrators only (SIDs: every language).
    {
      kind: "run",
      argv: [
        "icacls",
        o.state,
        "/inheritance:r",
        "/grant:r",
        "*S-1-5-18:(OI)(CI)F",
        "*S-1-5-32-544:(OI)(CI)F",
      ],
    },
    ...scInstallCommands({ ...o, exists: o.exists ?? false }).map((argv): Step => ({
      kind: "run",
      argv,
      // Stopping a service that is not running fails harmlessly.
      mayFail: argv[1] === "stop",
    })),
  ];
}

/** The steps that stop and remove the service (the state directory is kept unless purged). */
export function uninstallPlan(m: Manager, o: { state: string; purge?: boolean }): Step[] {
  const paths = servicePaths(osOf(m));
  const purge: Step[] = o.purge ? [{ kind: "remove", path: o.state }] : [];
  if (m === "systemd") {
    return [
      {
        kind: "run",
        argv: ["systemctl", "disable", "--now", `${SYSTEMD_UNIT}.service`],
        mayFail: true,
      },
      { kind: "remove", path: paths.definition! },
      { kind: "run", argv: ["systemctl", "daemon-reload"] },
      ...purge,
    ];
  }
  if (m === "launchd") {
    return [
      { kind: "run", argv: ["launchctl", "bootout", `system/${LAUNCHD_LABEL}`], mayFail: true },
      { kind: "remove", path: paths.definition! },
      ...purge,
    ];
  }
  return [
    ...scUninstallCommands().map((argv): Step => ({ kind: "run", argv, mayFail: true })),
    ...purge,
  ];
}

/** A step in words. */
export function describeStep(s: Step, root = ""): string {
  switch (s.kind) {
    case "mkdir":
      return `create ${root ? join(root, s.path) : s.path}`;
    case "write":
      return `write ${root ? join(root, s.path) : s.path} (mode ${s.mode.toString(8)})`;
    case "remove":
      return `remove ${root ? join(root, s.path) : s.path}`;
    case "run":
      return `run ${s.argv.join(" ")}`;
  }
}

/** Carries out a plan; with `root` files go under it and no command runs. */
export async function executePlan(
  steps: Step[],
  o: { root?: string; dryRun?: boolean; say: (line: string) => void },
): Promise<void> {
  const root = o.root ?? "";
  const at = (p: string) => (root ? join(root, p) : p);
  for (const s of steps) {
    if (o.dryRun) {
      o.say(`would ${describeStep(s, root)}`);
      if (s.kind === "write") o.say(s.content.replace(/^/gm, "    "));
      continue;
    }
    if (s.kind === "mkdir") await Deno.mkdir(at(s.path), { recursive: true });
    else if (s.kind === "write") {
      await Deno.mkdir(join(at(s.path), ".."), { recursive: true });
      await Deno.writeTextFile(at(s.path), s.content, { mode: s.mode });
      await Deno.chmod(at(s.path), s.mode).catch(() => {});
    } else if (s.kind === "remove") {
      await Deno.remove(at(s.path), { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    } else if (root) {
      o.say(`skipped (--root ${root}): ${s.argv.join(" ")}`);
      continue;
    } else {
      const r = await new Deno.Command(s.argv[0], {
        args: s.argv.slice(1),
        stdout: "piped",
        stderr: "piped",
      }).output().catch((e: Error) => ({
        success: false,
        stderr: new TextEncoder().encode(e.message),
      }));
      if (!r.success && !s.mayFail) {
        throw new Error(
          `${s.argv.join(" ")} failed: ${new TextDecoder().decode(r.stderr).trim()}`,
        );
      }
    }
    o.say(describeStep(s, root));
  }
}
