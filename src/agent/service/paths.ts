/**
 * Where an installed agent lives on each platform, and the service names: one table the service
 * definitions, `connector agent install | uninstall | status` and the README agree on.
 * Linux: /usr/local/bin, /var/lib/nanodems-agent, systemd unit nanodems-agent (logs in journald).
 * macOS: /usr/local/bin, /Library/Application Support/Nanodems/Agent, launchd daemon
 * com.nanodems.agent (logs in /Library/Logs/Nanodems). Windows: %ProgramFiles%\Nanodems\Agent,
 * %ProgramData%\Nanodems\Agent (logs under it), service NanodemsAgent.
 * @module
 */
import { posix, win32 } from "node:path";

/** The operating systems the agent installs on. */
export type ServiceOs = "linux" | "darwin" | "windows";

/** The systemd unit name (without .service). */
export const SYSTEMD_UNIT = "nanodems-agent";
/** The launchd label. */
export const LAUNCHD_LABEL = "com.nanodems.agent";
/** The Windows service name (`sc query NanodemsAgent`). */
export const WINDOWS_SERVICE = "NanodemsAgent";

/** The installed layout of one platform. */
export interface ServicePaths {
  /** The agent executable. */
  exec: string;
  /** The state directory (key, certificate, identity). */
  state: string;
  /** The service definition file (unit, plist), or null (Windows keeps it in the registry). */
  definition: string | null;
  /** A log file, or null when logs go to the journal. */
  logFile: string | null;
}

/** The default installed layout of a platform. */
export function servicePaths(
  os: ServiceOs,
  env: Record<string, string | undefined> = {},
): ServicePaths {
  if (os === "windows") {
    const state = win32.join(env.ProgramData ?? "C:\\ProgramData", "Nanodems", "Agent");
    return {
      exec: win32.join(
        env.ProgramFiles ?? "C:\\Program Files",
        "Nanodems",
        "Agent",
        "connector-agent.exe",
      ),
      state,
      definition: null,
      logFile: win32.join(state, "logs", "agent.log"),
    };
  }
  if (os === "darwin") {
    return {
      exec: "/usr/local/bin/connector-agent",
      state: "/Library/Application Support/Nanodems/Agent",
      definition: `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist`,
      logFile: "/Library/Logs/Nanodems/agent.log",
    };
  }
  return {
    exec: "/usr/local/bin/connector-agent",
    state: "/var/lib/nanodems-agent",
    definition: `/etc/systemd/system/${SYSTEMD_UNIT}.service`,
    logFile: null,
  };
}

/** The directory of a path on the given platform. */
export function dirOf(os: ServiceOs, path: string): string {
  return os === "windows" ? win32.dirname(path) : posix.dirname(path);
}
