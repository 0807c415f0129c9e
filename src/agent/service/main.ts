/**
 * `connector agent install | uninstall | status`: the agent as a service of the machine's own
 * service manager — a systemd unit on Linux, a launchd daemon on macOS, the Windows service
 * NanodemsAgent — and what state it is in (service state, agent id, site, cloud, where logs
 * are). Where there is no service manager it says so and what to do instead.
 * @module
 */
import { basename, join } from "node:path";
import { type OptionSpec, parseFlags, renderOptions, UsageError } from "../../shared/cli.ts";
import { loadProxySetting } from "../proxy_setting.ts";
import { parseProxyUrl } from "../../shared/transport/proxy.ts";
import { defaultStateDir, loadState } from "../state.ts";
import { executePlan, installPlan, type Manager, MANAGERS, osOf, uninstallPlan } from "./plan.ts";
import {
  LAUNCHD_LABEL,
  type ServiceOs,
  servicePaths,
  SYSTEMD_UNIT,
  WINDOWS_SERVICE,
} from "./paths.ts";
import { parseScQuery } from "./windows.ts";
import { describeData, describeLink, processAlive, readLinkStatus } from "../link_status.ts";
import { describeWait, waitForLink } from "../link_wait.ts";
import { commandHint } from "../../shared/invocation.ts";

/** The options of install, uninstall and status. */
export const serviceOptions: Record<string, OptionSpec> = {
  manager: {
    type: "string",
    env: "NC_SERVICE_MANAGER",
    arg: "NAME",
    default: "auto",
    help: `auto, ${MANAGERS.join(", ")} or none (no service manager; as the installer's)`,
  },
  exec: {
    type: "string",
    env: "NC_AGENT_EXEC",
    arg: "PATH",
    default: "this executable",
    help: "install: the agent executable (or launcher) the service runs",
  },
  state: {
    type: "string",
    env: "NC_STATE_DIR",
    arg: "DIR",
    default: "the platform's service state directory",
    help: "The agent's state directory",
  },
  root: {
    type: "string",
    env: "NC_INSTALL_ROOT",
    arg: "DIR",
    help: "install/uninstall: write files under DIR and run no command (tests, image builds)",
  },
  "dry-run": { type: "boolean", help: "install/uninstall: print the steps, change nothing" },
  purge: { type: "boolean", help: "uninstall: also delete the state directory (the identity)" },
  wait: {
    type: "string",
    arg: "SECONDS",
    help:
      "status: first wait up to SECONDS for the agent to come online, then up to 20 s for its " +
      "data channel (what the site installers do); exit 0 only when tunnels can reach this site",
  },
};

/** Help for the service commands. */
export const SERVICE_HELP = `Service commands (run as root / Administrator):
  connector agent install     install and start the service (systemd, launchd or Windows)
  connector agent uninstall   stop and remove it (the identity stays unless --purge)
  connector agent status      service state, agent id, site, cloud, link, proxy, logs
  connector agent status --wait 30
                              wait for a just-started agent: "tunnels ready", or why not

Options of install, uninstall and status:
${renderOptions(serviceOptions)}`;

function hostOs(): ServiceOs {
  const os = Deno.build.os;
  return os === "windows" || os === "darwin" ? os : "linux";
}

