/**
 * The operator's tunnel CLI (`connector tunnel`, shipped as `nanodems-tunnel`): `run` listens
 * on 127.0.0.X:port for every device port of a CLI session (see run.ts); `status` shows the
 * session; `open HANDLE` listens on one loopback port for one device port. Any TCP tool (ssh, an
 * SDK, a player) then reaches the device as if on its LAN. Listeners are on loopback only.
 * `ssh DEVICE` opens the browser terminal's session (credentials held by the cloud) here.
 * @module
 */
import {
  commandHelp,
  type OptionSpec,
  parseFlags,
  renderOptions,
  UsageError,
} from "../shared/cli.ts";
import { readSecret } from "../shared/secret_input.ts";
import { createLogger } from "../shared/log.ts";
import { installLastResort } from "../shared/last_resort.ts";
import { parseDuration } from "../shared/duration.ts";
import { VERSION } from "../shared/version.ts";
import { announceProxy, carry, sparesFor, wsUrl } from "./connect.ts";
import { acceptLoop } from "../shared/transport/accept_loop.ts";
import { DEVICE_PORT_HEADER, SERVER_FIRST_PORTS } from "../shared/transport/early_data.ts";
import { EXIT_SESSION_ENDED, runTunnel } from "./run.ts";
import { followEvents } from "./events.ts";
import { fetchPlan, PlanError, planTable } from "./plan.ts";
import { sshSession, terminalPath } from "./ssh.ts";
import { notTheCloud, reachFailure } from "../shared/reach_error.ts";
import { isLoopbackHost } from "../shared/loopback.ts";
import { CA_FLAG, cloudFetch, trustCaFile } from "./trust.ts";

/** `--ca-file`, the same for every command (see trust.ts). */
const CA_FILE_OPTION: OptionSpec = {
  type: "string",
  env: "NC_CA_FILE",
  arg: "FILE",
  help:
    "Also trust the certificate authorities in this PEM file for the cloud's HTTPS (a cloud on a private certificate, or a proxy's authority this computer does not trust)",
};

const openOptions: Record<string, OptionSpec> = {
  cloud: { type: "string", env: "NC_CLOUD_URL", arg: "URL", help: "The cloud's URL (required)" },
  token: {
    type: "string",
    env: "NC_TOKEN",
    arg: "TOKEN",
    help: "Your API token nt_… (required; - reads it from standard input)",
  },
  "ca-file": CA_FILE_OPTION,
  "token-file": {
    type: "string",
    env: "NC_TOKEN_FILE",
    arg: "FILE",
    help: "Read the token from a file (keeps it off the command line)",
  },
  listen: {
    type: "string",
    env: "NC_LISTEN",
    arg: "HOST:PORT",
    default: "127.0.0.1:0",
    help: "Local loopback address to listen on",
  },
  "no-early-data": {
    type: "boolean",
    env: "NC_NO_EARLY_DATA",
    help:
      "Do not carry a client's first bytes in the tunnel request (nanodems-early-data header): one round trip slower, for a proxy in front of the cloud that refuses the header",
  },
};

const runOptions: Record<string, OptionSpec> = {
  cloud: { type: "string", env: "NC_CLOUD_URL", arg: "URL", help: "The cloud's URL (required)" },
  token: {
    type: "string",
    env: "NC_TOKEN",
    arg: "TOKEN",
    help: "The CLI session token ops_… from 'Open CLI session' (required; - reads stdin)",
  },
  "ca-file": CA_FILE_OPTION,
  "token-file": {
    type: "string",
    env: "NC_TOKEN_FILE",
    arg: "FILE",
    help: "Read the token from a file (keeps it off the command line)",
  },
  refresh: {
    type: "string",
    env: "NC_REFRESH",
    arg: "DURATION",
    default: "60s",
    help: "How often to refresh the bind plan",
  },
  "no-early-data": {
    type: "boolean",
    env: "NC_NO_EARLY_DATA",
    help:
      "Do not carry a client's first bytes in the tunnel request (nanodems-early-data header): one round trip slower, for a proxy in front of the cloud that refuses the header",
  },
};

const sshOptions: Record<string, OptionSpec> = {
  cloud: { type: "string", env: "NC_CLOUD_URL", arg: "URL", help: "The cloud's URL (required)" },
  token: {
    type: "string",
    env: "NC_TOKEN",
    arg: "TOKEN",
    help:
      "Your API token nt_… or a CLI session token ops_… (required; not -: stdin is the shell's)",
  },
  "ca-file": CA_FILE_OPTION,
  "token-file": {
    type: "string",
    env: "NC_TOKEN_FILE",
    arg: "FILE",
    help: "Read the token from a file (keeps it off the command line)",
  },
};

