/**
 * The web UI's routes: every page is rendered on the server from the store for the signed-in
 * user's tenant (another tenant's ids are simply not found), a request without a live session
 * goes to sign in and comes back, and a few fragments re-render the live parts (agents, streams)
 * for the page's polling. Nothing here changes state: pages call the JSON API for that.
 * @module
 */
import type { MotionWatch } from "../events/motion_watch.ts";
import { Hono } from "hono";
import type { Context } from "hono";
import type { Clock } from "../../shared/clock.ts";
import type { Store } from "../store/store.ts";
import type { LiveAccess } from "../access/live.ts";
import { signInUrl, type UiContext, uiContext } from "./context.ts";
import { assetRoutes } from "./assets.ts";
import { Layout } from "./layout.tsx";
import { DashboardPage, DashboardStats } from "./pages/dashboard.tsx";
import { SiteAgents, SitePage, SitesPage } from "./pages/sites.tsx";
import {
  type AgentsListProps,
  AgentsPage,
  AgentsTable,
  type TrafficSource,
} from "./pages/agents.tsx";
import { auditCsv, auditFilters, AuditPage, filteredAudit } from "./pages/audit.tsx";
import { filterTime } from "./time_filter.tsx";
import { TokensPage } from "./pages/account.tsx";
import { eventsCsv, eventsForCsv, EventsPage } from "./pages/events.tsx";
import { eventReader } from "../events/reader.ts";
import { eventTypeList } from "../api/schemas.ts";
import { WebhooksPage } from "./pages/webhooks.tsx";
import { DownloadPage, LicensesPage } from "./pages/admin.tsx";
import { DiscoverPage } from "./pages/discover.tsx";
import { TeamPage } from "./pages/team.tsx";
import { roleAtLeast } from "../tenancy/roles.ts";
import { CYCLE_RANGE, GRID_MAX, LiveGridPage, LivePage, RECENT_ALERTS } from "./pages/live.tsx";
import { CAMERA_ALERTS } from "../events/labels.ts";
import { liveQuery } from "../access/live_ws.ts";
import { cameraPage } from "./pages/data.ts";
import { terminalAssetRoutes } from "./terminal_assets.ts";
import { RecordingPage, RecordingsPage, TerminalPage } from "./pages/terminal.tsx";
import { maySeeRecording } from "../api/terminal.ts";
import { isLive } from "../tenancy/handle.ts";
import { escapeHtml } from "../../shared/encoding.ts";

/** What the UI needs. */
export interface UiDeps {
  store: Store;
  clock: Clock;
  remote: (c: unknown) => string;
  downloadsDir: string;
  /** This node's live connections (the dashboard's live sessions). */
  live?: LiveAccess;
  /** Pin of the current agent CA (the Agents page says which CA issued each certificate). */
  agentCaPin?: () => string;
  /** The motion alerts' watch (the site page says how each camera's is doing). */
  motion?: () => Pick<MotionWatch, "statuses"> | undefined;
  /** Whether this cloud sends email alerts (`--smtp`). */
  mail?: boolean;
}

const HOUR = 3_600_000;

