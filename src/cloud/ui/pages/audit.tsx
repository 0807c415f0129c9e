/**
 * The audit log page (`/audit`): filters by actor, action, site, device and time range, newest
 * first, paginated by sequence number, and the same selection as CSV (`/audit.csv`).
 * @module
 */
import { z } from "zod";
import type { AuditEntry, Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, At, Empty, Layout, SiteSelect, Table } from "../layout.tsx";
import { sitePicker } from "./data.ts";
import { csvDocument } from "../csv.ts";
import { filterTime, TimeFilter } from "../time_filter.tsx";

/** The page's query, validated. */
export const auditFilters = z.object({
  actor: z.string().max(200).optional().transform((s) => s || undefined),
  action: z.string().max(100).optional().transform((s) => s || undefined),
  site: z.string().max(64).optional().transform((s) => s || undefined),
  device: z.string().max(64).optional().transform((s) => s || undefined),
  from: filterTime("from"),
  to: filterTime("to"),
  before: z.coerce.number().int().positive().optional(),
});

/** Parsed filters. */
export type AuditFilters = Partial<z.infer<typeof auditFilters>>;

/** The entries matching the filters (scans newest first until a page is full). */
export async function filteredAudit(
  store: Store,
  tenantId: string,
  f: AuditFilters,
  want = 50,
): Promise<{ entries: AuditEntry[]; next: number | null }> {
  const out: AuditEntry[] = [];
  let before = f.before;
  // The actor filter takes an email as well as `user:<id>`.
  if (f.actor && f.actor.includes("@") && !f.actor.includes(":")) {
    const u = await store.getUserByEmail(f.actor);
    if (!u) return { entries: [], next: null };
    f = { ...f, actor: `user:${u.id}` };
  }
  const matches = (e: AuditEntry) => {
    if (f.from !== undefined && e.at < f.from) return false;
    if (f.to !== undefined && e.at > f.to) return false;
    const text = JSON.stringify(e.detail);
    if (f.site && e.target !== f.site && !text.includes(f.site)) return false;
    if (f.device && e.target !== f.device && !text.includes(f.device)) return false;
    return true;
  };
  for (let round = 0; round < 20 && out.length < want; round++) {
    const batch = await store.listAudit({
      tenantId,
      action: f.action,
      actor: f.actor,
      before,
      limit: 500,
    });
    if (!batch.length) return { entries: out, next: null };
    for (const e of batch) {
      if (f.from !== undefined && e.at < f.from) return { entries: out, next: null };
      if (matches(e)) out.push(e);
      if (out.length === want) return { entries: out, next: e.seq };
    }
    before = batch.at(-1)!.seq;
    if (batch.length < 500) return { entries: out, next: null };
  }
  return { entries: out, next: before ?? null };
}

/** Display names of the users behind `user:<id>` actors. */
export async function actorNames(
  store: Store,
  entries: { actor: string }[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of entries) {
    if (!e.actor.startsWith("user:") || out.has(e.actor)) continue;
    const u = await store.getUser(e.actor.slice(5));
    if (u) out.set(e.actor, u.email);
  }
  return out;
}

/** Names of the targets the entries point at (user emails, site, device and agent names). */
export async function targetNames(
  store: Store,
  tenantId: string,
  entries: AuditEntry[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const { target: t } of entries) {
    if (out.has(t)) continue;
    let name: string | null = null;
    if (t.startsWith("u-")) {
      const u = await store.getUser(t);
      name = u && u.tenantId === tenantId ? u.email : null;
    } else if (t.startsWith("site-")) {
      name = (await store.getSite(tenantId, t))?.name ?? null;
    } else if (t.startsWith("dev-")) {
      const d = await store.getDevice(tenantId, t);
      name = d ? d.label || d.host : null;
    } else if (t.startsWith("ag-")) {
      const a = await store.getAgent(t);
      name = a && a.tenantId === tenantId ? a.label || a.hostname || null : null;
    } else if (t.startsWith("h-")) {
      const h = await store.getHandle(t);
      const d = h && h.tenantId === tenantId ? await store.getDevice(tenantId, h.deviceId) : null;
      name = d && h ? `${d.label || d.host}:${h.port}` : null;
    }
    if (name) out.set(t, name);
  }
  return out;
}