function hasSystemd(): boolean {
  try {
    return Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
}

/** Picks the service manager: the flag, else the platform's (systemd only where it runs). */
export function chooseManager(
  wanted: string,
  os: ServiceOs,
  systemdRunning: () => boolean,
): Manager {
  if (wanted === "none") {
    throw new UsageError(
      "--manager none / NC_SERVICE_MANAGER=none: there is no service to install or remove; run " +
        "'connector agent run' under your own supervisor (the site installer starts it in the " +
        "background)",
    );
  }
  if (wanted !== "auto") {
    if (!(MANAGERS as readonly string[]).includes(wanted)) {
      throw new UsageError(
        `--manager / NC_SERVICE_MANAGER: expected auto, ${
          MANAGERS.join(", ")
        } or none; got "${wanted}"`,
      );
    }
    return wanted as Manager;
  }
  if (os === "windows") return "windows";
  if (os === "darwin") return "launchd";
  if (systemdRunning()) return "systemd";
  throw new UsageError(
    "this machine does not run systemd (no /run/systemd/system), so there is no service manager " +
      "to install the agent into. Run 'connector agent run' under your own supervisor (a " +
      "container with a restart policy: see install/Containerfile and install/kubernetes.yaml), " +
      "or pass --manager systemd to write the unit anyway",
  );
}

/**
 * The manager `status` asks, or null when the agent is not a service here (`none`, or `auto` on
 * a Linux machine without systemd): status then reports the agent without a service part.
 */
export function statusManager(
  wanted: string,
  os: ServiceOs,
  systemdRunning: () => boolean,
): Manager | null {
  if (wanted === "none" || (wanted === "auto" && os === "linux" && !systemdRunning())) return null;
  return chooseManager(wanted, os, systemdRunning);
}

/** The state directory status reads: the flag, else the service's, else the user's default. */
async function statusStateDir(given: string | undefined, os: ServiceOs): Promise<string> {
  if (given) return given;
  const candidates = [servicePaths(os).state, defaultStateDir()];
  for (const dir of candidates) {
    if (await loadState(dir).catch(() => null)) return dir;
  }
  return candidates[0];
}

/** `--wait SECONDS`: null when absent; a whole number of seconds from 1 to 3600. */
export function parseWait(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1 || n > 3600) {
    throw new UsageError(`--wait: expected a whole number of seconds from 1 to 3600; got "${v}"`);
  }
  return n;
}

function defaultExec(os: ServiceOs): string {
  const self = Deno.execPath();
  if (!/^deno(\.exe)?$/i.test(basename(self))) return self;
  // Running from source: the service must start a launcher or compiled agent, not bare deno.
  const installed = servicePaths(os).exec;
  try {
    Deno.statSync(installed);
    return installed;
  } catch {
    throw new UsageError(
      "running from source under deno: pass --exec PATH to the agent executable or to a launcher " +
        "script that runs 'connector agent \"$@\"'",
    );
  }
}

async function output(argv: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const r = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const d = new TextDecoder();
    return { ok: r.success, text: (d.decode(r.stdout) + d.decode(r.stderr)).trim() };
  } catch (e) {
    return { ok: false, text: (e as Error).message };
  }
}

/** The service's state in words, asked of its manager. */
async function serviceState(m: Manager): Promise<{ line: string; up: boolean }> {
  if (m === "systemd") {
    const active = (await output(["systemctl", "is-active", `${SYSTEMD_UNIT}.service`])).text;
    const enabled = (await output(["systemctl", "is-enabled", `${SYSTEMD_UNIT}.service`])).text;
    return { line: `${SYSTEMD_UNIT} (systemd): ${active}, ${enabled}`, up: active === "active" };
  }
  if (m === "launchd") {
    const r = await output(["launchctl", "print", `system/${LAUNCHD_LABEL}`]);
    const st = /\bstate = (\w+)/.exec(r.text)?.[1] ?? (r.ok ? "unknown" : "not installed");
    return { line: `${LAUNCHD_LABEL} (launchd): ${st}`, up: st === "running" };
  }
  const r = await output(["sc.exe", "query", WINDOWS_SERVICE]);
  const st = parseScQuery(r.text) ?? "not installed";
  return { line: `${WINDOWS_SERVICE} (Windows service): ${st}`, up: st === "RUNNING" };
}

/** A background agent started by the installer with NC_SERVICE_MANAGER=none (pid file). */
async function backgroundState(state: string): Promise<{ line: string; up: boolean } | null> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(join(state, "agent.pid"))).trim());
  } catch {
    return null;
  }
  let up = false;
  try {
    up = pid > 0 && (await Deno.stat(`/proc/${pid}`)).isDirectory;
  } catch { /* gone */ }
  return {
    line: `background process (no service manager): pid ${pid} ${up ? "running" : "not running"}`,
    up,
  };
}

