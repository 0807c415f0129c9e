/**
 * The systemd unit of the agent (`/etc/systemd/system/nanodems-agent.service`, also shipped as
 * install/nanodems-agent.service). Restart=always; sandboxing that V8 tolerates: no
 * MemoryDenyWriteExecute (the JIT needs writable-then-executable pages), the rest of the usual
 * hardening on, the file system read-only but for the state directory, no capabilities.
 * @module
 */
import { SYSTEMD_UNIT } from "./paths.ts";

/** Quotes one word of an ExecStart line when it needs it (systemd's C-style quoting). */
function word(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `"${w.replace(/(["\\])/g, "\\$1")}"`;
}

/** The unit text for an executable and a state directory. */
export function systemdUnit(o: { exec: string; state: string }): string {
  const stateDirectory = o.state.startsWith("/var/lib/")
    ? [`StateDirectory=${o.state.slice("/var/lib/".length)}`, "StateDirectoryMode=0700"]
    : [];
  return [
    "# Nanodems Connector site agent (systemd). Written by `connector agent install`;",
    "# the same text ships as install/nanodems-agent.service. Logs: journalctl -u nanodems-agent",
    "[Unit]",
    "Description=Nanodems Connector site agent",
    "Wants=network-online.target",
    "After=network-online.target",
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${[o.exec, "run", "--state", o.state].map(word).join(" ")}`,
    "Restart=always",
    "RestartSec=5",
    "TimeoutStopSec=15",
    ...stateDirectory,
    `ReadWritePaths=${word(o.state)}`,
    "UMask=0077",
    "# Hardening that V8 tolerates: deliberately no MemoryDenyWriteExecute (JIT).",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    "SystemCallArchitectures=native",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "LimitNOFILE=65536",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** The unit's file name. */
export const SYSTEMD_UNIT_FILE = `${SYSTEMD_UNIT}.service`;
