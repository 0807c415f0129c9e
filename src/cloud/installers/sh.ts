/**
 * The Linux/macOS installer (`GET /api/sites/{id}/installer.sh`): one POSIX sh script with the
 * site's one-shot join token, the cloud URL and the agent's SHA-256 per platform inside. Run as
 * root it downloads the agent for its OS/architecture, refuses a checksum mismatch before
 * touching the disk, installs it, enrolls (the token reaches the agent through a 0600 file in
 * the 0700 state directory, never a command line, and the file is deleted at once), then
 * `connector-agent install` sets up and starts the service. Re-running it upgrades in place: an
 * enrolled state directory is kept and enrollment skipped.
 *
 * The shell text below deliberately uses no `${…}` expansions (it lives in a JS template).
 * @module
 */
import { allPlatforms } from "../../shared/downloads.ts";
import { checkInstallerInput, commentSafe, type InstallerInput, platformVar } from "./input.ts";

const BODY = String.raw`
say() { printf 'nanodems-agent: %s\n' "$*"; }
die() { printf 'nanodems-agent: error: %s\n' "$*" >&2; exit 1; }

ROOT=$NC_INSTALL_ROOT
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  die "run this installer as root, e.g. sudo sh $0"
fi

case "$(uname -s)" in
  Linux) OS=linux ;;
  Darwin) OS=darwin ;;
  *) die "unsupported operating system $(uname -s); the agent runs on Linux, macOS and Windows (installer.cmd)" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x86_64 ;;
  aarch64 | arm64) ARCH=aarch64 ;;
  *) die "unsupported CPU architecture $(uname -m); the agent is built for x86_64 and aarch64" ;;
esac

case "$OS-$ARCH" in
@@CASES@@
esac
[ -n "$NC_AGENT_SHA256" ] && EXPECTED=$NC_AGENT_SHA256
URL="$CLOUD_URL/download/agent/$OS/$ARCH"
[ -n "$NC_AGENT_DOWNLOAD_URL" ] && URL=$NC_AGENT_DOWNLOAD_URL

BIN_DIR="$ROOT/usr/local/bin"
if [ "$OS" = darwin ]; then
  STATE_DIR="$ROOT/Library/Application Support/Nanodems/Agent"
  LOG_DIR="$ROOT/Library/Logs/Nanodems"
else
  STATE_DIR="$ROOT/var/lib/nanodems-agent"
  LOG_DIR="$ROOT/var/log/nanodems-agent"
fi
BIN="$BIN_DIR/connector-agent"

MANAGER=$NC_SERVICE_MANAGER
if [ -z "$MANAGER" ] || [ "$MANAGER" = auto ]; then
  if [ "$OS" = darwin ]; then
    MANAGER=launchd
  elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    MANAGER=systemd
  else
    die "this machine does not run systemd, so the agent cannot be installed as a service that survives reboots. Set NC_SERVICE_MANAGER=none to install it and start it in the background (not at boot), or run it in a container (see install/ in the Nanodems Connector sources)"
  fi
fi
case "$MANAGER" in
  systemd | launchd | none) ;;
  *) die "NC_SERVICE_MANAGER: expected auto, systemd, launchd or none, got $MANAGER" ;;
esac

umask 022
TMP=$(mktemp -d 2>/dev/null || mktemp -d -t nanodems-agent) || die "cannot create a temporary directory"
TOKEN_FILE=
cleanup() {
  rm -rf "$TMP"
  if [ -n "$TOKEN_FILE" ]; then rm -f "$TOKEN_FILE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Prints the HTTP status; the body goes to $2.
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -sS -L --retry 2 -o "$2" -w '%{http_code}' "$1" || printf '000'
  elif command -v wget >/dev/null 2>&1; then
    wget -S -O "$2" --content-on-error "$1" 2>"$TMP/wget.log"
    code=$(sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$TMP/wget.log" | tail -n 1)
    if [ -n "$code" ]; then printf '%s' "$code"; else printf '000'; fi
  else
    die "neither curl nor wget is installed; install one of them and run this installer again"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 "$1" | sed 's/^.*= *//'
  else
    die "no sha256sum, shasum or openssl to check the download with"
  fi
}

say "downloading the agent for $OS/$ARCH from $URL"
CODE=$(fetch "$URL" "$TMP/agent")
if [ "$CODE" != 200 ]; then
  MSG=$(sed -n 's/.*"message" *: *"\([^"]*\)".*/\1/p' "$TMP/agent" 2>/dev/null | head -n 1)
  [ -n "$MSG" ] || MSG="HTTP $CODE from $URL"
  die "cannot download the agent: $MSG"
fi
if [ -z "$EXPECTED" ]; then
  die "the cloud had no agent executable for $OS/$ARCH when this installer was made, so there is no checksum to verify the download against; download a fresh installer from the site page"
fi
GOT=$(sha256_of "$TMP/agent")
if [ "$GOT" != "$EXPECTED" ]; then
  die "checksum mismatch for the agent download: expected SHA-256 $EXPECTED, got $GOT. The download was altered or corrupted; nothing was installed"
fi
say "checksum verified (SHA-256 $GOT)"

mkdir -p "$BIN_DIR" "$LOG_DIR" "$STATE_DIR" || die "cannot create $BIN_DIR, $LOG_DIR or $STATE_DIR"
chmod 700 "$STATE_DIR" || die "cannot restrict $STATE_DIR"
cp "$TMP/agent" "$BIN.new" && chmod 755 "$BIN.new" && mv -f "$BIN.new" "$BIN" ||
  die "cannot install the agent at $BIN"
say "installed $BIN"

if [ -f "$STATE_DIR/agent.json" ]; then
  say "already enrolled (state in $STATE_DIR): keeping this agent's identity, upgrading in place"
  # Run again where the way out is now a proxy: the agent keeps it, as at enrollment.
  P=$NC_PROXY
  [ -n "$P" ] || P=$https_proxy
  [ -n "$P" ] || P=$HTTPS_PROXY
  if [ -n "$P" ]; then
    NC_PROXY=$P "$BIN" enroll --if-needed --cloud "$CLOUD_URL" --state "$STATE_DIR" ||
      die "the proxy in https_proxy cannot be used (see the message above)"
  fi
else
  # A site whose way out is an HTTP proxy: the https_proxy this download went through is the
  # agent's too. Enrollment keeps it (0600) for the service, which does not inherit this shell;
  # it goes by environment, never on a command line (its URL may hold a password).
  if [ -z "$NC_PROXY" ]; then
    NC_PROXY=$https_proxy
    [ -n "$NC_PROXY" ] || NC_PROXY=$HTTPS_PROXY
    [ -n "$NC_PROXY" ] && say "the agent will reach the cloud through the proxy in https_proxy (kept for the service)"
  fi
  [ -n "$NC_PROXY" ] && export NC_PROXY
  TOKEN_FILE="$STATE_DIR/.enroll-token"
  (umask 077 && printf '%s\n' "$ENROLL_TOKEN" >"$TOKEN_FILE") || die "cannot write $TOKEN_FILE"
  if ! "$BIN" enroll --cloud "$CLOUD_URL" --token-file "$TOKEN_FILE" --state "$STATE_DIR"; then
    die "enrollment failed (see the message above); the agent is installed but not enrolled"
  fi
  rm -f "$TOKEN_FILE"
  TOKEN_FILE=
fi

# The link status of an agent run before this one must not pass for the new agent's.
rm -f "$STATE_DIR/link.json"
if [ "$MANAGER" = none ]; then
  PID_FILE="$STATE_DIR/agent.pid"
  if [ -f "$PID_FILE" ]; then
    OLD=$(cat "$PID_FILE")
    if [ -n "$OLD" ] && kill "$OLD" 2>/dev/null; then
      say "stopping the running agent (pid $OLD)"
      i=0
      while kill -0 "$OLD" 2>/dev/null && [ "$i" -lt 30 ]; do
        sleep 1
        i=$((i + 1))
      done
    fi
  fi
  # --log-file keeps the log bounded (agent.log.1 past 10 MiB); the redirect catches what comes
  # before the log is open, or a crash's last words.
  nohup "$BIN" run --state "$STATE_DIR" --log-file "$STATE_DIR/agent.log" \
    >>"$STATE_DIR/agent.log" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  say "started the agent in the background (pid $!); NC_SERVICE_MANAGER=none: it will NOT start at boot"
  LOGS="$STATE_DIR/agent.log"
  UNINSTALL="kill \$(cat '$PID_FILE'); rm -f '$BIN'"
else
  if [ -n "$ROOT" ]; then
    "$BIN" install --manager "$MANAGER" --exec "$BIN" --state "$STATE_DIR" --root "$ROOT" ||
      die "installing the service failed (see the message above)"
  else
    "$BIN" install --manager "$MANAGER" --exec "$BIN" --state "$STATE_DIR" ||
      die "installing the service failed (see the message above)"
  fi
  if [ "$MANAGER" = systemd ]; then LOGS="journalctl -u nanodems-agent -f"; else LOGS="$LOG_DIR/agent.log"; fi
  UNINSTALL="$BIN uninstall --state '$STATE_DIR'"
fi

AGENT_ID=$(sed -n 's/.*"agentId": *"\([^"]*\)".*/\1/p' "$STATE_DIR/agent.json")
# Wait (up to 30 s) until the agent is online, then for its data channel, when it was started
# here: the agent itself reads the link.json it keeps in its state directory (the Windows
# installer does the same), and says "tunnels ready" or why not.
if [ "$MANAGER" = none ] || [ -z "$ROOT" ]; then
  "$BIN" status --state "$STATE_DIR" --wait 30 || true
fi
say "done: agent $AGENT_ID is installed and started; it shows up online on the cloud within seconds"
say "  status:    $BIN status --state '$STATE_DIR'"
say "  logs:      $LOGS"
say "  upgrade:   run this installer again (a fresh one from the site page works too)"
say "  uninstall: $UNINSTALL"
`;

