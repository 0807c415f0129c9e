/**
 * The Windows service `NanodemsAgent` as sc.exe commands (argument vectors, no shell): created
 * (or reconfigured on upgrade) to start automatically, run the agent with `run --service` (so
 * it answers the Service Control Manager itself; see windows_scm.ts), restart after a failure,
 * and log to a file in the state directory. Tested by content here; run only on Windows.
 * @module
 */
import { win32 } from "node:path";
import { WINDOWS_SERVICE } from "./paths.ts";

/** Quotes one argument of a Windows command line (the MSVC rules CommandLineToArgvW reverses). */
export function winQuote(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const ch of arg) {
    if (ch === "\\") {
      slashes++;
      continue;
    }
    out += "\\".repeat(ch === '"' ? slashes * 2 + 1 : slashes) + ch;
    slashes = 0;
  }
  return out + "\\".repeat(slashes * 2) + '"';
}

/** The service's command line (sc's binPath=): the agent in service mode with its paths. */
export function serviceCommandLine(o: { exec: string; state: string }): string {
  const log = win32.join(o.state, "logs", "agent.log");
  return [o.exec, "run", "--service", "--state", o.state, "--log-file", log].map(winQuote)
    .join(" ");
}

/** The sc.exe commands that install (or, when it exists, reconfigure) and start the service. */
export function scInstallCommands(
  o: { exec: string; state: string; exists: boolean },
): string[][] {
  const bin = serviceCommandLine(o);
  const n = WINDOWS_SERVICE;
  return [
    ...(o.exists
      ? [["sc.exe", "stop", n], ["sc.exe", "config", n, "binPath=", bin, "start=", "auto"]]
      : [[
        "sc.exe",
        "create",
        n,
        "binPath=",
        bin,
        "start=",
        "auto",
        "DisplayName=",
        "Nanodems Connector Agent",
      ]]),
    [
      "sc.exe",
      "description",
      n,
      "Nanodems Connector site agent: dials out to the cloud and carries tunnels to allowlisted LAN devices.",
    ],
    [
      "sc.exe",
      "failure",
      n,
      "reset=",
      "86400",
      "actions=",
      "restart/5000/restart/5000/restart/30000",
    ],
    ["sc.exe", "failureflag", n, "1"],
    ["sc.exe", "start", n],
  ];
}

/** The sc.exe commands that stop and remove the service. */
export function scUninstallCommands(): string[][] {
  return [["sc.exe", "stop", WINDOWS_SERVICE], ["sc.exe", "delete", WINDOWS_SERVICE]];
}

/** The state name in `sc query` output (RUNNING, STOPPED, …), or null when not installed. */
export function parseScQuery(text: string): string | null {
  const m = /STATE\s*:\s*\d+\s+([A-Z_]+)/.exec(text);
  return m ? m[1] : null;
}
