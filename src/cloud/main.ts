/**
 * The cloud role: `connector cloud` starts every cloud service (HTTP API and tunnels, the agent
 * control listener, the agent data listener) on the embedded store in the data directory, and
 * stops them cleanly on SIGINT/SIGTERM. `connector cloud admin …` manages tenants, sites,
 * devices and tokens from the shell.
 * @module
 */
import { parseFlags, renderOptions, UsageError } from "../shared/cli.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { installLastResort } from "../shared/last_resort.ts";
import { raiseOpenFileLimit } from "../shared/open_files.ts";
import { type Clock, systemClock } from "../shared/clock.ts";
import { clockFromEnv } from "../shared/test_clock.ts";
import { VERSION } from "../shared/version.ts";
import { type CloudConfig, cloudOptions, loadCloudConfig } from "./config.ts";
import { openStore, redactStoreUrl } from "./store/open.ts";
import { isMongoUrl } from "./store/mongo.ts";
import { withClippedAudit } from "./store/clipped_audit.ts";
import { AdminKeys } from "./tenancy/admin_keys.ts";
import { trustedProxyTest } from "./tenancy/auth.ts";
import { readSecret } from "../shared/secret_input.ts";
import type { Store } from "./store/store.ts";
import { type CloudPki, ensurePki } from "./pki.ts";
import { Registry } from "./control/registry.ts";
import { TunnelBroker } from "./control/tunnels.ts";
import { type ControlServer, startControlServer } from "./control/server.ts";
import { startDataListener } from "./control/data_listener.ts";
import { CertRenewal } from "./control/cert_renewal.ts";
import { watchAgentCertExpiry } from "./cert_expiry.ts";
import { TlsIdentity } from "./control/tls_identity.ts";
import { watchCas } from "./ca_watch.ts";
import { renewServerCerts, watchServerCerts } from "./server_cert_renewal.ts";
import type { KeyAndCert } from "../shared/crypto/pki.ts";
import { createApp } from "./api/app.ts";
import { startHttpServer } from "./api/http_server.ts";
import { listening } from "./listen_error.ts";
import { DeviceConnPool } from "./access/proxy/device_conn.ts";
import { deviceCertificateRecorder } from "./access/proxy/device_certificate.ts";
import { DeviceLogin } from "./access/proxy/device_login.ts";
import { LiveAccess } from "./access/live.ts";
import { TerminalSlots } from "./access/terminal/slots.ts";
import { OriginSigner } from "./access/proxy/origin.ts";
import { watchChanges } from "./watcher.ts";
import { startBackgroundJobs } from "./jobs/stats_jobs.ts";
import { lockOwner } from "./jobs/leader.ts";
import { EventProducer } from "./events/producer.ts";
import { withAuditEvents } from "./events/audit_events.ts";
import { recordReachability } from "./events/reachability.ts";
import { DataChannelWatch } from "./events/data_channel.ts";
import { startPresenceJob } from "./events/agent_availability.ts";
import { type MotionWatch, startMotionWatch } from "./events/motion_watch.ts";
import { startDeliverer } from "./events/deliverer.ts";
import { checkMailServer, defaultMailFrom, Mailer, mailProxyFor } from "./events/mailer.ts";
import { sharedSettings, startNodeRegistry } from "./nodes.ts";
import { WebhookSecrets } from "./events/webhook_secret.ts";
import { noProxyFrom, unusedEnvProxyNote } from "./events/webhook_proxy.ts";
import { joinRefusal } from "./joining.ts";
import { adminMain } from "./admin.ts";
import { join } from "node:path";
import { loadCloudSecret, SECRET_FILE } from "./tenancy/cloud_secret.ts";
import { LiveHub } from "./live/hub.ts";
import { DeviceSecrets } from "./tenancy/device_secrets.ts";
import {
  controlOnLoopbackOnly,
  defaultPublicUrl,
  plainOverNetwork,
  recordPublicUrl,
} from "./public_url.ts";
import { commandHint } from "../shared/invocation.ts";
import { RtspUrlSigner } from "./access/rtsp/signed_url.ts";
import { PictureLinks } from "./events/picture_links.ts";
import { type RtspGateway, startRtspGateway } from "./access/rtsp/listener.ts";
import { openLocal } from "./access/route.ts";
import { BridgeClient } from "./interrelay/bridge_tunnel.ts";
import {
  type InternalListener,
  type InternalListenerOptions,
  startInternalListener,
} from "./interrelay/internal_listener.ts";
import { shareLive } from "./access/live_ws.ts";
import { startMetricsListener } from "./api/health.ts";
import { agentsConnected } from "./cloud_metrics.ts";
import { AppError } from "../shared/errors.ts";

