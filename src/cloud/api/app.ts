/**
 * The cloud's HTTP surface as one hono app: health, agent enrollment, the raw WebSocket tunnel.
 * Every input is validated with zod; every failure leaves as `{error, message}` with the status
 * of the error catalogue — never a stack trace.
 * @module
 */
import type { Mailer } from "../events/mailer.ts";
import type { MotionWatch } from "../events/motion_watch.ts";
import { ForwardedHint } from "./forwarded_hint.ts";
import { Hono } from "hono";
import { live, probeReady, scrape } from "./health.ts";
import { requireAuth } from "./middleware/auth.ts";
import { METRICS_CONTENT_TYPE } from "../../shared/metrics.ts";
import type { Context } from "hono";
import { toErrorResponse } from "../../shared/errors.ts";
import { isStoreOutage, logStoreFailure } from "../store/outage.ts";
import type { Logger } from "../../shared/log.ts";
import type { Store } from "../store/store.ts";
import type { CloudPki } from "../pki.ts";
import { pickAgent, type RouteDeps } from "../access/route.ts";
import type { LiveHub } from "../live/hub.ts";
import { liveAsk, liveKey } from "../access/live_ws.ts";
import { authorizeTunnel } from "../access/tunnel_ws.ts";
import type { Principal } from "../tenancy/auth.ts";
import { fetchSnapshot, snapshotQuery } from "../access/snapshot.ts";
import { eventSnapshotRoutes } from "./event_snapshots.ts";
import type { PictureLinks } from "../events/picture_links.ts";
import { buildPlan } from "../access/plan.ts";
import { credentialEvents } from "../access/credential_events.ts";
import { authenticate, clientAddress, fromTrustedProxy } from "../tenancy/auth.ts";
import { requireUpgradeProof } from "../tenancy/upgrade_proof.ts";
import { AppError, storedAppError } from "../../shared/errors.ts";
import { FAILURE_MEMORY_MS } from "../live/hub.ts";
import { enroll, enrollRequest } from "./enroll.ts";
import { jsonBody } from "./validate.ts";
import { createSignIn, sessionRoutes } from "./session_routes.ts";
import { tokenRoutes } from "./tokens.ts";
import { siteRoutes } from "./sites.ts";
import { agentRoutes } from "./agents.ts";
import { cliSessionRoutes } from "./cli_sessions.ts";
import { adminRoutes } from "./admin_api.ts";
import { openApiDocument } from "./openapi.ts";
import { securityHeaders } from "./middleware/security_headers.ts";
import { limitBody } from "./middleware/body_limit.ts";
import { refererFallback } from "../access/proxy/referer_fallback.ts";
import { errorPage } from "../access/proxy/proxy.ts";
import { loginPage } from "../ui/login.tsx";
import { uiNotFound, uiRoutes } from "../ui/routes.tsx";
import { downloadRoutes } from "./downloads.ts";
import { installerRoutes } from "./installers.ts";
import { teamRoutes } from "./team.ts";
import { liveRoutes } from "./live_sessions.ts";
import { inviteRoutes } from "../ui/invite.tsx";
import type { DeviceSecrets } from "../tenancy/device_secrets.ts";
import type { RtspUrlSigner } from "../access/rtsp/signed_url.ts";
import { deviceCredentialRoutes } from "./device_credentials.ts";
import { terminalApiRoutes } from "./terminal.ts";
import { rtspUrlRoutes } from "./rtsp_urls.ts";
import { cameraPathRoutes } from "./camera_paths.ts";
import { ptzRoutes } from "./ptz.ts";
import { focusRoutes } from "./focus.ts";
import { rebootRoutes } from "./reboot.ts";
import { cameraClockRoutes } from "./camera_clock.ts";
import { relayRoutes } from "./relays.ts";
import { recordingRoutes } from "./recording.ts";
import { clipRoutes } from "./recording_clip.ts";
import { claimRoutes } from "./claim.ts";
import { discoveryRoutes } from "./discovery.ts";
import type { DiscoveryResult } from "../../shared/protocol/control.ts";
import { eventRoutes } from "./events.ts";
import { webhookRoutes } from "./webhooks.ts";
import { DEVICE_PORT_HEADER } from "../../shared/transport/early_data.ts";
import type { WebhookSecrets } from "../events/webhook_secret.ts";
import type { WebhookUrlPolicy } from "../events/webhook_url.ts";