/** Single-quotes a value for sh (the inputs are checked, this is belt and braces). */
function q(v: string): string {
  return `'${v.replaceAll("'", `'\\''`)}'`;
}

/** Writes the installer script. */
export function installerSh(input: InstallerInput): string {
  const i = checkInstallerInput(input);
  const vars = allPlatforms().map((p) =>
    `SHA256_${platformVar(p)}=${q(i.sha256(p) ?? "")}${
      i.sha256(p) ? "" : "  # none: the cloud has no executable for this platform"
    }`
  );
  const cases = allPlatforms().map((p) =>
    `  ${p.os}-${p.arch}) EXPECTED=$SHA256_${platformVar(p)} ;;`
  );
  const header = [
    "#!/bin/sh",
    `# Nanodems Connector — agent installer for site "${commentSafe(i.siteName)}" (Linux, macOS)`,
    `# Made by ${i.cloudUrl} on ${new Date().toISOString()}. It carries a ONE-SHOT enrollment`,
    `# token valid until ${
      new Date(i.expiresAt).toISOString()
    }: keep it private, delete it after use.`,
    "#",
    "# Run as root:   sudo sh installer.sh",
    "#",
    "# It downloads the agent for this OS/architecture from the cloud, verifies its SHA-256 (a",
    "# mismatch installs nothing), installs it as /usr/local/bin/connector-agent, enrolls this",
    "# machine (the token goes through a 0600 file, never a command line, and is deleted), installs",
    "# and starts the service (systemd unit nanodems-agent / launchd com.nanodems.agent), and prints",
    "# where the logs are. Running it again upgrades in place and keeps the agent's identity.",
    "#",
    "# Advanced and test knobs (environment variables):",
    "#   NC_INSTALL_ROOT=DIR        prefix every path written with DIR (tests, image builds)",
    "#   NC_AGENT_DOWNLOAD_URL=URL  download the agent from URL instead (still checksum-verified)",
    "#   NC_AGENT_SHA256=HEX        the SHA-256 to verify against instead of the embedded one",
    "#   NC_SERVICE_MANAGER=M       auto (default), systemd, launchd, or none: start the agent in",
    "#                              the background without a service (it will not start at boot)",
    "",
    `CLOUD_URL=${q(i.cloudUrl)}`,
    `ENROLL_TOKEN=${q(i.token)}`,
    ...vars,
  ];
  return header.join("\n") + "\n" + BODY.replace("@@CASES@@", cases.join("\n"));
}
