/**
 * Run by `deno task test` before the tests: makes sure the real peers the tests use are on this
 * machine, installing Debian packages when it can, or failing with exactly what is missing.
 * @module
 */
const NEEDED: { bin: string; pkg: string; why: string }[] = [
  {
    bin: "openssl",
    pkg: "openssl",
    why: "independent verification of the certificates the CA issues",
  },
  { bin: "curl", pkg: "curl", why: "a real HTTP client through the browser proxy" },
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
  { bin: "wrk", pkg: "wrk", why: "small HTTP GETs in the bench (its quick run is a test)" },
  {
    bin: "prlimit",
    pkg: "util-linux",
    why: "the bench raises its open-file limit for idle tunnels",
  },
];

function has(bin: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${bin}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const missing = NEEDED.filter((n) => !has(n.bin));
if (missing.length) {
  const pkgs = missing.map((m) => m.pkg);
  console.error(
    `test peers missing: ${missing.map((m) => m.bin).join(", ")}; installing ${pkgs.join(" ")}`,
  );
  const isRoot = Deno.uid?.() === 0;
  const apt = (args: string[]) =>
    new Deno.Command(isRoot ? "apt-get" : "sudo", {
      args: isRoot ? args : ["apt-get", ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).outputSync().success;
  const ok = has("apt-get") && apt(["update", "-qq"]) && apt(["install", "-y", "-qq", ...pkgs]);
  const still = NEEDED.filter((n) => !has(n.bin));
  if (!ok || still.length) {
    for (const m of still) {
      console.error(`missing: ${m.bin} (Debian package ${m.pkg}) — needed for ${m.why}`);
    }
    Deno.exit(1);
  }
}