/** Below this many open files the cloud warns at start (a node serves thousands of agents). */
const LOW_OPEN_FILES = 16_384;
/** A running cloud. */
export interface Cloud {
  config: CloudConfig;
  store: Store;
  pki: CloudPki;
  registry: Registry;
  control: ControlServer;
  ports: {
    http: number;
    control: number;
    data: number;
    rtsp: number;
    internal: number | null;
    metrics: number | null;
  };
  /** The control endpoint agents are told to dial. */
  controlEndpoint: string;
  /** Renews the server and node certificates if due (also done hourly); says which were. */
  renewServerCerts(): Promise<{ server: boolean; node: boolean }>;
  stop(): Promise<void>;
}

/** Starts every cloud service. */
export async function startCloud(
  config: CloudConfig,
  opts: { log?: Logger; clock?: Clock } = {},
): Promise<Cloud> {
  const log = opts.log ??
    createLogger({ role: "cloud", level: config.logLevel, format: config.logFormat });
  const clock = opts.clock ?? systemClock;
  if (isMongoUrl(config.store)) {
    // Opening waits for the database (up to 10 s, mongo.ts): say what the node is waiting for.
    log.info({ store: redactStoreUrl(config.store) }, "connecting to the shared store");
  }
  const rawStore = withClippedAudit(
    await openStore(config.store, config.dataDir, clock, {
      // The embedded store's WAL checkpoints run in a worker, not inside a commit on this
      // event loop (sqlite_checkpointer.ts).
      backgroundCheckpoints: {
        onFallback: (why) =>
          log.warn({ err: why }, "store checkpoints back on the main thread (worker failed)"),
      },
      onUpgrade: ({ from, to, tookMs }) =>
        tookMs === undefined
          ? log.info({ from, to }, "store: upgrading the schema (a large audit log takes seconds)")
          : log.info({ from, to, ms: Math.round(tookMs) }, "store: schema upgraded"),
    }),
  );
  const events = new EventProducer({ store: rawStore, log, clock });
  // Every audit entry that is also an event (enrollment used, credential revoked, device
  // certificate changed) raises it here, whoever appends it.
  const store = withAuditEvents(rawStore, events);
  const secretPath = config.secretKeyFile ?? join(config.dataDir, SECRET_FILE);
  const refusal = await joinRefusal(
    store,
    config.node,
    { dataDir: config.dataDir, secretPath },
    clock.now(),
  );
  if (refusal) {
    await rawStore.close();
    throw new Error(refusal);
  }
  const pki = await ensurePki({
    dataDir: config.dataDir,
    node: config.node,
    hostnames: config.controlHostnames,
    log,
    agentCertDays: config.agentCertDays,
    clock,
  });
  const secret = await loadCloudSecret(secretPath);
  const secrets = await DeviceSecrets.create(secret);
  const signer = await RtspUrlSigner.create(secret);
  const webhookSecrets = await WebhookSecrets.create(secret);
  const pictureLinks = await PictureLinks.create(secret);
  const webhookPolicy = {
    allowLoopback: config.webhooks.allowLoopback,
    allowPrivate: config.webhooks.allowPrivate,
  };
  const registry = new Registry();
  // Agents online whose data connections cannot open: one agent.data_blocked per spell.
  const dataChannel = new DataChannelWatch({ store, events, clock });
  const broker = new TunnelBroker(registry, {
    timeoutMs: config.tunnelOpenTimeoutMs,
    log,
    onDataBound: (agentId) => dataChannel.opened(registry.get(agentId)),
  });
  const data = await listening("data", config.data, () =>
    startDataListener({
      listen: config.data,
      certPem: pki.server.certPem,
      keyPem: pki.server.keyPem,
      broker,
      log,
      trustedSource: trustedProxyTest(config.trustedProxies),
    }));
  const identity = new TlsIdentity(pki.agentTrustPem, pki.server);
  const localDiscover = (
    agentId: string,
    windowMs: number,
  ): ReturnType<ControlServer["discover"]> => control.discover(agentId, windowMs);
  // Read per connection: a renewed node certificate or a rotated internal CA applies at once.
  const internalIdentity = () => ({
    caPem: pki.internalTrustPem,
    certPem: pki.node.certPem,
    keyPem: pki.node.keyPem,
  });
  let internal: InternalListener | null = null;
  // A sibling's live viewer is served once the routes exist (below); until then, as if offline.
  let shareLiveHere: InternalListenerOptions["openLive"] = () =>
    Promise.reject(new AppError("agent_offline"));
  if (config.internal) {
    const at = config.internal;
    internal = await listening("internal", at, () =>
      startInternalListener({
        listen: at,
        identity: internalIdentity,
        node: config.node,
        openLocal: (agentId, host, port) => openLocal({ registry, broker }, agentId, host, port),
        closedLocal: (agentId) => {
          const s = registry.get(agentId);
          if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
        },
        discoverLocal: localDiscover,
        openLive: (req) => shareLiveHere(req),
        store,
        log,
      }));
  }
  const internalEndpoint = internal
    ? config.internalEndpoint ?? `${bracketed(config.controlHostnames[0])}:${internal.port}`
    : "";
  const bridge = internal
    ? new BridgeClient({
      node: config.node,
      identity: internalIdentity,
      openTimeoutMs: config.tunnelOpenTimeoutMs,
      log,
    })
    : undefined;
  const control: ControlServer = await listening(
    "control",
    config.control,
    () =>
      startControlServer({
        listen: config.control,
        identity,
        node: config.node,
        endpoint: internalEndpoint,
        // What agents dial: the bound port, unless a NAT or port mapping puts it elsewhere.
        dataPort: () => config.dataPublicPort ?? data.port,
        store,
        registry,
        broker,
        clock,
        log,
        certs: new CertRenewal({
          store,
          issuer: pki.agentCerts,
          caPem: () => pki.agentTrustPem,
          clock,
          log,
          node: config.node,
        }),
        onReachability: (s, report) => recordReachability({ store, events, clock }, s, report),
        onDataDialFailed: (s, reason) => dataChannel.failed(s, reason),
      }),
  );
  const controlEndpoint = config.controlEndpoint ??
    `${config.controlHostnames[0]}:${control.port}`;
  const adminKeys = await AdminKeys.create({
    key: config.adminApiKey,
    file: config.adminApiKeyFile,
    clock,
    log,
  });
  const authContext = () => ({
    adminKeyHashes: adminKeys.hashes(),
    adminKeyCidrs: config.adminApiKeyCidrs,
    trustedProxies: config.trustedProxies,
  });
  const live = new LiveAccess();
  const liveHub = new LiveHub();
  let motionWatch: MotionWatch | undefined = undefined; // started below, once the lock owner is known
  // The default sender names the public URL, known once the HTTP port listens: read at each send.
  const mailer = config.webhooks.smtp
    ? new Mailer(
      config.webhooks.smtp,
      () => config.webhooks.mailFrom ?? defaultMailFrom(publicUrl()),
      {
        // The company's outbound proxy carries email too, unless the relay is local.
        proxy: mailProxyFor(
          config.webhooks.proxy,
          config.webhooks.smtp,
          noProxyFrom(Deno.env.toObject()),
        ),
      },
    )
    : null;
  const app = createApp({
    mailer,
    motion: () => motionWatch,
    webhooks: { secrets: webhookSecrets, policy: webhookPolicy, mail: !!mailer },
    live,
    liveHub,
    authContext,
    store,
    pki,
    registry,
    broker,
    // The app's own routes that reach an agent (the live view's readiness question, camera
    // snapshots) do it as the access paths do: through the node that holds its control stream.
    bridge,
    clock,
    log,
    node: config.node,
    controlEndpoint: () => controlEndpoint,
    enrollmentTtlMs: config.enrollmentTtlMs,
    publicUrl: () => publicUrl(),
    pushAllowlist: (siteId) => control.pushAllowlist(siteId),
    allowLinkLocalDevices: config.allowLinkLocalDevices,
    kick: (agentId, reason) => control.kick(agentId, reason),
    downloadsDir: config.downloadsDir,
    secrets,
    signer,
    pictureLinks,
    rtspBase: () =>
      config.rtspPublicUrl ??
        `rtsp://${new URL(publicUrl()).hostname}:${rtsp.port}`,
    discover: async (agentId, windowMs) => {
      if (registry.get(agentId) || !bridge) return await localDiscover(agentId, windowMs);
      const p = await store.getPresence(agentId);
      if (!p || p.node === config.node || !p.endpoint) throw new AppError("agent_offline");
      return await bridge.discover(p, agentId, windowMs);
    },
  });
  let httpPort = config.http.port;
  const publicUrl = () => config.publicUrl ?? defaultPublicUrl(config.http.hostname, httpPort).url;
  let rtsp: RtspGateway = { port: config.rtsp.port, close: () => Promise.resolve() };
  const route = {
    store,
    registry,
    broker,
    clock,
    log,
    authContext,
    tunnelIdleTimeoutMs: config.tunnelIdleTimeoutMs,
    live,
    node: config.node,
    bridge,
  };
  shareLiveHere = (req) => shareLive({ ...route, hub: liveHub, secrets }, req);
  const pool = new DeviceConnPool({
    ...route,
    onCertificate: deviceCertificateRecorder({ store, log, clock }),
  }, { handshakeMs: config.proxyTimeoutMs });
  const http = await listening("http", config.http, async () =>
    startHttpServer({
      listen: config.http,
      fetch: (req, env) => app.fetch(req, env),
      route,
      proxy: {
        ...route,
        pool,
        responseTimeoutMs: config.proxyTimeoutMs,
        login: new DeviceLogin({ store, secrets }),
        origins: config.proxyDomain
          ? { domain: config.proxyDomain, signer: await OriginSigner.create(secret) }
          : undefined,
        publicUrl,
      },
      cloudBase: () => publicUrl(),
      liveView: { hub: liveHub, secrets },
      terminal: { ...route, secrets, slots: new TerminalSlots(store, log) },
    }));
  const stopWatch = watchChanges({
    store,
    registry,
    control,
    log,
    live: route.live,
    now: () => clock.now(),
  });
  const stopCertWatch = watchAgentCertExpiry({ store, clock, log, cas: () => pki });
  const serverCerts = {
    dataDir: config.dataDir,
    node: config.node,
    hostnames: config.controlHostnames,
    pki,
    clock,
    log,
    applyServer: async (pair: KeyAndCert) => {
      identity.update(pair);
      await data.setIdentity(pair);
    },
  };
  const stopServerCertWatch = watchServerCerts(serverCerts);
  const stopCaWatch = watchCas({
    dataDir: config.dataDir,
    pki,
    trust: (caPem) => identity.updateCa(caPem),
    renewServer: () => renewServerCerts(serverCerts),
    pushPolicy: () => control.pushCertificatePolicy(),
    log,
  });
  const owner = lockOwner(config.node);
  motionWatch = startMotionWatch({
    ...route,
    pictureLinks,
    secrets,
    events,
    owner,
    node: config.node,
    maxWatched: config.motionMaxCameras,
    subscribeConcurrency: config.motionSubscribeConcurrency,
    publicUrl,
  });
  const stopJobs = startBackgroundJobs({
    store,
    clock,
    owner,
    log,
    auditRetentionDays: config.auditRetentionDays,
    eventRetentionDays: config.eventRetentionDays,
  });
  if (mailer) checkMailServer(mailer, log);
  const stopDeliverer = startDeliverer({
    store,
    secrets: webhookSecrets,
    clock,
    owner,
    policy: webhookPolicy,
    proxy: config.webhooks.proxy,
    noProxy: noProxyFrom(Deno.env.toObject()),
    firstRetryMs: config.webhooks.retryMs,
    mailer,
    consoleUrl: publicUrl,
    log,
  });
  const stopNodeRegistry = await startNodeRegistry({
    store,
    clock,
    log,
    self: {
      name: config.node,
      version: VERSION,
      startedAt: clock.now(),
      internal: internalEndpoint,
      // Read at each announcement: the agent CA pins change with a rotation's phases.
      get settings() {
        return sharedSettings(config, {
          secretKeyId: secret.keyId,
          agentCaPins: pki.agentTokenPins,
        });
      },
    },
  });
  const stopPresenceJob = startPresenceJob({
    store,
    events,
    clock,
    owner,
    graceMs: config.offlineGraceMs,
    log,
  });
  httpPort = http.port;
  await recordPublicUrl(config.dataDir, publicUrl());
  if (!config.publicUrl && defaultPublicUrl(config.http.hostname, httpPort).guess) {
    log.warn(
      { publicUrl: publicUrl() },
      "no --public-url: links and commands the cloud mints name this guess; set --public-url to the address users reach",
    );
  }
  if (controlOnLoopbackOnly(controlEndpoint, publicUrl())) {
    log.warn(
      { controlEndpoint, publicUrl: publicUrl() },
      "agents that enroll will be told to dial the control channel on their own machine (a loopback address): set --control-hostnames to the name they reach this node by (it goes in the control certificate), or --control-endpoint",
    );
  }
  const envProxyNote = unusedEnvProxyNote(config.webhooks.proxy, Deno.env.toObject());
  if (envProxyNote) log.warn(envProxyNote);
  if (config.publicUrl && plainOverNetwork(publicUrl())) {
    log.warn(
      { publicUrl: publicUrl() },
      "the public URL is plain http: passwords, tokens and tunnels would cross the network unencrypted; put HTTPS in front of the HTTP port (install/Caddyfile) and set --public-url https://…",
    );
  }
  rtsp = await listening("rtsp", config.rtsp, () =>
    startRtspGateway(config.rtsp, {
      ...route,
      responseTimeoutMs: config.proxyTimeoutMs,
      secrets,
      signer,
    }));
  agentsConnected.collect(() => registry.all().length);
  const metricsListener = config.metrics
    ? await listening("metrics", config.metrics, () =>
      startMetricsListener(config.metrics!, {
        store,
        node: config.node,
        agents: () => registry.all().length,
      }))
    : null;
  const ports = {
    http: http.port,
    control: control.port,
    data: data.port,
    rtsp: rtsp.port,
    internal: internal?.port ?? null,
    metrics: metricsListener?.port ?? null,
  };
  log.info(
    {
      node: config.node,
      ...ports,
      ...(config.dataPublicPort ? { dataPublicPort: config.dataPublicPort } : {}),
      controlEndpoint,
      internalEndpoint,
      dataDir: config.dataDir,
      store: redactStoreUrl(config.store),
    },
    "cloud ready",
  );
  let stopped = false;
  return {
    config,
    store,
    pki,
    registry,
    control,
    ports,
    controlEndpoint,
    renewServerCerts: () => renewServerCerts(serverCerts),
    async stop() {
      if (stopped) return;
      stopped = true;
      stopWatch();
      stopCertWatch();
      stopServerCertWatch();
      stopCaWatch();
      await motionWatch?.stop();
      await stopJobs();
      await stopPresenceJob();
      await stopDeliverer();
      await control.close();
      await internal?.close();
      await metricsListener?.close();
      pool.closeAll();
      await data.close();
      await rtsp.close();
      await http.close();
      await stopNodeRegistry(); // last before the store: the node served until here
      await store.close();
      log.info("cloud stopped");
    },
  };
}

