/**
 * The agent role: `connector agent enroll` (once, with the site's token) and
 * `connector agent run` (the long-running service that keeps the control stream open and pipes
 * tunnels to allowlisted LAN targets). The agent only dials out; it never listens.
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
import { installLastResort } from "../shared/last_resort.ts";
import { raiseOpenFileLimit } from "../shared/open_files.ts";
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { defaultStateDir, loadState } from "./state.ts";
import { clockFromEnv } from "../shared/test_clock.ts";
import { supervise } from "./supervisor.ts";
import { applyTrustEnv, loadRunConfig, runOptions } from "./run_config.ts";
import {
  chooseProxy,
  NO_PROXY_VALUE,
  parseProxyFlag,
  saveProxySetting,
  unusedProxyNote,
} from "./proxy_setting.ts";
import { splitEndpoints } from "./session.ts";
import { Stats } from "./stats.ts";
import { loadStats, startStatsFlusher } from "./stats_file.ts";
import { startIdleTrim } from "./idle_trim.ts";
import { type LinkStatus, writeLinkStatus } from "./link_status.ts";
import { untilStopRequested } from "./service/stop.ts";
import { WINDOWS_SERVICE } from "./service/paths.ts";
import { commandHint } from "../shared/invocation.ts";

const common: Record<string, OptionSpec> = {
  state: {
    type: "string",
    env: "NC_STATE_DIR",
    arg: "DIR",
    default: defaultStateDir(),
    help: "Where the agent keeps its key and certificate",
  },
  "log-level": {
    type: "string",
    env: "NC_LOG_LEVEL",
    arg: "LEVEL",
    default: "info",
    help: LOG_LEVELS.join(", "),
  },
  "log-format": {
    type: "string",
    env: "NC_LOG_FORMAT",
    arg: "FORMAT",
    default: "plain",
    help: "plain or json",
  },
};

const enrollOptions: Record<string, OptionSpec> = {
  cloud: {
    type: "string",
    env: "NC_CLOUD_URL",
    arg: "URL",
    help: "The cloud's URL, e.g. https://cloud.example.com (required)",
  },
  token: {
    type: "string",
    env: "NC_ENROLL_TOKEN",
    arg: "TOKEN",
    help: "The site's enrollment token enr_… (required; - reads it from standard input)",
  },
  "token-file": {
    type: "string",
    env: "NC_ENROLL_TOKEN_FILE",
    arg: "FILE",
    help: "Read the token from a file instead (keeps it off the command line); - reads stdin",
  },
  "ca-pin": {
    type: "string",
    env: "NC_CA_PIN",
    arg: "sha256:HEX",
    help: "The cloud CA pin, when the token does not carry it",
  },
  "ca-file": {
    type: "string",
    env: "NC_CA_FILE",
    arg: "FILE",
    help: "Also trust the authorities in this PEM file for the cloud's HTTPS (a proxy that " +
      "inspects TLS, or a cloud on a private certificate); the agent CA is still checked " +
      "against the pin",
  },
  proxy: {
    type: "string",
    env: "NC_PROXY",
    arg: "URL",
    help: "Enroll through this HTTP proxy (http://[user:password@]host:port) and keep it, 0600, " +
      "for agent run (the installers pass the https_proxy they downloaded through; NC_PROXY " +
      "keeps a password off the command line)",
  },
  force: { type: "boolean", help: "Replace an existing enrollment" },
  "if-needed": {
    type: "boolean",
    env: "NC_ENROLL_IF_NEEDED",
    help:
      "Do nothing (exit 0) when already enrolled (containers: enroll on first start); with --proxy, keep that proxy",
  },
  "trust-env": runOptions["trust-env"],
  ...common,
};

/** Options of `run` that belong to running as an installed service. */
const serviceRunOptions: Record<string, OptionSpec> = {
  "log-file": {
    type: "string",
    env: "NC_LOG_FILE",
    arg: "FILE",
    help: "Append logs to FILE instead of stderr (the Windows service does)",
  },
  service: {
    type: "boolean",
    env: "NC_WINDOWS_SERVICE",
    help: "Run under the Windows Service Control Manager (set by connector agent install)",
  },
};

const allRunOptions: Record<string, OptionSpec> = {
  ...common,
  ...runOptions,
  ...serviceRunOptions,
};