/** The UI routes (pages, fragments, assets). */
export function uiRoutes(d: UiDeps): Hono {
  const app = new Hono();
  app.route("/", assetRoutes());
  app.route("/", terminalAssetRoutes());
  const traffic: TrafficSource = async (tenantId, agentIds) => {
    const now = d.clock.now();
    const since = now - (now % HOUR) - 23 * HOUR;
    const out = new Map<string, number[]>();
    if (!agentIds.length) return out;
    for (const r of await d.store.listHourlyStatsOf(tenantId, agentIds, since)) {
      let series = out.get(r.agentId);
      if (!series) out.set(r.agentId, series = new Array(24).fill(0));
      const i = (r.hour - since) / HOUR;
      if (i >= 0 && i < 24) series[i] += r.bytesUp + r.bytesDown;
    }
    return out;
  };
  const ctxOf = (c: Context) => uiContext(d.store, c.req.raw, d.remote(c));
  const page = (
    render: (c: Context, ctx: UiContext) => Promise<unknown>,
  ) =>
  async (c: Context) => {
    const ctx = await ctxOf(c);
    if (!ctx) return c.redirect(signInUrl(c.req.raw), 302);
    const out = await render(c, ctx);
    if (out instanceof Response) return out;
    c.header("cache-control", "no-store");
    return c.html("<!doctype html>" + String(out));
  };
  const fragment =
    (render: (c: Context, ctx: UiContext) => Promise<unknown>) => async (c: Context) => {
      const ctx = await ctxOf(c);
      if (!ctx) return c.text("signed out", 401);
      c.header("cache-control", "no-store");
      return c.html(String(await render(c, ctx)));
    };
  const REFUSED = { 400: "Not understood", 403: "Not allowed", 404: "Not found" } as const;
  const refusal = (c: Context, ctx: UiContext, what: string, status: 400 | 403 | 404) =>
    c.html(
      "<!doctype html>" + String(
        <Layout ctx={ctx} title={REFUSED[status]} active="">
          <h1>{REFUSED[status]}</h1>
          <p>{what}</p>
          <p>
            <a href="/">Back to the dashboard</a>
          </p>
        </Layout>,
      ),
      status,
    );
  const notFound = (c: Context, ctx: UiContext, what: string) => refusal(c, ctx, what, 404);
  const now = () => d.clock.now();

  app.get(
    "/",
    page((_c, ctx) => DashboardPage({ ctx, store: d.store, now: now(), live: d.live })),
  );
  const q = (c: Context) => (c.req.query("q") ?? "").slice(0, 200);
  /** What the agents page and its fragment are given: the search and page asked for. */
  const agentsList = (c: Context, ctx: UiContext): AgentsListProps => ({
    ctx,
    store: d.store,
    now: now(),
    traffic,
    q: q(c),
    page: pageOf(c),
    caPin: d.agentCaPin?.(),
  });
  /** `?page=` of a paged list (1 when absent or not a whole number; a huge one is the last). */
  const pageOf = (c: Context) => {
    const n = Math.floor(Number(c.req.query("page") ?? "1"));
    return Number.isNaN(n) || n < 1 ? 1 : Math.min(n, 1e9);
  };
  app.get(
    "/sites",
    page((c, ctx) => SitesPage({ ctx, store: d.store, now: now(), q: q(c), page: pageOf(c) })),
  );
  app.get(
    "/sites/:id",
    page(async (c, ctx) => {
      const site = await d.store.getSite(ctx.principal.tenantId, c.req.param("id") ?? "");
      if (!site) return notFound(c, ctx, "There is no such site in your tenant.");
      return SitePage({
        ctx,
        store: d.store,
        site,
        now: now(),
        motion: async (ids) => (await d.motion?.()?.statuses(ids)) ?? new Map(),
        query: { q: q(c), page: pageOf(c) },
      });
    }),
  );
  // Live view pages: embeddable by the cloud's own pages (not by other sites).
  const embeddable = (c: Context) => {
    c.header("content-security-policy", "frame-ancestors 'self'");
    c.header("x-frame-options", "SAMEORIGIN");
  };
  app.get(
    "/live/:handle",
    page(async (c, ctx) => {
      const h = await d.store.getHandle(c.req.param("handle") ?? "");
      if (!h || h.tenantId !== ctx.principal.tenantId) {
        return notFound(c, ctx, "There is no such camera in your tenant.");
      }
      const device = await d.store.getDevice(h.tenantId, h.deviceId);
      // Without ?path=, the stream path remembered for this port (set from its RTSP pill).
      const raw = c.req.query("path") ?? device?.streamPaths[h.port];
      const q = liveQuery.safeParse({ path: raw });
      // The camera's recording from a time (`?replay=` its replay path, `?from=` the instant).
      const replay = liveQuery.safeParse({
        path: c.req.query("replay"),
        from: c.req.query("from"),
      });
      const atOf = liveQuery.safeParse({ from: c.req.query("at") });
      const clipOf = liveQuery.safeParse({ from: c.req.query("clip") });
      // `&speed=`: how many times faster it plays (one not offered: as it happened).
      const speedOf = liveQuery.shape.speed.catch(1).safeParse(c.req.query("speed"));
      embeddable(c);
      // Its latest alerts (motion, tampering, inputs), each with what it saw then.
      const alerts = await d.store.listEvents(h.tenantId, {
        deviceId: h.deviceId,
        types: CAMERA_ALERTS,
        limit: RECENT_ALERTS,
      });
      return LivePage({
        csrf: ctx.csrf,
        handle: h.id,
        path: raw === undefined || !q.success ? null : q.data.path,
        ...(replay.success && replay.data.from !== undefined && c.req.query("replay")
          ? {
            recording: { path: replay.data.path, from: replay.data.from, speed: speedOf.data ?? 1 },
          }
          : {}),
        // `?at=`: an alert's moment (its links), played from the camera's recording at once;
        // `?clip=` (the Events page's and alerts' "Save a clip"), a minute of it saved as a file.
        ...(clipOf.success && clipOf.data.from !== undefined
          ? { replayAt: clipOf.data.from, clipAt: true }
          : atOf.success && atOf.data.from !== undefined
          ? { replayAt: atOf.data.from }
          : {}),
        label: `${device?.label || device?.host || "camera"} :${h.port}`,
        alerts,
        controls: roleAtLeast(ctx.principal.role, "operator"),
        ...(device?.motionAlerts && roleAtLeast(ctx.principal.role, "admin")
          ? { quiet: { deviceId: device.id, seconds: device.alertQuietSeconds } }
          : {}),
        ...(device && roleAtLeast(ctx.principal.role, "admin")
          ? { sound: { deviceId: device.id, on: device.liveSound } }
          : {}),
      });
    }),
  );
  app.get(
    "/sites/:id/live",
    page(async (c, ctx) => {
      const site = await d.store.getSite(ctx.principal.tenantId, c.req.param("id") ?? "");
      if (!site) return notFound(c, ctx, "There is no such site in your tenant.");
      const given = c.req.query("path");
      const q = liveQuery.safeParse({ path: given });
      const paged = await cameraPage(
        d.store,
        ctx.principal.tenantId,
        site.id,
        pageOf(c),
        GRID_MAX,
      );
      const cameras = [];
      for (const { device: dev, port: p } of paged.cameras) {
        const handle = dev.handles[p];
        if (!handle) continue; // revoked or expired: the site page offers a new one
        // Each camera on its remembered sub-stream (lighter: a grid of main streams fills a site's
        // uplink), else its stream path, unless ?path= names one for all.
        const own = liveQuery.safeParse({ path: dev.subStreamPaths[p] ?? dev.streamPaths[p] });
        cameras.push({
          handle,
          label: `${dev.label || dev.host} :${p}`,
          path: given === undefined && own.success ? own.data.path : undefined,
        });
      }
      embeddable(c);
      // A wall monitor's turn (`?cycle=`, seconds): one outside the range is no turn.
      const asked = Number(c.req.query("cycle") ?? "0");
      const cycle = Number.isInteger(asked) && asked >= CYCLE_RANGE[0] && asked <= CYCLE_RANGE[1]
        ? asked
        : null;
      const link = (n: number) =>
        `/sites/${site.id}/live?${new URLSearchParams({
          ...(given === undefined ? {} : { path: given }),
          page: String(n),
          ...(cycle === null ? {} : { cycle: String(cycle) }),
        })}`;
      return LiveGridPage({
        csrf: ctx.csrf,
        siteName: site.name,
        cameras,
        path: q.success ? q.data.path : "/",
        paged,
        link,
        cycle,
      });
    }),
  );
  app.get(
    "/discover",
    page(async (c, ctx) => {
      if (!roleAtLeast(ctx.principal.role, "admin")) {
        return notFound(c, ctx, "Discovery needs the admin role.");
      }
      return await DiscoverPage({ ctx, store: d.store, siteId: c.req.query("site") });
    }),
  );
  app.get(
    "/agents",
    page((c, ctx) => AgentsPage(agentsList(c, ctx))),
  );
  app.get(
    "/audit",
    page((c, ctx) => {
      const parsed = auditFilters.safeParse(c.req.query());
      const filters = parsed.success ? parsed.data : {};
      const query = new URL(c.req.url).search.slice(1);
      return AuditPage({ ctx, store: d.store, now: now(), filters, query });
    }),
  );
  app.get(
    "/audit.csv",
    page(async (c, ctx) => {
      const parsed = auditFilters.safeParse(c.req.query());
      const { entries } = await filteredAudit(
        d.store,
        ctx.principal.tenantId,
        parsed.success ? parsed.data : {},
        5_000,
      );
      return c.body(auditCsv(entries), 200, {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": 'attachment; filename="audit.csv"',
        "cache-control": "no-store",
      });
    }),
  );
  app.get("/account/tokens", page((_c, ctx) => TokensPage({ ctx, store: d.store, now: now() })));
  app.get(
    "/events",
    page((c, ctx) => {
      const before = Number(c.req.query("before"));
      // A filter the page did not offer (a hand-edited address) shows every event.
      const types = eventTypeList.safeParse(c.req.query("type") ?? "");
      return EventsPage({
        ctx,
        store: d.store,
        before: Number.isSafeInteger(before) && before > 0 ? before : undefined,
        types: types.success ? types.data : undefined,
        siteId: /^[A-Za-z0-9_-]{1,64}$/.test(c.req.query("site") ?? "")
          ? c.req.query("site")
          : undefined,
        deviceId: /^[A-Za-z0-9_-]{1,64}$/.test(c.req.query("device") ?? "")
          ? c.req.query("device")
          : undefined,
        unreadOnly: c.req.query("unread") === "1",
        now: now(),
      });
    }),
  );
  app.get(
    "/events.csv",
    page(async (c, ctx) => {
      // The Events page's filters, as its form gives them (one it did not offer: every event).
      const types = eventTypeList.safeParse(c.req.query("type") ?? "");
      const site = c.req.query("site") ?? "";
      const device = c.req.query("device") ?? "";
      // A time range that is not one says so rather than exporting everything.
      const from = filterTime("from").safeParse(c.req.query("from"));
      const to = filterTime("to").safeParse(c.req.query("to"));
      if (!from.success || !to.success) {
        return refusal(c, ctx, "From and To must be dates and times (or empty).", 400);
      }
      const events = await eventsForCsv(d.store, ctx.principal.tenantId, {
        types: types.success ? types.data : undefined,
        siteId: /^[A-Za-z0-9_-]{1,64}$/.test(site) ? site : undefined,
        deviceId: /^[A-Za-z0-9_-]{1,64}$/.test(device) ? device : undefined,
        from: from.data,
        to: to.data,
        reader: await eventReader(d.store, ctx.principal),
      });
      return c.body(eventsCsv(events), 200, {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": 'attachment; filename="events.csv"',
        "cache-control": "no-store",
      });
    }),
  );
  app.get(
    "/webhooks",
    page(async (c, ctx) => {
      if (!roleAtLeast(ctx.principal.role, "admin")) {
        return notFound(c, ctx, "Webhooks need the admin role.");
      }
      return await WebhooksPage({ ctx, store: d.store, mail: d.mail ?? false });
    }),
  );
  app.get(
    "/team",
    page(async (c, ctx) => {
      if (!roleAtLeast(ctx.principal.role, "admin")) {
        return refusal(c, ctx, "The team page is for admins of this tenant.", 403);
      }
      return await TeamPage({ ctx, store: d.store, now: now(), mail: d.mail });
    }),
  );
  app.get(
    "/licenses",
    page((c, ctx) => {
      if (ctx.user.role !== "superadmin") {
        return Promise.resolve(
          refusal(c, ctx, "Licenses are visible to superadmins only.", 403),
        );
      }
      return LicensesPage({ ctx, store: d.store, now: now() });
    }),
  );
  app.get(
    "/download",
    page((_c, ctx) => DownloadPage({ ctx, downloadsDir: d.downloadsDir })),
  );

  app.get(
    "/terminal/:handle",
    page(async (c, ctx) => {
      const h = await d.store.getHandle(c.req.param("handle") ?? "");
      const device = h && h.tenantId === ctx.principal.tenantId && isLive(h, now())
        ? await d.store.getDevice(h.tenantId, h.deviceId)
        : null;
      if (!h || !device) return notFound(c, ctx, "There is no such device port in your tenant.");
      return TerminalPage({ ctx, handle: h, device });
    }),
  );
  app.get("/recordings", page((_c, ctx) => RecordingsPage({ ctx, store: d.store, now: now() })));
  app.get(
    "/recordings/:id",
    page(async (c, ctx) => {
      const rec = await d.store.getRecording(ctx.principal.tenantId, c.req.param("id") ?? "");
      if (!rec || !maySeeRecording(ctx.principal, rec)) {
        return notFound(c, ctx, "There is no such recording in your tenant.");
      }
      const device = await d.store.getDevice(rec.tenantId, rec.deviceId);
      return RecordingPage({ ctx, rec, deviceName: device ? device.label || device.host : null });
    }),
  );

  app.get(
    "/ui/fragments/dashboard",
    fragment((_c, ctx) => DashboardStats({ store: d.store, tenantId: ctx.principal.tenantId })),
  );
  app.get(
    "/ui/fragments/agents",
    fragment((c, ctx) => AgentsTable(agentsList(c, ctx))),
  );
  app.get(
    "/ui/fragments/sites/:id/agents",
    fragment(async (c, ctx) => {
      const site = await d.store.getSite(ctx.principal.tenantId, c.req.param("id") ?? "");
      if (!site) return "";
      return SiteAgents({
        store: d.store,
        tenantId: ctx.principal.tenantId,
        siteId: site.id,
        now: now(),
      });
    }),
  );
  return app;
}

/**
 * The console's own 404 page for a browser that asks for an address no route serves (signed out:
 * a plain page with a link to sign in), instead of the API's JSON.
 */
export async function uiNotFound(d: UiDeps, c: Context): Promise<Response> {
  const ctx = await uiContext(d.store, c.req.raw, d.remote(c));
  const what = `There is no page at ${c.req.path}.`;
  c.header("cache-control", "no-store");
  if (!ctx) {
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found</title>` +
        `<link rel="stylesheet" href="/ui/app.css"></head><body><main><h1>Not found</h1>` +
        `<p>${
          escapeHtml(what)
        }</p><p><a href="/">Sign in to the console</a></p></main></body></html>`,
      404,
    );
  }
  return c.html(
    "<!doctype html>" + String(
      <Layout ctx={ctx} title="Not found" active="">
        <h1>Not found</h1>
        <p>{what}</p>
        <p>
          <a href="/">Back to the dashboard</a>
        </p>
      </Layout>,
    ),
    404,
  );
}