/** What the HTTP app needs. */
export interface AppDeps extends RouteDeps {
  store: Store;
  pki: CloudPki;
  node: string;
  controlEndpoint: () => string;
  enrollmentTtlMs: number;
  /** The cloud's base URL as operators reach it (for ready-to-paste commands). */
  publicUrl: () => string;
  pushAllowlist: (siteId: string) => Promise<void>;
  /** Accept devices at link-local / metadata addresses (`--allow-link-local-devices`). */
  allowLinkLocalDevices?: boolean;
  kick: (agentId: string, reason: string) => void;
  /** The motion alerts' watch, once started. */
  motion?: () => Pick<MotionWatch, "poke" | "statuses"> | undefined;
  log: Logger;
  /** Where the compiled executables for /download are. */
  downloadsDir: string;
  /** Seals device credentials held by the cloud. */
  secrets: DeviceSecrets;
  /** Signs RTSP URLs. */
  signer: RtspUrlSigner;
  /** `rtsp://host:port` of the RTSP gateway as operators reach it. */
  rtspBase: () => string;
  /** Asks an agent connected to this node to run ONVIF discovery. */
  discover?: (agentId: string, windowMs: number) => Promise<DiscoveryResult>;
  /** The live view's camera sessions (the readiness GET reports their last refusal). */
  liveHub?: LiveHub;
  /** Webhook signing secrets and the URL policy (`--allow-loopback-webhooks`, …). */
  webhooks: { secrets: WebhookSecrets; policy: WebhookUrlPolicy; mail: boolean };
  /** `--smtp`: invitations and password links also go to their person by email. */
  mailer?: Mailer | null;
  /** Verifies the links to alert pictures that work without signing in. */
  pictureLinks?: PictureLinks;
}

/** How long `/healthz/ready` waits for the store before answering 503. */

/** Environment hono passes to handlers under Deno.serve. */
type Env = { Bindings: { incoming?: { socket?: { remoteAddress?: string } } } };