const claimOptions: Record<string, OptionSpec> = {
  cloud: enrollOptions.cloud,
  serial: {
    type: "string",
    env: "NC_SERIAL",
    arg: "SERIAL",
    help: "This device's manufacturer serial, pre-registered on a site by an admin (required)",
  },
  "ca-pin": {
    type: "string",
    env: "NC_CA_PIN",
    arg: "sha256:HEX",
    help: "The cloud CA pin (required: a claim has no token to carry it)",
  },
  "ca-file": enrollOptions["ca-file"],
  proxy: enrollOptions.proxy,
  force: enrollOptions.force,
  "trust-env": runOptions["trust-env"],
  ...common,
};

// Enrollment, the service installers and the health endpoint are imported when their command
// or flag is used: a running agent does not hold them (idle RSS, README "Performance").

/** The help text (with the service commands' section). */
const help = (serviceHelp: string) =>
  `connector agent — the Nanodems Connector site agent

Usage:
  connector agent enroll --cloud URL --token -       enroll this machine in a site (once)
  connector agent run                                 run: keep the control stream, serve tunnels
  connector agent claim --cloud URL --serial S --ca-pin PIN
                                                      an embedded agent claims its device by serial

The agent dials out to the cloud (control channel over mTLS + gRPC; a few TLS data connections,
each carrying many tunnels) and never listens (except the optional --health-listen endpoint). It
dials only the (host, port) pairs on its site's allowlist.

enroll makes this agent's private key here (it never leaves the machine), checks that the cloud's
CA matches the pin carried in the token, and stores key, certificate and CA (mode 0600) in the
state directory. run uses them and reconnects on its own (backoff up to 15 s). The token comes
from standard input (--token -), a file (--token-file) or NC_ENROLL_TOKEN; typed on the command
line it works, with a warning, because every local user can read a command line.

Where the only way out is an HTTP proxy, enroll with NC_PROXY=http://[user:password@]host:port
(or --proxy): the agent enrolls through it and keeps it, 0600, for run (a service inherits no
shell); the installers pass on the https_proxy their download used. The cloud's HTTPS may chain
to this computer's certificate store (a company's TLS-inspecting authority) or to --ca-file.

Options of enroll:
${renderOptions(enrollOptions)}

Options of claim:
${renderOptions(claimOptions)}

Options of run:
${renderOptions(allRunOptions)}

${serviceHelp}

Example:
  connector agent enroll --cloud https://cloud.example.com --token-file /tmp/token
  connector agent run
  sudo connector agent install && connector agent status
`;

function logger(values: Record<string, unknown>) {
  // Also the peer agents' spellings: INFO, WARNING.
  const level = String(values["log-level"] ?? "info").toLowerCase().replace(
    /^warning$/,
    "warn",
  ) as LogLevel;
  const format = (values["log-format"] ?? "plain") as LogFormat;
  if (!LOG_LEVELS.includes(level)) {
    throw new UsageError(
      `--log-level / NC_LOG_LEVEL: expected one of ${LOG_LEVELS.join(", ")}, got "${
        values["log-level"]
      }"`,
    );
  }
  if (!LOG_FORMATS.includes(format)) {
    throw new UsageError(`--log-format / NC_LOG_FORMAT: expected plain or json, got "${format}"`);
  }
  const file = values["log-file"] as string | undefined;
  return createLogger({ role: "agent", level, format, ...(file ? { file } : {}) });
}