const HELP = `connector cloud — the Nanodems Connector cloud node

Usage:
  connector cloud [options]            start the cloud (API, tunnels, agent listeners)
  connector cloud admin <command> ...  manage tenants, sites, devices and tokens
                                       (see: connector cloud admin --help)

The first start creates the data directory with the embedded database, the agent CA and the
internal CA (keys 0600). No database to install. Agents dial the control and data ports; give
their host names with --control-hostnames so the server certificate matches.

The HTTP port speaks plain HTTP: in production put HTTPS in front of it (install/Caddyfile does,
with a certificate Caddy obtains and renews), listen on 127.0.0.1 (--http 127.0.0.1:8080), and set
--public-url https://… and --trusted-proxies 127.0.0.1/32. The agent, RTSP and internal ports are
published directly: they speak their own TLS (or RTSP).

Options:
${renderOptions(cloudOptions)}

Example:
  connector cloud --node node-1 --data-dir /var/lib/nanodems --control-hostnames cloud.example.com
`;

/** Entry point of `connector cloud`. */
export async function cloudMain(argv: string[]): Promise<number> {
  if (argv[0] === "admin") return await adminMain(argv.slice(1));
  // Started by the cloud itself (control/relay.ts): the agents' gRPC listener in its own process.
  if (argv[0] === "control-relay") {
    return await (await import("./control/relay_child.ts")).relayMain();
  }
  const { values, positionals } = parseFlags(argv, cloudOptions);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(`connector cloud ${VERSION}`);
    return 0;
  }
  if (positionals.length) {
    throw new UsageError(`unknown command "${positionals[0]}" (see connector cloud --help)`);
  }
  // The admin key from standard input (--admin-api-key -); typed on the command line: a warning.
  const adminKey = await readSecret({
    flag: "admin-api-key",
    value: values["admin-api-key"] as string | undefined,
    file: undefined,
    env: "NC_ADMIN_API_KEY",
    argv,
  });
  const config = loadCloudConfig({ ...values, "admin-api-key": adminKey ?? undefined });
  const log = createLogger({ role: "cloud", level: config.logLevel, format: config.logFormat });
  installLastResort(log);
  // Each agent holds two descriptors on its node (control stream, data connection).
  const files = raiseOpenFileLimit();
  if (files && files.after < LOW_OPEN_FILES) {
    log.warn(
      { openFiles: files.after },
      `this process may hold only ${files.after} open files (the hard limit): each agent takes ` +
        `two (its control stream and data connection) and each operator's connection one, so ` +
        `this node serves fewer than ${Math.floor(files.after / 2)} agents; raise it ` +
        `(LimitNOFILE=65536 in the service, as install/connector-cloud.service sets, or ` +
        `ulimit -Hn as root)`,
    );
  }
  const cloud = await startCloud(config, { log, clock: clockFromEnv((m) => log.warn(m)) });
  if (config.logFormat === "plain") {
    const quickstartHint = commandHint(
      "cloud",
      ["admin", "quickstart", "--email", "you@example.com", "--password-stdin"],
      { "data-dir": config.dataDir === "./data" ? undefined : config.dataDir },
    );
    console.error(
      `\nNanodems Connector cloud ${VERSION} (node ${config.node})\n` +
        `  web UI   http://${shown(config.http.hostname)}:${cloud.ports.http}/ (API under /api)\n` +
        `  control  ${cloud.controlEndpoint} (agents, gRPC mTLS)\n` +
        `  data     port ${cloud.ports.data} (agents, TLS)\n` +
        (cloud.ports.internal !== null
          ? `  internal port ${cloud.ports.internal} (sibling nodes, mTLS on the internal CA)\n`
          : "") +
        (cloud.ports.metrics !== null
          ? `  metrics  http://${shown(config.metrics!.hostname)}:${cloud.ports.metrics}/metrics\n`
          : "") +
        `  rtsp     rtsp://${shown(config.rtsp.hostname)}:${cloud.ports.rtsp}/{handle}/…\n` +
        `  data dir ${config.dataDir}\n` +
        `Next: ${quickstartHint}\n` +
        `      (type a password of 10+ characters, then Enter), and sign in to the web UI.\n` +
        `      ${commandHint("cloud", ["admin", "--help"])} lists the rest.\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const onSignal = () => resolve();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  });
  log.info("shutting down");
  await Promise.race([cloud.stop(), new Promise((r) => setTimeout(r, 5_000))]);
  return 0;
}

function bracketed(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function shown(host: string): string {
  return host === "0.0.0.0" ? "localhost" : host.includes(":") ? `[${host}]` : host;
}
