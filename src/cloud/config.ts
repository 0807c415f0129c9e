/**
 * The cloud's configuration: every setting as a flag and an environment variable, validated by
 * one zod schema so a bad value stops the start with a message naming the field.
 * @module
 */
import { isLoopbackHost } from "../shared/loopback.ts";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import {
  type ListenAddress,
  listenAddress,
  type OptionSpec,
  validateConfig,
} from "../shared/cli.ts";
import { duration } from "../shared/duration.ts";
import { cidrList } from "./tenancy/auth.ts";
import { storeUrl } from "./store/open.ts";
import { parseWebhookProxy } from "./events/webhook_proxy.ts";
import { parseSmtpUrl, SmtpUrlError } from "./events/smtp_url.ts";
import { ProxyError } from "../shared/transport/proxy.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../shared/log.ts";

/** Flags and environment variables of `connector cloud`. */
export const cloudOptions: Record<string, OptionSpec> = {
  "data-dir": {
    type: "string",
    env: "NC_DATA_DIR",
    arg: "DIR",
    default: "./data",
    help: "Where the embedded database, CAs and keys live",
  },
  store: {
    type: "string",
    env: "NC_STORE",
    arg: "URL",
    default: "sqlite:",
    help:
      "sqlite: (embedded, in the data dir) or mongodb://… / mongodb+srv://… shared by every node (prefer NC_STORE when the URI holds a password)",
  },
  node: {
    type: "string",
    env: "NC_NODE",
    arg: "NAME",
    default: "the host name",
    help: "Name of this cloud node (shown as Relay)",
  },
  http: {
    type: "string",
    env: "NC_HTTP_LISTEN",
    arg: "HOST:PORT",
    default: "0.0.0.0:8080",
    help: "HTTP listener: API, WebSocket tunnels, enrollment",
  },
  control: {
    type: "string",
    env: "NC_CONTROL_LISTEN",
    arg: "HOST:PORT",
    default: "0.0.0.0:8443",
    help: "Agent control channel (gRPC over mTLS)",
  },
  data: {
    type: "string",
    env: "NC_DATA_LISTEN",
    arg: "HOST:PORT",
    default: "0.0.0.0:8444",
    help:
      "Agent data channel (TLS; each agent keeps a few connections, tunnels multiplexed on them)",
  },
  "data-public-port": {
    type: "string",
    env: "NC_DATA_PUBLIC_PORT",
    arg: "PORT",
    default: "the --data port",
    help:
      "The port agents dial for the data channel when a NAT, port mapping or TCP load balancer puts it elsewhere (told to each agent when it connects)",
  },
  internal: {
    type: "string",
    env: "NC_INTERNAL_LISTEN",
    arg: "HOST:PORT",
    default: "0.0.0.0:7443",
    help: "Internal listener for sibling nodes (BridgeTunnel, mTLS on the internal CA); off: none",
  },
  "internal-endpoint": {
    type: "string",
    env: "NC_INTERNAL_ENDPOINT",
    arg: "HOST:PORT",
    default: "first control hostname : internal port",
    help: "Where sibling nodes reach this node's internal listener (advertised in presence)",
  },
  metrics: {
    type: "string",
    env: "NC_METRICS_LISTEN",
    arg: "HOST:PORT",
    help:
      "Separate unauthenticated listener for GET /metrics and /healthz/* (off unless set; /metrics on the HTTP port needs the admin key)",
  },
  "control-hostnames": {
    type: "string",
    env: "NC_CONTROL_HOSTNAMES",
    arg: "LIST",
    default: "the --public-url host, localhost,127.0.0.1",
    help:
      "Names and IPs in the control certificate, comma-separated; the first is where agents dial unless --control-endpoint says",
  },
  "control-endpoint": {
    type: "string",
    env: "NC_CONTROL_ENDPOINT",
    arg: "HOST:PORT[,HOST:PORT…]",
    default: "first control hostname : control port",
    help: "Where agents dial the control channel; list every node so agents fail over",
  },
  "enrollment-ttl": {
    type: "string",
    env: "NC_ENROLLMENT_TTL",
    arg: "DURATION",
    default: "24h",
    help: "Lifetime of a new enrollment token",
  },
  "agent-cert-days": {
    type: "string",
    env: "NC_AGENT_CERT_DAYS",
    arg: "DAYS",
    default: "30",
    help: "Lifetime of agent certificates; agents renew at two thirds of it",
  },
  "tunnel-open-timeout": {
    type: "string",
    env: "NC_TUNNEL_OPEN_TIMEOUT",
    arg: "DURATION",
    default: "30s",
    help: "How long to wait for an agent to reach a device",
  },
  "proxy-timeout": {
    type: "string",
    env: "NC_PROXY_TIMEOUT",
    arg: "DURATION",
    default: "30s",
    help:
      "How long a device may take to answer a request through /c/{handle}/ or :9554, its TLS handshake too (504 after)",
  },
  "proxy-domain": {
    type: "string",
    env: "NC_PROXY_DOMAIN",
    arg: "DOMAIN",
    help:
      "Serve each device UI at its own origin {label}.DOMAIN (wildcard DNS and certificate needed); off: /c/{handle}/ only",
  },
  "tunnel-idle-timeout": {
    type: "string",
    env: "NC_TUNNEL_IDLE_TIMEOUT",
    arg: "DURATION",
    default: "off",
    help: "Close WebSocket/CLI tunnels that carry no bytes either way for this long",
  },
  "public-url": {
    type: "string",
    env: "NC_PUBLIC_URL",
    arg: "URL",
    default: "http://<bound --http address, localhost for 0.0.0.0>:<http port>",
    help: "The URL operators and installers use to reach this cloud",
  },
  "admin-api-key": {
    type: "string",
    env: "NC_ADMIN_API_KEY",
    arg: "KEY",
    help:
      "Break-glass X-Admin-Api-Key for platform ops (at least 32 characters; off when unset; - reads standard input)",
  },
  "admin-api-key-file": {
    type: "string",
    env: "NC_ADMIN_API_KEY_FILE",
    arg: "FILE",
    help: "File with one or two admin keys, re-read when it changes (rotation without a restart)",
  },
  "admin-api-key-cidrs": {
    type: "string",
    env: "NC_ADMIN_API_KEY_CIDRS",
    arg: "CIDRS",
    help: "Only accept the admin key from these addresses, comma-separated CIDRs (default: any)",
  },
  "allow-link-local-devices": {
    type: "boolean",
    env: "NC_ALLOW_LINK_LOCAL_DEVICES",
    help: "Accept devices at link-local or cloud metadata addresses (169.254.0.0/16, fe80::/10)",
  },
  "offline-grace": {
    type: "string",
    env: "NC_OFFLINE_GRACE",
    arg: "DURATION",
    default: "30s",
    help:
      "How long an agent may be gone before agent.offline is raised (a reconnect inside it raises nothing)",
  },
  "audit-retention-days": {
    type: "string",
    env: "NC_AUDIT_RETENTION_DAYS",
    arg: "DAYS",
    default: "off",
    help:
      "Delete audit entries older than this many days (daily, by one node; each tenant's trail records audit.purge); off: keep the whole trail",
  },
  "event-retention-days": {
    type: "string",
    env: "NC_EVENT_RETENTION_DAYS",
    arg: "DAYS",
    default: "90",
    help:
      "Delete events (the Events page, alert history) and finished webhook deliveries older than this many days (daily, by one node)",
  },
  "motion-max-cameras": {
    type: "string",
    env: "NC_MOTION_MAX_CAMERAS",
    arg: "N",
    default: "2000",
    help:
      "The most cameras whose motion alerts the cloud watches, all nodes together (the subscriptions are spread over the running nodes); a camera past it says so on its site page",
  },
  "motion-subscribe-concurrency": {
    type: "string",
    env: "NC_MOTION_SUBSCRIBE_CONCURRENCY",
    arg: "N",
    default: "16",
    help:
      "How many cameras this node subscribes to at the same time; the others wait their turn (after a start, or a site's agent coming back)",
  },
  "allow-loopback-webhooks": {
    type: "boolean",
    env: "NC_ALLOW_LOOPBACK_WEBHOOKS",
    help: "Development only: accept http:// webhook URLs on loopback addresses (127.0.0.0/8, ::1)",
  },
  "allow-private-webhooks": {
    type: "boolean",
    env: "NC_ALLOW_PRIVATE_WEBHOOKS",
    help:
      "Accept webhook URLs that resolve to private addresses (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10); link-local and metadata addresses stay refused",
  },
  "webhook-retry": {
    type: "string",
    env: "NC_WEBHOOK_RETRY",
    arg: "DURATION",
    default: "10s",
    help: "First webhook retry delay; each next one doubles (at most 1 h apart) for up to 24 h",
  },
  "webhook-proxy": {
    type: "string",
    env: "NC_WEBHOOK_PROXY",
    arg: "URL",
    help:
      "Send webhooks through this outbound HTTP proxy (http://[user:password@]host:port; prefer NC_WEBHOOK_PROXY when it holds a password): it is asked to CONNECT to the receiver's checked address, TLS runs end to end; email to the --smtp server goes through it too (by name), unless the server is on loopback; NO_PROXY lists receivers and mail servers reached directly; off: direct (the default)",
  },
  smtp: {
    type: "string",
    env: "NC_SMTP_URL",
    arg: "URL",
    help:
      "The mail server for email alerts (webhooks to mailto: addresses): smtp://[user:password@]host[:587] with STARTTLS required (plain only to loopback), or smtps://…[:465]; prefer NC_SMTP_URL, it holds a password; unset: no email alerts",
  },
  "mail-from": {
    type: "string",
    env: "NC_MAIL_FROM",
    arg: "ADDRESS",
    default: "alerts@<the public URL's host>",
    help:
      'The sender of email alerts, e.g. "Nanodems Connector <alerts@example.com>" (a sender the mail server lets this cloud use)',
  },
  "trusted-proxies": {
    type: "string",
    env: "NC_TRUSTED_PROXIES",
    arg: "CIDRS",
    help:
      "Reverse proxies and load balancers whose X-Forwarded-For (HTTP) and PROXY protocol header (HTTP and RTSP) are believed, comma-separated CIDRs (set it behind one: sign-in limits and audit then count clients, not the balancer; on the data port such an address may hold 1024 connections before their tickets, not 64)",
  },
  rtsp: {
    type: "string",
    env: "NC_RTSP",
    arg: "HOST:PORT",
    default: "0.0.0.0:9554",
    help: "RTSP gateway listener (rtsp://cloud:PORT/{handle}/…, RTSP over TCP)",
  },
  "rtsp-public-url": {
    type: "string",
    env: "NC_RTSP_PUBLIC_URL",
    arg: "URL",
    default: "rtsp://<public-url host>:<rtsp port>",
    help: "The rtsp:// base operators use to reach the gateway (in minted RTSP URLs)",
  },
  "secret-key-file": {
    type: "string",
    env: "NC_SECRET_KEY_FILE",
    arg: "FILE",
    default: "<data-dir>/cloud-secret.key",
    help: "The cloud secret (created 0600 if missing); every node of one cloud must share it",
  },
  "log-level": {
    type: "string",
    env: "NC_LOG_LEVEL",
    arg: "LEVEL",
    default: "info",
    help: `One of ${LOG_LEVELS.join(", ")}`,
  },
  "log-format": {
    type: "string",
    env: "NC_LOG_FORMAT",
    arg: "FORMAT",
    default: "plain",
    help: "plain or json",
  },
  "downloads-dir": {
    type: "string",
    env: "NC_DOWNLOADS_DIR",
    arg: "DIR",
    default: "<data-dir>/downloads",
    help: "Compiled executables served at /download (layout of deno task compile: out/downloads)",
  },
};