const HELP = `connector tunnel — reach LAN devices from this machine (shipped as nanodems-tunnel)

Usage:
  connector tunnel run --cloud URL --token -            every device of your CLI session
  connector tunnel status --cloud URL --token -         the session's expiry and its pairs
  connector tunnel open HANDLE --cloud URL --token -    one device port, on a port you choose
  connector tunnel ssh DEVICE --cloud URL --token-file F  a terminal on an SSH device, logged in
                                                        by the cloud (DEVICE: h-…, or with ops_…
                                                        127.0.0.X[:port] or the device's name)

The token (ops_… for run and status, nt_… for open, either for ssh) comes from standard input
(--token -), a file (--token-file FILE) or NC_TOKEN; typed on the command line it works, with a
warning, because every local user can read a command line. (ssh reads its keystrokes from
standard input, so give it the token by file or NC_TOKEN.)

On a network whose way out is a proxy, the CLI follows HTTPS_PROXY (HTTP_PROXY for an http://
cloud, else ALL_PROXY) and NO_PROXY, for its requests and its tunnels alike, with the credentials
the proxy URL carries: an HTTP proxy (http://user:password@proxy:3128) or a SOCKS5 one
(socks5h://127.0.0.1:1080, e.g. \`ssh -N -D 1080 jump-host\` where the only way out is an SSH
jump host). The cloud's certificate may chain to the authorities built in and to those this
computer trusts (its certificate store, as the browser and curl use: a company's TLS-inspecting
proxy works when its IT put its authority there); give any other with --ca-file FILE. When the
cloud cannot be reached the CLI says why (a wrong clock, an unknown authority, a refused port, …).

The workflow: on the site page click "Open CLI session", pick the sites, copy the command it
shows (the token is shown once) and run it here. The CLI listens on 127.0.0.X:PORT for every
device port of those sites — each device has its own loopback address — and prints the table.
Point your tool at 127.0.0.X:PORT as if you were on the camera's LAN: ssh, a vendor SDK, an
RTSP player. Listeners are on loopback only (never reachable from your LAN). Changes reach the
CLI within seconds on an event stream (the plan is also refreshed every 60 s): new cameras appear,
removed ones stop accepting. A port already taken is retried on every refresh. Each listener is
an open file: under a low hard limit (ulimit -Hn) the CLI listens on as many pairs as fit and
says once how many and how to raise it. When the session (run) or the token (open) is revoked
or expires the CLI exits with code 3.

Options of run and status:
${renderOptions(runOptions)}

Options of open:
${renderOptions(openOptions)}

Options of ssh:
${renderOptions(sshOptions)}

Examples:
  nanodems-tunnel run --cloud https://cloud.example.com --token -    (paste ops_…, Ctrl-D)
  ssh -p 22 admin@127.0.0.2
  NC_TOKEN=nt_… connector tunnel open h-RkN3Lzm9TgD8e2Bp7Q1xWA \\
      --cloud https://cloud.example.com --listen 127.0.0.1:2222
`;

/** The token from --token (- is stdin), --token-file or NC_TOKEN; warns when typed as a flag. */
function tokenOf(values: Record<string, unknown>, argv: string[]): Promise<string | null> {
  return readSecret({
    flag: "token",
    value: values.token as string | undefined,
    file: values["token-file"] as string | undefined,
    env: "NC_TOKEN",
    argv,
  });
}

function parseCloud(text: unknown): URL {
  if (!text) throw new UsageError("--cloud is required (the cloud's URL)");
  try {
    return new URL(text as string);
  } catch {
    throw new UsageError(`--cloud: expected a URL, got "${text}"`);
  }
}

