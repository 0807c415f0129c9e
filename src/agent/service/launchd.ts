/**
 * The launchd daemon of the agent on macOS (`/Library/LaunchDaemons/com.nanodems.agent.plist`):
 * started at boot, kept alive (relaunched after a crash, at most every 5 s), logging to
 * /Library/Logs/Nanodems/agent.log with `--log-file` (moved to `agent.log.1` past 10 MiB while it
 * runs: launchd never rotates), where launchd also appends stdout and stderr (what comes before
 * the log is open, or a crash's last words).
 * @module
 */
import { LAUNCHD_LABEL } from "./paths.ts";

function xml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** The plist text for an executable, a state directory and a log file. */
export function launchdPlist(o: { exec: string; state: string; logFile: string }): string {
  const args = [o.exec, "run", "--state", o.state, "--log-file", o.logFile]
    .map((a) => `    <string>${xml(a)}</string>`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Nanodems Connector site agent (launchd). Written by `connector agent install`. -->",
    '<plist version="1.0">',
    "<dict>",
    "  <key>Label</key>",
    `  <string>${LAUNCHD_LABEL}</string>`,
    "  <key>ProgramArguments</key>",
    "  <array>",
    ...args,
    "  </array>",
    "  <key>RunAtLoad</key>",
    "  <true/>",
    "  <key>KeepAlive</key>",
    "  <true/>",
    "  <key>ThrottleInterval</key>",
    "  <integer>5</integer>",
    "  <key>Umask</key>",
    "  <integer>63</integer>",
    "  <key>StandardOutPath</key>",
    `  <string>${xml(o.logFile)}</string>`,
    "  <key>StandardErrorPath</key>",
    `  <string>${xml(o.logFile)}</string>`,
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}
