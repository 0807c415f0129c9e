/**
 * Run by `deno task test` before the tests: makes sure the real peers the tests use are on this
 * machine, installing Debian packages when it can, or failing with exactly what is missing.
 * @module
 */
import { ensureFerretDb, FERRETDB_VERSION } from "./ferretdb.ts";

const NEEDED: { bin: string; pkg: string; why: string; check?: string }[] = [
  {
    bin: "openssl",
    pkg: "openssl",
    why: "independent verification of the certificates the CA issues",
  },
  { bin: "ssh", pkg: "openssh-client", why: "OpenSSH through the CLI tunnel; the ssh -R bench" },
  {
    bin: "/usr/sbin/sshd",
    pkg: "openssh-server",
    why: "a real SSH server as a device and for ssh -R",
  },
  { bin: "iperf3", pkg: "iperf3", why: "bulk throughput through the CLI tunnel" },
  { bin: "ss", pkg: "iproute2", why: "checking the CLI tunnel's listening sockets" },
  {
    bin: "chromium",
    pkg: "chromium",
    why: "headless browser tests of the proxy and the web UI (driven by playwright-core)",
  },
  {
    bin: "systemd-analyze",
    pkg: "systemd",
    why: "verify and security-audit the agent's systemd unit offline",
  },
  {
    bin: "curl",
    pkg: "curl",
    why:
      "a real HTTP client: through the browser proxy, and fetching installer.sh as an admin would",
  },
  {
    bin: "/usr/bin/python3",
    pkg: "python3-yaml",
    why: "independent parsers for the launchd plist (plistlib) and the install/ YAML (PyYAML)",
  },
  { bin: "ffprobe", pkg: "ffmpeg", why: "the RTSP player decoding H.264 through the gateway" },
  {
    bin: "gst-rtsp-server (Python bindings)",
    check: `/usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0'); ` +
      `gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; ` +
      `Gst.init(None); assert Gst.ElementFactory.find('x264enc') or ` +
      `Gst.ElementFactory.find('openh264enc'); assert Gst.ElementFactory.find('voaacenc')"`,
    pkg: "gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0 gstreamer1.0-plugins-base " +
      "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad",
    why: "GStreamer's RTSP server as the camera (tests/_fixtures/rtsp_server.py; x264enc is in " +
      "-ugly, the AAC encoder of a camera's sound, voaacenc, in -bad)",
  },
  {
    bin: "WebKitGTK (Python bindings) with GStreamer's H.265 decoder",
    check: `/usr/bin/python3 -c "import gi; gi.require_version('WebKit2', '4.1'); ` +
      `gi.require_version('Soup', '3.0'); gi.require_version('Gst', '1.0'); ` +
      `from gi.repository import WebKit2, Soup, Gst; Gst.init(None); ` +
      `assert Gst.ElementFactory.find('avdec_h265')"`,
    pkg: "gir1.2-webkit2-4.1 gstreamer1.0-libav",
    why: "WebKit, Safari's engine, as a second browser: the live view's sockets and H.265 " +
      "(tests/_fixtures/webkit_page.py)",
  },
  { bin: "xvfb-run", pkg: "xvfb xauth", why: "a virtual display for WebKitGTK" },
  {
    bin: "aiosmtpd (Python)",
    check: `/usr/bin/python3 -c "import aiosmtpd"`,
    pkg: "python3-aiosmtpd",
    why: "a real mail server for email alerts (tests/_fixtures/smtp_server.py)",
  },
  { bin: "wrk", pkg: "wrk", why: "small HTTP GETs in the bench (its quick run is a test)" },
  {
    bin: "caddy",
    pkg: "caddy",
    why: "install/Caddyfile run for real: HTTPS in front of a node, as the guide deploys it",
  },
  {
    bin: "prlimit",
    pkg: "util-linux",
    why: "the bench raises its open-file limit for idle tunnels",
  },
];

function has(n: { bin: string; check?: string }): boolean {
  try {
    const cmd = n.check ?? `command -v ${n.bin}`;
    return new Deno.Command("sh", { args: ["-c", cmd], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const missing = NEEDED.filter((n) => !has(n));
if (missing.length) {
  const pkgs = missing.flatMap((m) => m.pkg.split(" "));
  console.error(
    `test peers missing: ${missing.map((m) => m.bin).join(", ")}; installing ${pkgs.join(" ")}`,
  );
  const isRoot = Deno.uid?.() === 0;
  const apt = (args: string[]) =>
    new Deno.Command(isRoot ? "apt-get" : "sudo", {
      args: isRoot ? args : ["apt-get", ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).outputSync().success;
  const ok = has({ bin: "apt-get" }) && apt(["update", "-qq"]) &&
    apt(["install", "-y", "-qq", ...pkgs]);
  const still = NEEDED.filter((n) => !has(n));
  if (!ok || still.length) {
    for (const m of still) {
      console.error(`missing: ${m.bin} (Debian package ${m.pkg}) — needed for ${m.why}`);
    }
    Deno.exit(1);
  }
}

// FerretDB (the MongoDB store's test server) is built from source once; doing it here keeps the
// first MongoDB test from spending its time budget on a two-minute Go build.
try {
  await ensureFerretDb();
} catch (e) {
  console.error(`missing: FerretDB ${FERRETDB_VERSION} — ${(e as Error).message}`);
  Deno.exit(1);
}