/** `ssh DEVICE`: a terminal on the device, logged in by the cloud. */
async function sshCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, sshOptions);
  if (values.help) return (console.log(HELP), 0);
  if (values.version) return (console.log(`nanodems-tunnel ${VERSION}`), 0);
  const cloud = parseCloud(values.cloud);
  if (values["ca-file"]) await trustCaFile(values["ca-file"] as string);
  if (values.token === "-") {
    throw new UsageError(
      "ssh reads your keystrokes from standard input: give the token with " +
        "--token-file or NC_TOKEN",
    );
  }
  const token = await tokenOf(values, argv);
  if (!token || !/^(nt|ops)_[A-Za-z0-9_-]{20,}$/.test(token)) {
    throw new UsageError(
      "--token: expected an API token nt_… or a CLI session token ops_… (--token-file or NC_TOKEN)",
    );
  }
  const device = positionals[0];
  if (!device) throw new UsageError("DEVICE is required: a handle h-…, 127.0.0.X[:port] or a name");
  const path = await terminalPath(cloud, token, device).catch((e) => {
    if (e instanceof PlanError) throw new UsageError(e.message);
    throw e;
  });
  return await sshSession(cloud, token, path);
}

/** `run` and `status`. */
async function sessionCommand(sub: "run" | "status", argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, runOptions);
  if (values.help) {
    return (console.log(commandHelp(
      sub === "run"
        ? {
          name: "connector tunnel run",
          summary: "listen on 127.0.0.X:PORT for every device port of your CLI session",
          usage: "connector tunnel run --cloud URL --token ops_…",
          options: runOptions,
          notes: 'The token comes from the site page\'s "Open CLI session" (shown once). Exits ' +
            "with code 3 when the\nsession is revoked or expires.",
          example:
            "nanodems-tunnel run --cloud https://cloud.example.com --token ops_…\nssh -p 22 admin@127.0.0.2",
        }
        : {
          name: "connector tunnel status",
          summary: "the CLI session's expiry and its device pairs",
          usage: "connector tunnel status --cloud URL --token ops_…",
          options: runOptions,
          example: "nanodems-tunnel status --cloud https://cloud.example.com --token ops_…",
        },
    )),
      0);
  }
  if (values.version) return (console.log(`nanodems-tunnel ${VERSION}`), 0);
  const cloud = parseCloud(values.cloud);
  if (values["ca-file"]) await trustCaFile(values["ca-file"] as string);
  const token = await tokenOf(values, argv);
  if (!token || !/^ops_[A-Za-z0-9_-]{43}$/.test(token)) {
    throw new UsageError(
      "--token: expected the CLI session token ops_… (--token -, --token-file or NC_TOKEN)",
    );
  }
  const refreshMs = parseDuration((values.refresh as string | undefined) ?? "60s");
  if (!refreshMs) throw new UsageError("--refresh: expected a duration like 60s");
  if (sub === "run") {
    return await runTunnel({ cloud, token, refreshMs, earlyData: !values["no-early-data"] });
  }
  try {
    const plan = await fetchPlan(cloud, token);
    const fmt = (t: number | null) => (t ? new Date(t).toISOString() : "?");
    console.log(
      `session valid until ${fmt(plan.session.expiresAt)} (hard cap ${
        fmt(plan.session.hardCapAt)
      })\n` +
        planTable(plan.entries),
    );
    return 0;
  } catch (e) {
    if (e instanceof PlanError) {
      console.error(`error: ${e.message}`);
      return e.status === 401 ? 3 : 1;
    }
    throw e;
  }
}

/**
 * Asks the cloud whether this token may open this handle, for a clear error up front; returns
 * the device port behind it when the cloud names it (older clouds do not: null).
 */
async function preflight(cloud: URL, handle: string, token: string): Promise<number | null> {
  const res = await cloudFetch(new URL(`/api/tunnel/${encodeURIComponent(handle)}`, cloud), {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  }).catch((e) => {
    throw new UsageError(
      `cannot reach the cloud at ${cloud.origin}: ${
        reachFailure(e, Date.now(), { caFlag: CA_FLAG })
      }`,
    );
  });
  const text = await res.text().catch(() => "");
  if (res.status === 426) {
    const port = Number(res.headers.get(DEVICE_PORT_HEADER));
    return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
  }
  let message: unknown;
  try {
    message = JSON.parse(text).message;
  } catch { /* not the cloud's answer */ }
  throw new UsageError(
    typeof message === "string"
      ? `the cloud refused: ${res.status} ${message}`
      : notTheCloud(res.status, res.headers.get("server"), text),
  );
}

