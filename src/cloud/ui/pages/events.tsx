/**
 * The console's inbox (`/events`, issue 15 item 7): the tenant's events newest first (unread in
 * bold: unread for the user looking — each user has their own read state), of some types
 * (`?type=`), about one site (`?site=`: a technician's view of the site they look after) or one
 * device (`?device=`: what happened to this camera, from its row on the site page, where its
 * alerts can be snoozed), the unread ones only (`?unread=1`), older pages by `?before=`, "Mark
 * all read" (on a filtered page "Mark these read": that filter's events only), "Export CSV"
 * (`/events.csv`, the same filters and a time range); new events appear at the top as they happen
 * (the page follows `/api/events/stream`, as the unread badge in the navigation does).
 * @module
 */
import type { EventReader, EventType, Store, TenantEvent } from "../../store/store.ts";
import { csvDocument } from "../csv.ts";
import { EVENT_GROUPS, EVENT_LABELS } from "../../events/labels.ts";
import { roleAtLeast } from "../../tenancy/roles.ts";
import type { UiContext } from "../context.ts";
import { At, Empty, Layout, SiteSelect, Table } from "../layout.tsx";
import { sitePicker } from "./data.ts";
import { eventReader } from "../../events/reader.ts";
import { type EventFilter, eventsMatching } from "../../events/matching.ts";
import { TimeFilter } from "../time_filter.tsx";

/** Events shown per page. */
export const EVENTS_PER_PAGE = 50;
/** Most events one CSV export holds (the newest; a filter by site or type narrows it). */
export const EVENTS_CSV_MAX = 10_000;

/** The events an export holds: the filter's newest (of its time range), up to EVENTS_CSV_MAX. */
export async function eventsForCsv(
  store: Store,
  tenantId: string,
  q: EventFilter & { reader: EventReader },
): Promise<TenantEvent[]> {
  const out: TenantEvent[] = [];
  for await (const page of eventsMatching(store, tenantId, q, EVENTS_CSV_MAX)) out.push(...page);
  return out;
}

/** Events as CSV: a line each, the words of the Events page and the subject's ids. */
export function eventsCsv(events: TenantEvent[]): string {
  const text = (v: unknown) => (typeof v === "string" || typeof v === "number" ? String(v) : "");
  return csvDocument(
    [
      "seq",
      "at",
      "type",
      "event",
      "subject",
      "site",
      "host",
      "port",
      "error",
      "actor",
      "read",
    ],
    events.map((e) => [
      String(e.seq),
      new Date(e.at).toISOString(),
      e.type,
      `${EVENT_LABELS[e.type] ?? e.type}${
        typeof e.detail.input === "string" ? ` (${e.detail.input})` : ""
      }`,
      text(e.subject.name),
      text(e.subject.siteName),
      text(e.subject.host),
      text(e.subject.port),
      text(e.detail.error),
      e.actor,
      e.readAt === null ? "no" : "yes",
    ]),
  );
}

/** The console path of an event's live view link (a camera's alert), or null. */
export function livePathOf(detail: Record<string, unknown>): string | null {
  if (typeof detail.liveUrl !== "string") return null;
  const path = /^https?:\/\/[^/]+(\/live\/[A-Za-z0-9_-]{1,64})$/.exec(detail.liveUrl)?.[1];
  return path ?? null;
}

/** An event's instant as a live view's `?at=` takes it (UTC, to the second). */
function recordingAt(at: number): string {
  return new Date(at).toISOString().replace(/\.\d+Z$/, "Z");
}

/** The console path of an event's picture (`detail.snapshot`: what the camera saw), or null. */
export function snapshotPathOf(detail: Record<string, unknown>): string | null {
  const id = detail.snapshot;
  return typeof id === "string" && /^[A-Za-z0-9-]{1,64}$/.test(id)
    ? `/api/event-snapshots/${id}.jpg`
    : null;
}