const hostList = z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[A-Za-z0-9.:-]+$/, "expected host names or IPs")).min(1));

/**
 * The control certificate's names when `--control-hostnames` is not given: the public URL's host
 * first (where the agents that enroll through it will dial the control port), then the loopback
 * names. A public URL that names this machine only (or none) gives the loopback names alone.
 * Without this, a node given `--public-url https://connector.example.com` and nothing else told
 * every agent to dial `localhost`: they enrolled, then never connected.
 */
export function defaultControlHostnames(publicUrl: string | undefined): string[] {
  const loopback = ["localhost", "127.0.0.1"];
  if (!publicUrl) return loopback;
  let host: string;
  try {
    host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  } catch {
    return loopback;
  }
  if (!host || isLoopbackHost(host)) return loopback;
  return [host, ...loopback];
}

/** The schema of the cloud's configuration (keys are the flag names). */
export const cloudConfigSchema = z.object({
  "data-dir": z.string().min(1).default("./data"),
  store: storeUrl.default("sqlite:"),
  node: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected 1-64 of A-Z a-z 0-9 . _ -")
    .default(hostname() || "node-1"),
  http: listenAddress.prefault("0.0.0.0:8080"),
  control: listenAddress.prefault("0.0.0.0:8443"),
  data: listenAddress.prefault("0.0.0.0:8444"),
  "data-public-port": z.coerce.number({ error: "expected a port number 1-65535" }).int(
    "expected a port number 1-65535",
  ).min(1, "expected a port number 1-65535").max(65535, "expected a port number 1-65535")
    .optional(),
  "control-hostnames": hostList.optional(),
  "control-endpoint": z.string().regex(
    /^(?:[^\s:,]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5})(?:,(?:[^\s:,]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}))*$/,
    "expected HOST:PORT or a comma-separated list of them",
  )
    .optional(),
  internal: z.union([z.literal("off").transform(() => null), listenAddress]).prefault(
    "0.0.0.0:7443",
  ),
  "internal-endpoint": z.string().regex(
    /^[^\s:,]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/,
    "expected HOST:PORT",
  ).optional(),
  metrics: listenAddress.optional(),
  "enrollment-ttl": duration.prefault("24h"),
  "agent-cert-days": z.coerce.number().int("expected a whole number of days").min(1).max(825)
    .default(30),
  "tunnel-open-timeout": duration.prefault("30s"),
  "proxy-timeout": duration.prefault("30s"),
  "proxy-domain": z.string().regex(
    /^(?=.{1,200}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i,
    "expected a domain name such as devices.example.com",
  ).optional(),
  "tunnel-idle-timeout": z.union([z.literal("off").transform(() => null), duration])
    .prefault("off"),
  "public-url": z.url().optional(),
  "admin-api-key": z.string().optional().refine(
    (k) => k === undefined || (k.length >= 32 && new Set(k).size >= 12),
    "a configured admin key must be at least 32 characters of varied random text (e.g. openssl rand -base64 32)",
  ),
  "admin-api-key-file": z.string().min(1).optional(),
  "allow-link-local-devices": z.boolean().default(false),
  "offline-grace": duration.prefault("30s"),
  "audit-retention-days": z.string().default("off").transform((s, ctx) => {
    if (s === "off") return null;
    if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 36500) {
      ctx.addIssue({ code: "custom", message: "expected a whole number of days (1-36500) or off" });
      return z.NEVER;
    }
    return Number(s);
  }),
  "event-retention-days": z.string().default("90").transform((s, ctx) => {
    if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 36500) {
      ctx.addIssue({ code: "custom", message: "expected a whole number of days (1-36500)" });
      return z.NEVER;
    }
    return Number(s);
  }),
  "motion-max-cameras": z.string().default("2000").transform((s, ctx) => {
    if (!/^[0-9]{1,6}$/.test(s) || Number(s) < 1 || Number(s) > 100_000) {
      ctx.addIssue({ code: "custom", message: "expected a whole number of cameras (1-100000)" });
      return z.NEVER;
    }
    return Number(s);
  }),
  "motion-subscribe-concurrency": z.string().default("16").transform((s, ctx) => {
    if (!/^[0-9]{1,4}$/.test(s) || Number(s) < 1 || Number(s) > 1_000) {
      ctx.addIssue({ code: "custom", message: "expected a whole number of cameras (1-1000)" });
      return z.NEVER;
    }
    return Number(s);
  }),
  "allow-loopback-webhooks": z.boolean().default(false),
  "allow-private-webhooks": z.boolean().default(false),
  "webhook-retry": duration.prefault("10s"),
  "webhook-proxy": z.string().optional().transform((s, ctx) => {
    try {
      return parseWebhookProxy(s);
    } catch (e) {
      if (!(e instanceof ProxyError)) throw e;
      ctx.addIssue({ code: "custom", message: e.message });
      return z.NEVER;
    }
  }),
  smtp: z.string().optional().transform((s, ctx) => {
    try {
      return parseSmtpUrl(s);
    } catch (e) {
      if (!(e instanceof SmtpUrlError)) throw e;
      ctx.addIssue({ code: "custom", message: e.message });
      return z.NEVER;
    }
  }),
  "mail-from": z.string().trim().min(3).max(254).refine(
    (s) => !/[\r\n]/.test(s) && /@/.test(s),
    'expected an address, or "Name <address>"',
  ).optional(),
  "admin-api-key-cidrs": z.string().optional().transform((s, ctx) => {
    const list = (s ?? "").split(",").map((x) => x.trim()).filter(Boolean);
    if (list.length && !cidrList(list)) {
      ctx.addIssue({ code: "custom", message: `expected CIDRs like 127.0.0.0/8, got "${s}"` });
      return z.NEVER;
    }
    return list;
  }),
  "trusted-proxies": z.string().optional().transform((s, ctx) => {
    const list = (s ?? "").split(",").map((x) => x.trim()).filter(Boolean);
    if (list.length && !cidrList(list)) {
      ctx.addIssue({ code: "custom", message: `expected CIDRs like 127.0.0.1/32, got "${s}"` });
      return z.NEVER;
    }
    return list;
  }),
  rtsp: listenAddress.prefault("0.0.0.0:9554"),
  "rtsp-public-url": z.string().regex(
    /^rtsp:\/\/[^\s/?#]+$/,
    "expected rtsp://HOST[:PORT] with no path",
  ).optional(),
  "secret-key-file": z.string().min(1).optional(),
  "log-level": z.enum(LOG_LEVELS).default("info"),
  "log-format": z.enum(LOG_FORMATS).default("plain"),
  "downloads-dir": z.string().min(1).optional(),
}).refine((c) => !(c["admin-api-key"] && c["admin-api-key-file"]), {
  path: ["admin-api-key-file"],
  message: "give the admin key either directly or in a file, not both",
}).transform((c) => ({
  dataDir: c["data-dir"],
  store: c.store,
  node: c.node,
  http: c.http as ListenAddress,
  control: c.control as ListenAddress,
  data: c.data as ListenAddress,
  dataPublicPort: c["data-public-port"] ?? null,
  controlHostnames: c["control-hostnames"] ?? defaultControlHostnames(c["public-url"]),
  controlEndpoint: c["control-endpoint"],
  internal: c.internal as ListenAddress | null,
  internalEndpoint: c["internal-endpoint"] ?? null,
  metrics: (c.metrics as ListenAddress | undefined) ?? null,
  enrollmentTtlMs: c["enrollment-ttl"],
  agentCertDays: c["agent-cert-days"],
  tunnelOpenTimeoutMs: c["tunnel-open-timeout"],
  proxyTimeoutMs: c["proxy-timeout"],
  proxyDomain: c["proxy-domain"]?.toLowerCase() ?? null,
  tunnelIdleTimeoutMs: c["tunnel-idle-timeout"] as number | null,
  publicUrl: c["public-url"]?.replace(/\/$/, ""),
  adminApiKey: c["admin-api-key"] ?? null,
  adminApiKeyFile: c["admin-api-key-file"] ?? null,
  allowLinkLocalDevices: c["allow-link-local-devices"],
  offlineGraceMs: c["offline-grace"],
  auditRetentionDays: c["audit-retention-days"] as number | null,
  eventRetentionDays: c["event-retention-days"] as number,
  motionMaxCameras: c["motion-max-cameras"] as number,
  motionSubscribeConcurrency: c["motion-subscribe-concurrency"] as number,
  webhooks: {
    allowLoopback: c["allow-loopback-webhooks"],
    allowPrivate: c["allow-private-webhooks"],
    retryMs: c["webhook-retry"],
    proxy: c["webhook-proxy"],
    smtp: c.smtp,
    mailFrom: c["mail-from"] ?? null,
  },
  adminApiKeyCidrs: c["admin-api-key-cidrs"],
  trustedProxies: c["trusted-proxies"],
  rtsp: c.rtsp as ListenAddress,
  rtspPublicUrl: c["rtsp-public-url"] ?? null,
  secretKeyFile: c["secret-key-file"] ?? null,
  logLevel: c["log-level"] as LogLevel,
  logFormat: c["log-format"] as LogFormat,
  downloadsDir: c["downloads-dir"] ?? join(c["data-dir"], "downloads"),
}));

/** The cloud's validated configuration. */
export type CloudConfig = z.infer<typeof cloudConfigSchema>;

/** Validates parsed flag/env values into a CloudConfig (throws UsageError naming the field). */
export function loadCloudConfig(values: Record<string, unknown>): CloudConfig {
  return validateConfig(cloudConfigSchema, values, cloudOptions);
}
