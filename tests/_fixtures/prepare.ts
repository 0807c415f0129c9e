/**
 * Run by `deno task test` before the tests: makes sure the real peers the tests use are on this
 * machine, installing Debian packages when it can, or failing with exactly what is missing.
 * @module
 */
const NEEDED: { bin: string; pkg: string; why: string; check?: string }[] = [
  {
    bin: "openssl",
    pkg: "openssl",
    why: "independent verification of the certificates the CA issues",
  },
  { bin: "ffprobe", pkg: "ffmpeg", why: "the RTSP player decoding H.264 through the gateway" },
  {
    bin: "gst-rtsp-server (Python bindings)",
    check: `/usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0'); ` +
      `gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; ` +
      `Gst.init(None); assert Gst.ElementFactory.find('x264enc') or ` +
      `Gst.ElementFactory.find('openh264enc')"`,
    pkg: "gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0 gstreamer1.0-plugins-base " +
      "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly",
    why: "GStreamer's RTSP server as the camera (tests/_fixtures/rtsp_server.py; x264enc is in " +
      "-ugly)",
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