/** Entry point of `connector agent`. */
export async function agentMain(argv: string[]): Promise<number> {
  const sub = argv[0];
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(help((await import("./service/main.ts")).SERVICE_HELP));
    return 0;
  }
  if (sub === "--version" || sub === "-V") {
    console.log(`connector agent ${VERSION}`);
    return 0;
  }
  if (sub === "enroll") {
    const { values } = parseFlags(argv.slice(1), enrollOptions);
    if (values.help) {
      return (console.log(commandHelp({
        name: "connector agent enroll",
        summary: "enroll this machine in a site, once",
        usage: "connector agent enroll --cloud URL --token enr_…",
        options: enrollOptions,
        notes: "Makes the agent's key here (it never leaves the machine), checks the cloud's CA " +
          "against the pin\ncarried in the token and stores key, certificate and CA (0600) in " +
          "--state. Then: agent run.",
        example:
          "connector agent enroll --cloud https://cloud.example.com --token-file /tmp/token\nconnector agent run",
      })),
        0);
    }
    if (values.version) return (console.log(`connector agent ${VERSION}`), 0);
    const proxyNote = unusedProxyNote(Deno.env.toObject(), {
      trustEnv: values["trust-env"] === true,
      proxy: values.proxy as string | undefined,
    });
    applyTrustEnv(values["trust-env"] === true, "");
    const stateDir = (values.state as string | undefined) ?? defaultStateDir();
    if (values["if-needed"] && await loadState(stateDir)) {
      // An installer run again where a proxy is now needed: the proxy is kept all the same.
      const given = values.proxy as string | undefined;
      if (given !== undefined) {
        const kept = given === NO_PROXY_VALUE ? null : parseProxyFlag(given);
        await saveProxySetting(stateDir, kept ? given : null);
        console.error(
          kept ? `kept the proxy ${kept.display} for agent run` : "removed the saved proxy",
        );
      }
      console.error(`already enrolled (state in ${stateDir}); nothing else to do`);
      return 0;
    }
    const token = await readSecret({
      flag: "token",
      value: values.token as string | undefined,
      file: values["token-file"] as string | undefined,
      env: "NC_ENROLL_TOKEN",
      argv,
    });
    if (!values.cloud) throw new UsageError("--cloud is required (the cloud's URL)");
    if (!token) {
      throw new UsageError("--token or --token-file is required (the site's enrollment token)");
    }
    const { enroll, EnrollError } = await import("./enroll.ts");
    try {
      await enroll({
        cloud: values.cloud as string,
        token,
        caPin: values["ca-pin"] as string | undefined,
        caFile: values["ca-file"] as string | undefined,
        proxy: values.proxy as string | undefined,
        stateDir,
        force: values.force as boolean | undefined,
        log: (line) => console.error(line),
      });
    } catch (e) {
      if (e instanceof EnrollError) {
        console.error(`enrollment failed: ${e.message}`);
        if (proxyNote && e.message.startsWith("cannot reach the cloud")) console.error(proxyNote);
        return 1;
      }
      throw e;
    }
    console.error(
      `next: ${commandHint("agent", ["run"], { state: values.state as string | undefined })}`,
    );
    return 0;
  }
  if (sub === "claim") {
    const { values } = parseFlags(argv.slice(1), claimOptions);
    if (values.help) {
      return (console.log(commandHelp({
        name: "connector agent claim",
        summary: "an embedded agent claims its device by serial (instead of enroll)",
        usage: "connector agent claim --cloud URL --serial SERIAL --ca-pin sha256:HEX",
        options: claimOptions,
        example:
          "connector agent claim --cloud https://cloud.example.com --serial CAM-0042 --ca-pin sha256:…",
      })),
        0);
    }
    if (values.version) return (console.log(`connector agent ${VERSION}`), 0);
    if (!values.cloud) throw new UsageError("--cloud is required (the cloud's URL)");
    if (!values.serial) throw new UsageError("--serial is required (this device's serial)");
    if (!values["ca-pin"]) throw new UsageError("--ca-pin is required (the cloud CA pin)");
    const proxyNote = unusedProxyNote(Deno.env.toObject(), {
      trustEnv: values["trust-env"] === true,
      proxy: values.proxy as string | undefined,
    });
    applyTrustEnv(values["trust-env"] === true, "");
    const { EnrollError } = await import("./enroll.ts");
    const { claim } = await import("./claim.ts");
    try {
      await claim({
        cloud: values.cloud as string,
        serial: values.serial as string,
        caPin: values["ca-pin"] as string,
        caFile: values["ca-file"] as string | undefined,
        proxy: values.proxy as string | undefined,
        stateDir: (values.state as string | undefined) ?? defaultStateDir(),
        force: values.force as boolean | undefined,
        log: (line) => console.error(line),
      });
    } catch (e) {
      if (e instanceof EnrollError) {
        console.error(`claim failed: ${e.message}`);
        if (proxyNote && e.message.startsWith("cannot reach the cloud")) console.error(proxyNote);
        return 1;
      }
      throw e;
    }
    console.error(
      `next: ${commandHint("agent", ["run"], { state: values.state as string | undefined })}`,
    );
    return 0;
  }
  if (sub === "install" || sub === "uninstall" || sub === "status") {
    return await (await import("./service/main.ts")).serviceMain(sub, argv.slice(1));
  }
  if (sub === "run") {
    const { values } = parseFlags(argv.slice(1), allRunOptions);
    if (values.service) {
      // A service has no console: failures go to the log file, the exit code to the SCM.
      Deno.env.delete("NC_WINDOWS_SERVICE");
      const { runAsWindowsService } = await import("./service/windows_ffi.ts");
      const rest = argv.slice(1).filter((a) => a !== "--service");
      return await runAsWindowsService(
        WINDOWS_SERVICE,
        () =>
          agentMain(["run", ...rest]).catch((e) => {
            logger(values).fatal({ err: (e as Error).message }, "agent failed");
            return e instanceof UsageError ? 2 : 1;
          }),
      );
    }
    if (values.help) {
      return (console.log(commandHelp({
        name: "connector agent run",
        summary: "keep the control stream to the cloud open and serve tunnels (long-running)",
        usage: "connector agent run [--state DIR]",
        options: allRunOptions,
        notes: "Reconnects on its own (backoff up to 15 s); SIGINT/SIGTERM stop it cleanly. " +
          "'connector agent status'\nshows whether it is connected.",
        example: "connector agent run --state /var/lib/nanodems-agent --log-format json",
      })),
        0);
    }
    if (values.version) return (console.log(`connector agent ${VERSION}`), 0);
    const log = logger(values);
    installLastResort(log);
    raiseOpenFileLimit(); // each tunnel takes a descriptor for its device
    const config = loadRunConfig(values);
    const dir = (values.state as string | undefined) ?? defaultStateDir();
    const state = await loadState(dir);
    if (!state) {
      throw new UsageError(
        `not enrolled: no agent identity in ${dir}; run ${
          commandHint("agent", ["enroll", "--cloud", "URL", "--token", "-"], {
            state: values.state as string | undefined,
          })
        } first (the token on standard input)`,
      );
    }
    log.info({ agent: state.agentId, version: VERSION, state: dir }, "agent starting");
    const endpoints = config.controlEndpoint ?? state.controlEndpoint;
    // Always applied: with trust off it clears the proxy variables from this process.
    const fromEnv = applyTrustEnv(config.trustEnv, splitEndpoints(endpoints)[0].host);
    const chosen = await chooseProxy({ flag: config.proxy, stateDir: dir, fromEnv: () => fromEnv });
    const proxy = chosen?.proxy ?? null;
    if (chosen) {
      log.info(
        { proxy: chosen.proxy.display, from: chosen.source },
        "reaching the cloud through a proxy",
      );
    }
    const stats = new Stats();
    await loadStats(dir, stats, log);
    const flusher = startStatsFlusher({ dir, stats, intervalMs: config.statsFlushMs, log });
    // Memory back to the system whenever the agent goes quiet (idle_trim.ts).
    const trim = startIdleTrim({ stats, log });
    // link.json: the control link and the data channel, written one after the other.
    let now: LinkStatus = {
      up: false,
      node: null,
      reason: "connecting",
      since: Date.now(),
      pid: Deno.pid,
    };
    let writing = Promise.resolve();
    const save = () => {
      const snapshot = now;
      writing = writing.then(() => writeLinkStatus(dir, snapshot)).catch((e) =>
        log.warn({ err: (e as Error).message }, "cannot write link.json")
      );
      return writing;
    };
    const link = (up: boolean, detail: string) => {
      now = { ...now, up, node: up ? detail : null, reason: up ? "" : detail, since: Date.now() };
      return save();
    };
    const dataLink = (ok: boolean, reason: string) => {
      if (now.data?.ok === ok && now.data.reason === reason) return;
      now = { ...now, data: { ok, since: Date.now(), reason } };
      void save();
    };
    await link(false, "connecting");
    const sup = supervise({
      state,
      stateDir: dir,
      log,
      stats,
      proxy,
      controlEndpoint: config.controlEndpoint,
      discoveryTargets: config.discoveryTargets,
      reachabilityIntervalMs: config.reachabilityIntervalMs,
      onLink: (up, detail) => {
        trim.bump();
        void link(up, detail);
      },
      onDataLink: dataLink,
      clock: clockFromEnv((m) => log.warn(m)),
    });
    const health = config.healthListen
      ? await (await import("./health.ts")).startHealthServer(config.healthListen, sup)
      : null;
    if (health) log.info({ port: health.port }, "health endpoint listening");
    await untilStopRequested();
    log.info("agent stopping");
    trim.stop();
    await sup.stop();
    await health?.close();
    await flusher.stop();
    await link(false, "agent stopped");
    log.info({ file: `${dir}/stats.json` }, "stats saved");
    return 0;
  }
  throw new UsageError(`unknown agent command "${sub}" (see connector agent --help)`);
}