function remoteOf(c: Context<Env>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/**
 * The client's address as the limits and audit rows of sign-in, claim and enrollment count it:
 * the socket's, or X-Forwarded-For's from a `--trusted-proxies` proxy, as every credential
 * check reads it (`clientAddress`). Behind a load balancer the socket's address is the
 * balancer's: counted by it, one guesser's failures would lock every user out of signing in.
 */
function clientOf(d: AppDeps, c: Context<Env>): string {
  return clientAddress(c.req.raw, { ...d.authContext?.(), remote: remoteOf(c) });
}

/** Authenticates a CLI session (ops_… only). */
async function authorizeCli(d: AppDeps, req: Request, remote: string) {
  const principal = await authenticate(d.store, req, {
    ...d.authContext?.(),
    remote,
    now: d.clock.now(),
  });
  if (!principal) throw new AppError("auth_required");
  if (principal.kind !== "cli_session") {
    throw new AppError("forbidden", "this endpoint needs a CLI session (ops_…)");
  }
  return { principal };
}

/** Builds the app. */
export function createApp(d: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use("*", securityHeaders());
  app.use("*", limitBody());
  const hint = new ForwardedHint(d.log);
  app.use("*", async (c, next) => {
    const forwarded = c.req.header("x-forwarded-for") ?? null;
    if (forwarded) {
      const remote = remoteOf(c).replace(/^::ffff:/, "");
      hint.note(
        remote,
        forwarded,
        () => fromTrustedProxy(remote, d.authContext?.().trustedProxies),
      );
    }
    await next();
  });

  const health = { store: d.store, node: d.node, agents: () => d.registry.all().length };
  app.get("/healthz/live", (c) => c.json(live(health).body));
  // Ready = the store answers within a second (a load balancer's probe must stay fast while the
  // database is down): 503 store_unavailable otherwise, through the one error mapping below.
  app.get("/healthz/ready", async (c) => {
    await probeReady(health);
    return c.json({ status: "ok", node: d.node, agents: d.registry.all().length });
  });
  // On the public port the scrape needs the admin key (a separate --metrics listener does not).
  app.get(
    "/metrics",
    requireAuth(d.store, "superadmin", { kinds: ["admin_key"], context: d.authContext }),
    async (c) => c.body(await scrape(health), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );

  app.get(
    "/api/agents/ca",
    (c) =>
      c.json({
        caCertificate: d.pki.agentCa.certPem,
        caPin: d.pki.agentCaPin,
        // Every agent CA trusted now (two during a rotation); an enrolling agent keeps the ones
        // its token pins.
        caCertificates: d.pki.agentTrustPem,
        // The clock certificates are issued by: an enrolling agent checks its own against it
        // before it sends its token (agent/clock_skew.ts).
        time: new Date(d.clock.now()).toISOString(),
      }),
  );
  app.post("/api/agents/enroll", async (c) => {
    const body = await jsonBody(c, enrollRequest);
    return c.json(await enroll(d, body, clientOf(d, c)));
  });

  // Upgrades are taken by the HTTP server (http_server.ts). A plain GET learns whether it may,
  // and the device port behind the handle (`tunnel open` of the CLI then waits for no early data
  // toward a port whose server speaks first: early_data.ts).
  app.get("/api/tunnel/:handle", async (c) => {
    const { target } = await authorizeTunnel(d, c.req.raw, c.req.param("handle"), remoteOf(c));
    return c.json(
      { error: "upgrade_required", message: "this endpoint speaks WebSocket; send an upgrade" },
      426,
      { upgrade: "websocket", [DEVICE_PORT_HEADER]: String(target.handle.port) },
    );
  });

  // The same for the live view, which also asks for an agent online: a browser never sees why
  // an upgrade was refused (its WebSocket just closes), so the player asks here and says it
  // (503 `agent reconnecting`: it retries; 403: it stops). Nothing is opened at the camera.
  app.get("/api/live/:handle", async (c) => {
    const q = liveAsk(c.req.query());
    const { principal, target } = await authorizeTunnel(
      d,
      c.req.raw,
      c.req.param("handle"),
      remoteOf(c),
    );
    // The player asks with its page's token: a page whose token went stale hears that, not a
    // camera that did not answer (tenancy/upgrade_proof.ts).
    const token = c.req.header("x-csrf-token");
    if (token !== undefined) await requireUpgradeProof(principal, c.req.raw, token);
    await pickAgent(d, target);
    // The camera's own refusal of the last attempt (404 for the path, credentials): this node's,
    // or another's (behind a load balancer the upgrade and this question may meet two nodes).
    const key = liveKey(target.handle.id, q.path, q.from, q.speed);
    const failed = d.liveHub?.recentFailure(key);
    if (failed instanceof AppError) throw failed;
    const elsewhere = await d.store.getLiveFailure(key, d.clock.now() - FAILURE_MEMORY_MS);
    if (elsewhere) throw storedAppError(elsewhere);
    return c.json(
      { error: "upgrade_required", message: "this endpoint speaks WebSocket; send an upgrade" },
      426,
      { upgrade: "websocket" },
    );
  });

  // The camera's picture from its own snapshot URL (access/snapshot.ts).
  app.get("/api/handles/:handle/snapshot.jpg", async (c) => {
    const q = snapshotQuery.safeParse(c.req.query());
    if (!q.success) throw new AppError("bad_request", q.error.issues[0]?.message);
    const { principal, target } = await authorizeTunnel(
      d,
      c.req.raw,
      c.req.param("handle"),
      remoteOf(c),
    );
    const jpeg = await fetchSnapshot(d, principal, target, q.data.path);
    return c.body(jpeg.slice().buffer, 200, {
      "content-type": "image/jpeg",
      "cache-control": "no-store",
    });
  });

  const remote = (c: unknown) => clientOf(d, c as Context<Env>);
  const signIn = createSignIn({ store: d.store, clock: d.clock });
  app.route("/", loginPage({ signIn, remote, publicUrl: d.publicUrl }));
  app.route("/", inviteRoutes({ store: d.store, clock: d.clock }));
  const uiDeps = {
    store: d.store,
    clock: d.clock,
    remote,
    downloadsDir: d.downloadsDir,
    live: d.live,
    agentCaPin: () => d.pki.agentCerts.renewalsPin,
    motion: d.motion,
    mail: d.webhooks.mail,
  };
  app.route("/", uiRoutes(uiDeps));
  app.route(
    "/api/auth",
    sessionRoutes({ store: d.store, clock: d.clock, remote, signIn, publicUrl: d.publicUrl }),
  );
  app.route("/api/account/tokens", tokenRoutes(d.store));
  app.route(
    "/api",
    siteRoutes({
      store: d.store,
      clock: d.clock,
      // Read at each request: the pins change with an agent CA rotation.
      get caPin() {
        return d.pki.agentTokenPins;
      },
      enrollmentTtlMs: d.enrollmentTtlMs,
      pushAllowlist: d.pushAllowlist,
      allowLinkLocalDevices: d.allowLinkLocalDevices ?? false,
      motion: d.motion,
    }),
  );
  app.route(
    "/api",
    agentRoutes({
      store: d.store,
      clock: d.clock,
      kick: d.kick,
      agentCaPin: () => d.pki.agentCerts.renewalsPin,
    }),
  );
  app.route("/api", terminalApiRoutes({ store: d.store, clock: d.clock }));
  app.route(
    "/api",
    cliSessionRoutes({
      store: d.store,
      clock: d.clock,
      publicUrl: d.publicUrl,
      authContext: d.authContext,
    }),
  );
  app.route("/api", adminRoutes({ store: d.store, authContext: d.authContext }));
  app.route("/", downloadRoutes({ store: d.store, downloadsDir: d.downloadsDir }));
  app.route(
    "/api",
    installerRoutes({
      store: d.store,
      clock: d.clock,
      get caPin() {
        return d.pki.agentTokenPins;
      },
      enrollmentTtlMs: d.enrollmentTtlMs,
      publicUrl: d.publicUrl,
      downloadsDir: d.downloadsDir,
    }),
  );
  app.route(
    "/api",
    teamRoutes({ store: d.store, clock: d.clock, publicUrl: d.publicUrl, mailer: d.mailer }),
  );
  app.route("/api", liveRoutes({ store: d.store, live: d.live }));
  app.route("/api", deviceCredentialRoutes({ store: d.store, secrets: d.secrets }));
  app.route("/api", rtspUrlRoutes(d));
  app.route("/api", cameraPathRoutes(d));
  app.route("/api", ptzRoutes(d));
  app.route("/api", focusRoutes(d));
  app.route("/api", rebootRoutes(d));
  app.route("/api", cameraClockRoutes(d));
  app.route("/api", relayRoutes(d));
  app.route("/api", recordingRoutes(d));
  if (d.liveHub) {
    app.route(
      "/",
      clipRoutes({ ...d, hub: d.liveHub }, (c) => remoteOf(c as Context<Env>)),
    );
  }
  app.route(
    "/api",
    discoveryRoutes({
      store: d.store,
      registry: d.registry,
      discover: d.discover ?? (() => Promise.reject(new AppError("agent_offline"))),
    }),
  );
  app.route("/", claimRoutes({ ...d, remote }));
  app.route("/api", eventRoutes({ store: d.store, clock: d.clock }));
  app.route(
    "/api",
    eventSnapshotRoutes({ store: d.store, clock: d.clock, links: d.pictureLinks }),
  );
  app.route("/api", webhookRoutes({ store: d.store, clock: d.clock, ...d.webhooks }));

  let doc: Record<string, unknown> | null = null;
  app.get("/api/openapi.json", (c) => c.json(doc ??= openApiDocument(app)));

  // The CLI tunnel: its bind plan, and a plain GET on the raw tunnel to learn whether it may.
  const planOf = async (principal: Principal) => {
    const s = await d.store.getCliSession(principal.cliSessionHash!);
    return {
      session: {
        expiresAt: s?.expiresAt ?? null,
        hardCapAt: s?.hardCapAt ?? null,
        sites: principal.siteIds,
      },
      entries: await buildPlan(d, principal),
    };
  };
  app.get("/api/cli/sessions/plan", async (c) => {
    const { principal } = await authorizeCli(d, c.req.raw, remoteOf(c));
    return c.json(await planOf(principal));
  });
  // Plan changes and revocation as they happen (server-sent events; see credential_events.ts).
  app.get("/api/cli/sessions/plan/events", async (c) => {
    const { principal } = await authorizeCli(d, c.req.raw, remoteOf(c));
    return credentialEvents({
      store: d.store,
      principal,
      now: () => d.clock.now(),
      signal: c.req.raw.signal,
      plan: () => planOf(principal),
    });
  });
  // `tunnel open`: learns at once that its credential was revoked.
  app.get("/api/tunnel/:handle/events", async (c) => {
    const { principal } = await authorizeTunnel(d, c.req.raw, c.req.param("handle"), remoteOf(c));
    return credentialEvents({
      store: d.store,
      principal,
      now: () => d.clock.now(),
      signal: c.req.raw.signal,
    });
  });
  app.get("/api/cli/raw-tunnel/:ip/:port", async (c) => {
    await authorizeCli(d, c.req.raw, remoteOf(c));
    const port = Number(c.req.param("port"));
    const ip = c.req.param("ip");
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip) || !(port >= 1 && port <= 65535)) {
      throw new AppError("bad_request", "expected /api/cli/raw-tunnel/127.X.Y.Z/PORT");
    }
    await authorizeTunnel(d, c.req.raw, { ip, port }, remoteOf(c));
    return c.json(
      { error: "upgrade_required", message: "this endpoint speaks WebSocket; send an upgrade" },
      426,
      { upgrade: "websocket" },
    );
  });

  app.notFound(async (c) => {
    const into = refererFallback(c.req.raw);
    if (into) return c.redirect(into, 307);
    const browser = c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html");
    if (browser && !c.req.path.startsWith("/api/")) return await uiNotFound(uiDeps, c);
    return c.json({ error: "not_found", message: "not found" }, 404);
  });
  app.onError((err, c) => {
    const { status, body } = toErrorResponse(err);
    // A store outage is expected and answered (503): one warning, no stack.
    if (isStoreOutage(err)) {
      logStoreFailure(d.log, err, "store unavailable", { path: c.req.path });
      // An operator opening a page sees the sentence, not JSON.
      if (
        c.req.header("sec-fetch-mode") === "navigate" ||
        /text\/html/.test(c.req.header("accept") ?? "")
      ) return c.html(errorPage(status, body.message), 503, { "retry-after": "5" });
    } else if (!(err instanceof AppError)) {
      // Only real faults are errors; refusals the product expects (AppErrors, 503 "agent
      // reconnecting" included) are a warning without a stack.
      d.log.error({ err: err.message, stack: err.stack }, "request failed");
    } else if (status >= 500) d.log.warn({ err: err.message, code: err.code }, "request refused");
    return c.json(body, status as 400);
  });
  return app;
}
