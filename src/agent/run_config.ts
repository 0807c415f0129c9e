/**
 * Settings of `connector agent run` beyond the common ones (state dir, logs): the health
 * endpoint, whether to trust proxy variables from the environment, the stats flush interval and
 * where discovery probes go. Every one is a flag and an `NC_*` variable, validated with zod so a
 * bad value stops the start naming the flag and the variable.
 * @module
 */
import { z } from "zod";
import {
  type ListenAddress,
  listenAddress,
  type OptionSpec,
  UsageError,
  validateConfig,
} from "../shared/cli.ts";
import { duration } from "../shared/duration.ts";
import { type ProxyConfig, ProxyError, proxyFromEnv } from "../shared/transport/proxy.ts";
import { parseProbeTargets, type ProbeTarget } from "./discovery/probe.ts";

/** Flags and environment variables of `connector agent run` (besides the common ones). */
export const runOptions: Record<string, OptionSpec> = {
  "health-listen": {
    type: "string",
    env: "NC_HEALTH_LISTEN",
    arg: "HOST:PORT",
    help:
      "Serve GET /healthz/live, /healthz/ready, /metrics here (old /livez, /healthz, /readyz too; off unless set, e.g. 127.0.0.1:8090)",
  },
  "control-endpoint": {
    type: "string",
    env: "NC_CONTROL_ENDPOINT",
    arg: "HOST:PORT[,HOST:PORT…]",
    default: "the one given at enrollment",
    help:
      "Control endpoints to race (every address of each; the first to answer wins, the others are failovers)",
  },
  proxy: {
    type: "string",
    env: "NC_PROXY",
    arg: "URL",
    default: "the one given at enrollment",
    help:
      "The outbound HTTP proxy (http://[user:password@]host:port; CONNECT) for every connection to the cloud; off: none",
  },
  "trust-env": {
    type: "boolean",
    env: "NC_TRUST_ENV",
    help:
      "Use HTTPS_PROXY / NO_PROXY from the environment (HTTP CONNECT, Basic auth from the URL); off: proxy variables are ignored",
  },
  "stats-flush": {
    type: "string",
    env: "NC_STATS_FLUSH",
    arg: "DURATION",
    default: "30s",
    help: "How often today's counters are written to stats.json in the state directory",
  },
  "reachability-interval": {
    type: "string",
    env: "NC_REACHABILITY_INTERVAL",
    arg: "DURATION",
    default: "60s",
    help:
      "How often each allowlisted (host, port) is TCP-checked (jittered ±20 %, 8 at a time, up to 64 on a big site; only changes are reported; 0 turns it off)",
  },
  "discovery-targets": {
    type: "string",
    env: "NC_DISCOVERY_TARGETS",
    arg: "LIST",
    default: "239.255.255.250:3702,[ff02::c]:3702",
    help: "Where ONVIF WS-Discovery probes go (IP:PORT, comma-separated; unicast allowed)",
  },
};

const schema = z.object({
  "health-listen": listenAddress.optional(),
  "control-endpoint": z.string().regex(
    /^(?:[^\s:,]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5})(?:,(?:[^\s:,]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}))*$/,
    "expected HOST:PORT or a comma-separated list of them",
  ).optional(),
  proxy: z.string().min(1).optional(),
  "trust-env": z.boolean().default(false),
  "stats-flush": duration.default(30_000),
  "reachability-interval": z.union([z.literal("0").transform(() => 0), duration]).default(60_000),
  "discovery-targets": z.string().optional().transform((s, ctx) => {
    if (!s) return undefined;
    try {
      return parseProbeTargets(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }),
});

/** The validated run settings. */
export interface RunConfig {
  healthListen?: ListenAddress;
  /** Control endpoints overriding the enrolled one. */
  controlEndpoint?: string;
  /** `--proxy`: a proxy URL, or "off"; absent: the saved one (proxy_setting.ts). */
  proxy?: string;
  trustEnv: boolean;
  statsFlushMs: number;
  /** Time between reachability rounds (0: off). */
  reachabilityIntervalMs: number;
  discoveryTargets?: ProbeTarget[];
}

/** Validates the run flags (UsageError naming flag and variable on a bad value). */
export function loadRunConfig(values: Record<string, unknown>): RunConfig {
  const v = validateConfig(schema, values, runOptions);
  return {
    healthListen: v["health-listen"],
    controlEndpoint: v["control-endpoint"],
    proxy: v.proxy,
    trustEnv: v["trust-env"],
    statsFlushMs: v["stats-flush"],
    reachabilityIntervalMs: v["reachability-interval"],
    discoveryTargets: v["discovery-targets"],
  };
}

/** Proxy variables that HTTP clients in this process (fetch, grpc-js) would otherwise read. */
const PROXY_VARS = [
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "ALL_PROXY",
  "all_proxy",
  "grpc_proxy",
];

/**
 * Applies the trust-env choice to this process: off removes the proxy variables so no client
 * library picks them up behind the operator's back; on returns the proxy for `host` (or null).
 */
export function applyTrustEnv(trust: boolean, host: string): ProxyConfig | null {
  if (!trust) {
    for (const k of PROXY_VARS) Deno.env.delete(k);
    return null;
  }
  try {
    return proxyFromEnv(host, Deno.env.toObject());
  } catch (e) {
    if (e instanceof ProxyError) throw new UsageError(`HTTPS_PROXY: ${e.message}`);
    throw e;
  }
}