function details(d: Record<string, unknown>): string {
  return Object.entries(d).map(([k, v]) =>
    `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`
  ).join(" · ").slice(0, 300);
}

/** Audit entries as a table. */
export function AuditTable(
  props: {
    entries: AuditEntry[];
    now: number;
    names?: Map<string, string>;
    targets?: Map<string, string>;
  },
) {
  return (
    <Table head={["When", "Who", "What", "Target", "Details"]}>
      {props.entries.map((e) => (
        <tr>
          <td>
            <At at={e.at} />
            <div class="muted">
              <Ago at={e.at} now={props.now} />
            </div>
          </td>
          <td>
            {props.names?.get(e.actor) ?? <span class="mono">{e.actor}</span>}
          </td>
          <td class="mono">{e.action}</td>
          <td>
            {props.targets?.get(e.target)
              ? (
                <>
                  {props.targets.get(e.target)}
                  <div class="muted mono">{e.target}</div>
                </>
              )
              : <span class="mono">{e.target}</span>}
          </td>
          <td class="muted wrap-anywhere">
            {details(e.detail)}
            {typeof e.detail.recordingId === "string"
              ? (
                <>
                  {" "}
                  <a href={`/recordings/${encodeURIComponent(e.detail.recordingId)}`}>
                    Play recording
                  </a>
                </>
              )
              : null}
          </td>
        </tr>
      ))}
    </Table>
  );
}

/** CSV of entries. */
export function auditCsv(entries: AuditEntry[]): string {
  return csvDocument(
    ["seq", "at", "actor", "action", "target", "detail"],
    entries.map((e) => [
      String(e.seq),
      new Date(e.at).toISOString(),
      e.actor,
      e.action,
      e.target,
      JSON.stringify(e.detail),
    ]),
  );
}

/** The page. */
export async function AuditPage(
  props: { ctx: UiContext; store: Store; now: number; filters: AuditFilters; query: string },
) {
  const { ctx, filters: f } = props;
  const { entries, next } = await filteredAudit(props.store, ctx.principal.tenantId, f);
  const sites = await sitePicker(props.store, ctx.principal.tenantId, f.site);
  const val = (v: unknown) => (v === undefined ? "" : String(v));
  const nextQuery = new URLSearchParams(props.query);
  if (next !== null) nextQuery.set("before", String(next));
  const csvQuery = new URLSearchParams(props.query);
  csvQuery.delete("before");
  return (
    <Layout ctx={ctx} title="Audit log" active="/audit">
      <h1>Audit log</h1>
      <p>
        <a href="/recordings">Terminal recordings</a>
      </p>
      <form method="get" action="/audit" class="card filters" aria-label="Filters">
        <div>
          <label for="f-actor">Actor</label>
          <input id="f-actor" name="actor" value={val(f.actor)} placeholder="email or user:u-…" />
        </div>
        <div>
          <label for="f-action">Action</label>
          <input id="f-action" name="action" value={val(f.action)} placeholder="tunnel.open" />
        </div>
        <div>
          <label for="f-site">Site</label>
          <SiteSelect id="f-site" name="site" picker={sites} any />
        </div>
        <div>
          <label for="f-device">Device id</label>
          <input id="f-device" name="device" value={val(f.device)} placeholder="d-…" />
        </div>
        <TimeFilter name="from" label="From" at={f.from} />
        <TimeFilter name="to" label="To" at={f.to} />
        <div class="inline">
          <button type="submit">Filter</button>
          <a class="button secondary" href={`/audit.csv?${csvQuery}`} download="audit.csv">
            Export CSV
          </a>
        </div>
      </form>
      {entries.length
        ? (
          <AuditTable
            entries={entries}
            now={props.now}
            names={await actorNames(props.store, entries)}
            targets={await targetNames(props.store, ctx.principal.tenantId, entries)}
          />
        )
        : <Empty>No audit entries match these filters.</Empty>}
      {next !== null
        ? (
          <p>
            <a href={`/audit?${nextQuery}`} rel="next">Older entries →</a>
          </p>
        )
        : null}
    </Layout>
  );
}