/** Entry point of `connector tunnel`. */
export async function tunnelMain(argv: string[]): Promise<number> {
  const sub = argv[0];
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") return (console.log(HELP), 0);
  if (sub === "--version" || sub === "-V") return (console.log(`nanodems-tunnel ${VERSION}`), 0);
  if (sub === "run" || sub === "status") return await sessionCommand(sub, argv.slice(1));
  if (sub === "ssh") return await sshCommand(argv.slice(1));
  if (sub !== "open") {
    throw new UsageError(`unknown tunnel command "${sub}" (see connector tunnel --help)`);
  }
  const { values, positionals } = parseFlags(argv.slice(1), openOptions);
  if (values.help) {
    return (console.log(commandHelp({
      name: "connector tunnel open",
      summary: "one device port on a local loopback port you choose",
      usage: "connector tunnel open HANDLE --cloud URL --token nt_… [--listen 127.0.0.1:PORT]",
      options: openOptions,
      notes: "HANDLE is the device port's handle (h-…, on the site page and in quickstart's " +
        "output); the token is\nyour API token (Account → API tokens).",
      example:
        "nanodems-tunnel open h-RkN3Lzm9TgD8e2Bp7Q1xWA --cloud https://cloud.example.com \\\n" +
        "    --token nt_… --listen 127.0.0.1:2222\nssh -p 2222 admin@127.0.0.1",
    })),
      0);
  }
  if (values.version) return (console.log(`nanodems-tunnel ${VERSION}`), 0);
  const handle = positionals[0];
  if (!handle || !/^h-[A-Za-z0-9_-]{12,22}$/.test(handle)) {
    throw new UsageError("HANDLE is required: the device port's handle, h-…");
  }
  if (!values.cloud) throw new UsageError("--cloud is required");
  const token = await tokenOf(values, argv);
  if (!token) throw new UsageError("--token is required (--token -, --token-file or NC_TOKEN)");
  let cloud: URL;
  try {
    cloud = new URL(values.cloud as string);
  } catch {
    throw new UsageError(`--cloud: expected a URL, got "${values.cloud}"`);
  }
  if (values["ca-file"]) await trustCaFile(values["ca-file"] as string);
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec((values.listen as string) ?? "127.0.0.1:0");
  if (!m) throw new UsageError("--listen: expected HOST:PORT");
  const host = m[1] ?? m[2];
  if (!isLoopbackHost(host)) {
    throw new UsageError("--listen: only loopback addresses (127.x, ::1) are allowed");
  }
  const log = createLogger({ role: "tunnel" });
  installLastResort(log);
  announceProxy(cloud, log);
  const devicePort = await preflight(cloud, handle, token);
  const url = wsUrl(cloud, `/api/tunnel/${handle}`);
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: host, port: Number(m[3]) });
  } catch (e) {
    throw new UsageError(`--listen ${host}:${m[3]}: ${(e as Error).message}`);
  }
  const port = (listener.addr as Deno.NetAddr).port;
  let stopEvents = () => {};
  const spares = sparesFor(cloud);
  const headers = { authorization: `Bearer ${token}` };
  const early = {
    enabled: !values["no-early-data"],
    serverFirst: devicePort !== null && SERVER_FIRST_PORTS.has(devicePort),
  };
  console.error(`listening on ${host}:${port} → ${handle} via ${cloud.origin}`);
  console.log(JSON.stringify({ listen: `${host}:${port}`, handle }));
  // Out of descriptors for a moment (many connections at once): accepting goes on after it.
  let warned = 0;
  acceptLoop(
    listener,
    (conn) =>
      carry(conn, url, headers, spares, early).then((r) =>
        r.ok
          ? log.info({ up: r.up, down: r.down, reason: r.reason || undefined }, "connection closed")
          : log.warn({ handle, status: r.status, reason: r.message }, "tunnel refused")
      ),
    (e) => {
      if (Date.now() - warned < 5_000) return;
      warned = Date.now();
      log.warn({ err: e.message }, "accept failed; accepting again");
    },
  );
  // Revocation of the token reaches us on the event stream: stop listening, exit 3.
  const code = await new Promise<number>((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve(0));
    Deno.addSignalListener("SIGTERM", () => resolve(0));
    stopEvents = followEvents(
      new URL(`/api/tunnel/${encodeURIComponent(handle)}/events`, cloud),
      token,
      {
        revoked: (message) => {
          console.error(`\nThe token was revoked (${message}); no longer listening.`);
          resolve(EXIT_SESSION_ENDED);
        },
        trouble: (message) => log.debug({ err: message }, "credential events"),
      },
    );
  });
  stopEvents();
  listener.close();
  spares.close();
  return code;
}
