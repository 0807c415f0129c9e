/**
 * The dashboard (`/`): agents online and offline, active streams, devices, and the latest audit
 * events, with the next step spelled out when the tenant is empty.
 * @module
 */
import type { Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, Empty, Layout, Table } from "../layout.tsx";
import type { LiveAccess } from "../../access/live.ts";
import { namedLive } from "../../api/live_sessions.ts";
import { roleAtLeast } from "../../tenancy/roles.ts";
import { actorNames, AuditTable, targetNames } from "./audit.tsx";

/** Live numbers, also served as a fragment for polling. */
export async function DashboardStats(props: { store: Store; tenantId: string }) {
  // Counted in the store, never a row per agent: the fragment is polled per open tab.
  const counts = Object.values(await props.store.countAgentsBySite(props.tenantId));
  const sites = (await props.store.querySites(props.tenantId, { limit: 1 })).total;
  const devices = Object.values(await props.store.countDevicesBySite(props.tenantId))
    .reduce((n, c) => n + c, 0);
  const agents = counts.reduce((n, c) => n + c.agents, 0);
  const online = counts.reduce((n, c) => n + c.online, 0);
  const streams = counts.reduce((n, c) => n + c.activeStreams, 0);
  const stat = (n: number, label: string, id: string) => (
    <div class="card">
      <div class="stat" id={id}>{n}</div>
      <div class="stat-label">{label}</div>
    </div>
  );
  return (
    <div class="grid">
      {stat(online, "agents online", "stat-online")}
      {stat(agents - online, "agents offline", "stat-offline")}
      {stat(streams, "active streams", "stat-streams")}
      {stat(devices, "devices", "stat-devices")}
      {stat(sites, "sites", "stat-sites")}
    </div>
  );
}

/** The page. */
export async function DashboardPage(
  props: { ctx: UiContext; store: Store; now: number; live?: LiveAccess },
) {
  const { ctx, store } = props;
  const sites = (await store.querySites(ctx.principal.tenantId, { limit: 1 })).total;
  const recent = await store.listAudit({ tenantId: ctx.principal.tenantId, limit: 10 });
  return (
    <Layout ctx={ctx} title="Dashboard" active="/">
      <h1>Dashboard</h1>
      {sites === 0
        ? (
          <div class="card">
            <Empty>
              No sites yet —{" "}
              <a href="/sites">create your first site</a>, then download its installer and run it on
              a PC at the site.
            </Empty>
          </div>
        )
        : null}
      <div data-poll="/ui/fragments/dashboard">
        {await DashboardStats({ store, tenantId: ctx.principal.tenantId })}
      </div>
      {props.live && roleAtLeast(ctx.principal.role, "admin")
        ? await LiveSessions({ ctx, store, now: props.now, live: props.live })
        : null}
      <h2>Recent activity</h2>
      {recent.length
        ? (
          <AuditTable
            entries={recent}
            now={props.now}
            names={await actorNames(store, recent)}
            targets={await targetNames(store, props.ctx.principal.tenantId, recent)}
          />
        )
        : <Empty>Nothing has happened yet.</Empty>}
      <p>
        <a href="/audit">Full audit log</a> · Last refreshed <Ago at={props.now} now={props.now} />
      </p>
    </Layout>
  );
}

/** Live sessions on this node, with "Terminate" (admins). */
async function LiveSessions(
  props: { ctx: UiContext; store: Store; now: number; live: LiveAccess },
) {
  const t = props.ctx.principal.tenantId;
  const rows = await namedLive(props.store, t, props.live.list(t));
  return (
    <>
      <h2 id="live-h">Live sessions</h2>
      {rows.length
        ? (
          <Table head={["Who", "What", "Device", "Since", "Bytes so far", "@actions"]}>
            {rows.map((r) => (
              <tr data-live={r.id}>
                <td>{r.who}</td>
                <td>{r.kind}</td>
                <td>{r.device}</td>
                <td>
                  <Ago at={r.startedAt} now={props.now} />
                </td>
                <td>{r.bytes === null ? "—" : r.bytes.toLocaleString("en")}</td>
                <td>
                  <button
                    type="button"
                    class="small danger"
                    data-api={`DELETE /api/live/${r.id}`}
                    data-confirm={`Terminate ${r.who}'s ${r.kind} to ${r.device}? It closes now.`}
                    data-toast="Session terminated"
                  >
                    Terminate
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )
        : <p class="muted">No tunnel, RTSP session or proxied stream is open on this node.</p>}
    </>
  );
}