function EventRow(props: { e: TenantEvent; key?: number }) {
  const { e } = props;
  const where = e.subject.siteName ? ` · ${e.subject.siteName}` : "";
  const error = typeof e.detail.error === "string" ? e.detail.error : "";
  const live = livePathOf(e.detail);
  const picture = snapshotPathOf(e.detail);
  return (
    <tr data-event={e.seq} data-type={e.type} class={e.readAt === null ? "unread" : ""}>
      <td>
        <At at={e.at} />
      </td>
      <td>
        {EVENT_LABELS[e.type] ?? e.type}
        {typeof e.detail.input === "string" ? ` (${e.detail.input})` : ""}
      </td>
      <td>
        {e.subject.name}
        {where}
        {error ? <div class="muted">{error}</div> : null}
        {e.detail.alertsPaused === true
          ? <div class="muted" data-paused>Alerts paused for the site: not sent</div>
          : null}
        {e.detail.alertsSnoozed === true
          ? <div class="muted" data-snoozed>Alerts snoozed for the device: not sent</div>
          : null}
        {live
          ? (
            <div>
              <a href={live} target="_blank" rel="noopener">Watch live</a>
              {" · "}
              <a href={`${live}?at=${recordingAt(e.at)}`} target="_blank" rel="noopener">
                Watch the recording
              </a>
              {" · "}
              <a href={`${live}?clip=${recordingAt(e.at)}`} target="_blank" rel="noopener">
                Save a clip
              </a>
            </div>
          )
          : null}
        {picture
          ? (
            <a href={picture} target="_blank" rel="noopener" class="event-picture">
              <img src={picture} alt="What the camera saw" loading="lazy" width="160" />
            </a>
          )
          : null}
      </td>
      <td class="mono">{e.actor}</td>
    </tr>
  );
}

/** The address of the Events page with these filters (none given: every event). */
export function eventsHref(
  f: { type?: string; site?: string; device?: string; unread?: boolean; before?: number },
): string {
  const q = new URLSearchParams();
  if (f.type) q.set("type", f.type);
  if (f.site) q.set("site", f.site);
  if (f.device) q.set("device", f.device);
  if (f.unread) q.set("unread", "1");
  if (f.before) q.set("before", String(f.before));
  const s = q.toString().replaceAll("%2C", ",");
  return s ? `/events?${s}` : "/events";
}