/** Entry point of `connector agent install | uninstall | status`; returns the exit code. */
export async function serviceMain(sub: string, argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, serviceOptions);
  if (values.help) return (console.log(SERVICE_HELP), 0);
  const os = hostOs();
  const say = (line: string) => console.error(line);
  const root = values.root as string | undefined;
  const dryRun = Boolean(values["dry-run"]);
  const wanted = String(values.manager ?? "auto");

  if (sub === "status") {
    const waitS = parseWait(values.wait as string | undefined);
    const state = await statusStateDir(values.state as string | undefined, os);
    let waited: boolean | null = null;
    const enrolled = await loadState(state).catch(() => null);
    if (waitS !== null && !enrolled) {
      console.log(`not enrolled (no identity in ${state}): no agent to wait for`);
      waited = false;
    } else if (waitS !== null && enrolled) {
      console.log(`waiting up to ${waitS} s for the agent to reach the cloud …`);
      const w = await waitForLink(state, { onlineMs: waitS * 1000 });
      const statusCommand = commandHint("agent", ["status"], { state });
      const hint = { statusCommand, cloudUrl: enrolled.cloudUrl };
      for (const line of describeWait(w, hint)) console.log(line);
      waited = w.kind === "ready";
    }
    const bg = wanted === "auto" || wanted === "none" ? await backgroundState(state) : null;
    const manager = bg ? null : statusManager(wanted, os, hasSystemd);
    const svc = bg ??
      (manager ? await serviceState(manager) : { line: "not installed as a service", up: false });
    const id = enrolled;
    const link = await readLinkStatus(state);
    const running = link !== null && processAlive(link.pid);
    const logs = bg
      ? join(state, "agent.log")
      : manager === "systemd"
      ? `journalctl -u ${SYSTEMD_UNIT}`
      : manager
      ? servicePaths(os).logFile
      : "where 'agent run' writes them (stderr, or --log-file)";
    console.log(`service:  ${svc.line}`);
    if (!bg) {
      console.log(
        `process:  ${running ? `agent running, pid ${link!.pid}` : "no agent process running"}`,
      );
    }
    console.log(
      `agent:    ${
        id ? `${id.agentId} (site ${id.siteId})` : `not enrolled (no identity in ${state})`
      }`,
    );
    if (id) console.log(`cloud:    ${id.cloudUrl} (control ${id.controlEndpoint})`);
    const savedProxy = await loadProxySetting(state);
    if (savedProxy) {
      let shown = "(not a proxy URL: agent run refuses it)";
      try {
        shown = parseProxyUrl(savedProxy).display; // never the password
      } catch { /* shown as unusable */ }
      console.log(`proxy:    ${shown} (given at enrollment; --proxy off overrides)`);
    }
    console.log(`control:  ${describeLink(link, running)}`);
    console.log(`data:     ${describeData(link, running)}`);
    console.log(`state:    ${state}`);
    console.log(`logs:     ${logs}`);
    if (waited !== null) return waited ? 0 : 3;
    return id && (svc.up || running) ? 0 : 3;
  }

  if (sub !== "install" && sub !== "uninstall") {
    throw new UsageError(`unknown agent command "${sub}"`);
  }
  const manager = chooseManager(wanted, os, () => Boolean(root) || hasSystemd());
  const state = (values.state as string | undefined) ?? servicePaths(osOf(manager)).state;
  if (!root && !dryRun && os !== "windows" && Deno.uid?.() !== 0) {
    throw new UsageError(`${sub} changes the system's services: run it as root (sudo)`);
  }
  if (sub === "uninstall") {
    await executePlan(uninstallPlan(manager, { state, purge: Boolean(values.purge) }), {
      root,
      dryRun,
      say,
    });
    say(
      values.purge
        ? "uninstalled; the agent's identity is deleted: revoke it on the cloud (Agents page)"
        : `uninstalled; the agent's identity stays in ${state} (reinstalling keeps it; --purge deletes it)`,
    );
    return 0;
  }
  const exec = (values.exec as string | undefined) ?? defaultExec(osOf(manager));
  if (!dryRun && !await loadState(state).catch(() => null)) {
    throw new UsageError(
      `not enrolled: no agent identity in ${state}; run 'connector agent enroll --cloud URL --token-file FILE --state ${state}' first (the site's installer does both)`,
    );
  }
  const exists = manager === "windows" && !dryRun &&
    (await output(["sc.exe", "query", WINDOWS_SERVICE])).ok;
  const plan = installPlan(manager, { exec, state, exists });
  await executePlan(plan, { root, dryRun, say });
  if (!dryRun) {
    say(`installed and started the ${manager} service running ${exec}`);
    say(`check it with: ${exec} status --state ${JSON.stringify(state)}`);
  }
  return 0;
}