/** The page. */
export async function EventsPage(
  props: {
    ctx: UiContext;
    store: Store;
    before?: number;
    types?: readonly EventType[];
    /** Only this site's events (a site of another tenant, or none: every site's). */
    siteId?: string;
    /**
     * Only this device's events (a device of another tenant, or none: every device's, and the
     * page says so).
     */
    deviceId?: string;
    /** Only the events the viewer has not read. */
    unreadOnly?: boolean;
    /** The cloud's time (a device's snooze: over or not). */
    now: number;
  },
) {
  const t = props.ctx.principal.tenantId;
  const now = props.now;
  const operator = roleAtLeast(props.ctx.principal.role, "operator");
  const sites = await sitePicker(props.store, t, props.siteId);
  const site = sites.chosen;
  const device = props.deviceId ? await props.store.getDevice(t, props.deviceId) : null;
  const reader = await eventReader(props.store, props.ctx.principal);
  const events = await props.store.listEvents(t, {
    reader,
    before: props.before,
    limit: EVENTS_PER_PAGE,
    types: props.types,
    siteId: site?.id,
    deviceId: device?.id,
    unread: props.unreadOnly,
  });
  const filter = props.types?.join(",");
  const unread = await props.store.countUnreadEvents(t, reader);
  // A filtered page marks its own unread events only: is there one (on any of its pages)?
  const unreadHere = (filter || site || device) && (await props.store.listEvents(t, {
        reader,
        unread: true,
        limit: 1,
        types: props.types,
        siteId: site?.id,
        deviceId: device?.id,
      })).length > 0;
  // Where the live list starts: after the newest event there is now. A filtered page's newest
  // shown event may be older than events it does not show (another site's, read ones), which
  // the stream would then send as new.
  const filtered = !!(filter || site || device || props.unreadOnly);
  const liveAfter = filtered
    ? (await props.store.listEvents(t, { limit: 1 }))[0]?.seq ?? 0
    : events[0]?.seq ?? 0;
  // The filters as the page's links keep them.
  const kept = { type: filter, site: site?.id, device: device?.id, unread: props.unreadOnly };
  const older = events.length === EVENTS_PER_PAGE ? events[events.length - 1].seq : null;
  return (
    <Layout ctx={props.ctx} title="Events" active="/events">
      <h1>Events</h1>
      <p class="muted">
        Agents going offline (after a 30 s grace period) and coming back, device ports going down
        and up, device certificates changing, enrollment tokens used, credentials revoked and
        cameras reporting motion, tampering or an alarm input (their motion alerts on). New events
        appear here as they happen; webhooks and email can send them elsewhere.
      </p>
      <nav class="inline" aria-label="Which events">
        <a
          href={eventsHref({ ...kept, type: undefined })}
          aria-current={filter ? undefined : "page"}
        >
          All events
        </a>
        {EVENT_GROUPS.map((g) => (
          <a
            href={eventsHref({ ...kept, type: g.types.join(",") })}
            aria-current={filter === g.types.join(",") ? "page" : undefined}
          >
            {g.name}
          </a>
        ))}
        <a
          class="unread-toggle"
          href={eventsHref({ ...kept, unread: !props.unreadOnly })}
          aria-pressed={props.unreadOnly ? "true" : "false"}
          role="button"
        >
          {props.unreadOnly ? "✓ Unread only" : "Unread only"}
        </a>
      </nav>
      {props.deviceId && !device
        ? (
          <p class="device-filter" role="status">
            No such device here (it may have been removed, or be another tenant's): every device's
            events are shown.
          </p>
        )
        : null}
      {device
        ? (
          <p class="device-filter">
            {`About ${device.label || device.model || "the device"} (${device.host}) only · `}
            <a href={eventsHref({ ...kept, device: undefined })}>Every device</a>
            {device.alertsSnoozedUntil !== null && device.alertsSnoozedUntil > now
              ? (
                <span data-snoozed>
                  {" · Alerts snoozed until "}
                  <At at={device.alertsSnoozedUntil} />
                  {operator
                    ? (
                      <>
                        {" "}
                        <button
                          type="button"
                          class="small secondary"
                          data-snooze={device.id}
                          data-minutes="0"
                        >
                          Resume
                        </button>
                      </>
                    )
                    : null}
                </span>
              )
              : operator
              ? (
                <>
                  {" · "}
                  <button
                    type="button"
                    class="small secondary"
                    data-snooze={device.id}
                    title="Its events are still recorded here; none is sent to webhooks, email or chat for an hour"
                  >
                    Snooze its alerts 1 h
                  </button>
                </>
              )
              : null}
          </p>
        )
        : null}
      {sites.total > 1 || site
        ? (
          <form
            method="get"
            action="/events"
            class="inline site-filter"
            aria-label="Site"
          >
            {filter ? <input type="hidden" name="type" value={filter} /> : null}
            {device ? <input type="hidden" name="device" value={device.id} /> : null}
            {props.unreadOnly ? <input type="hidden" name="unread" value="1" /> : null}
            <label for="events-site">Site</label>
            <SiteSelect id="events-site" name="site" picker={sites} any anyLabel="All sites" />
            <button type="submit" class="secondary">Show</button>
            {site ? <a href={eventsHref({ ...kept, site: undefined })}>Every site</a> : null}
          </form>
        )
        : null}
      <details class="events-export">
        <summary>Export CSV</summary>
        <form method="get" action="/events.csv" class="inline" aria-label="Export CSV">
          {filter ? <input type="hidden" name="type" value={filter} /> : null}
          {site ? <input type="hidden" name="site" value={site.id} /> : null}
          {device ? <input type="hidden" name="device" value={device.id} /> : null}
          <TimeFilter name="from" label="From" at={undefined} idPrefix="export" />
          <TimeFilter name="to" label="To" at={undefined} idPrefix="export" />
          <button type="submit" class="secondary">Download CSV</button>
        </form>
        <p class="muted">
          {`The newest ${EVENTS_CSV_MAX.toLocaleString("en-US")} events ${
            filter || site || device ? "this filter shows" : "there are"
          }, of the time range if given (your time zone).`}
        </p>
      </details>
      <div class="inline">
        {roleAtLeast(props.ctx.principal.role, "admin")
          ? <a class="button secondary" href="/webhooks">Webhooks and email</a>
          : null}
        {filter || site || device
          ? (
            <button
              type="button"
              class="secondary"
              data-api="POST /api/events/read"
              data-body={JSON.stringify({ type: filter, site: site?.id, device: device?.id })}
              data-then="call:ncEventsMarked"
              data-mark-read="these"
              title="Marks read the unread events this page's filter shows, on every page of it"
              disabled={!unreadHere}
            >
              Mark these read
            </button>
          )
          : (
            <button
              type="button"
              class="secondary"
              data-api="POST /api/events/read"
              data-toast="All events marked read"
              data-mark-read="all"
              disabled={unread === 0}
            >
              Mark all read ({unread} unread)
            </button>
          )}
      </div>
      {events.length || !props.before
        ? (
          <div
            id="event-list"
            data-live={props.before ? undefined : "1"}
            data-after={props.before ? undefined : String(liveAfter)}
            data-types={filter}
            data-site={site?.id}
            data-device={device?.id}
          >
            <Table head={["When", "Event", "Subject", "By"]}>
              {events.map((e) => <EventRow key={e.seq} e={e} />)}
            </Table>
          </div>
        )
        : null}
      {events.length ? null : (
        <Empty>
          {props.unreadOnly
            ? "Nothing unread here."
            : filter || site || device
            ? "No such events yet."
            : "No events yet."} They appear here as they happen.
        </Empty>
      )}
      {older
        ? (
          <p>
            <a href={eventsHref({ ...kept, before: older })}>Older events →</a>
          </p>
        )
        : null}
    </Layout>
  );
}
