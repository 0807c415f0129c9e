/**
 * Agents (`/agents`): the tenant's agents a hundred at a time (paged and searched in the store,
 * so a tenant of 10 000 answers as fast as one of 100), each with status, site, Relay (cloud
 * node), version, certificate expiry and issuing CA (flagged within 7 days), active streams,
 * last seen and — when stats exist — the last 24 h of traffic as a sparkline; revoking asks for
 * confirmation. The table (its own page) refreshes itself every few seconds.
 * @module
 */
import type { Agent, Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import {
  AgentName,
  Ago,
  At,
  DialogButtons,
  Empty,
  Layout,
  PageRange,
  SearchBox,
  Status,
  Table,
} from "../layout.tsx";
import { agentPage, AGENTS_PER_PAGE, sitesById } from "./data.ts";
import { roleAtLeast } from "../../tenancy/roles.ts";
import { agentCertView } from "../../agent_certs.ts";
import { CERT_WARN_MS } from "../../cert_expiry.ts";

const DAY_MS = 86_400_000;

/** An agent certificate's expiry and issuing CA, flagged when it expires within 7 days. */
export function CertCell(
  props: {
    agent: { certSerial: string; certNotAfter: number | null; certCa: string | null };
    caPin?: string;
    now: number;
  },
) {
  const v = agentCertView(props.agent, props.caPin ?? "");
  if (v.expiresAt === null) return <span class="muted">unknown until it connects</span>;
  const left = props.agent.certNotAfter! - props.now;
  const days = Math.floor(left / DAY_MS);
  const ca = v.ca === "current" ? "current CA" : `CA ${v.caPin?.slice(7, 19) ?? "?"}…`;
  return (
    <span title={`serial ${v.serial}; issued by ${v.caPin ?? "an unknown CA"}`}>
      <span class={left < CERT_WARN_MS ? "cert-warn" : undefined}>
        {left <= 0 ? "expired" : `${days} d left`} (<At at={props.agent.certNotAfter!} />)
      </span>
      <div class="muted">{ca}</div>
    </span>
  );
}

/**
 * Hourly traffic of these agents, each oldest first (bytes both ways), by agent id: one read for
 * a page of the list.
 */
export type TrafficSource = (
  tenantId: string,
  agentIds: string[],
) => Promise<Map<string, number[]>>;

/** A tiny inline SVG sparkline. */
export function Sparkline(props: { values: number[]; label: string }) {
  const v = props.values;
  if (!v.length || v.every((x) => x === 0)) return <span class="muted">no traffic</span>;
  const w = 120, h = 24, max = Math.max(...v);
  const pts = v.map((x, i) =>
    `${((i / Math.max(1, v.length - 1)) * w).toFixed(1)},${
      (h - (x / max) * (h - 2) - 1).toFixed(1)
    }`
  ).join(" ");
  return (
    <svg
      class="spark"
      width={w}
      height={h}
      viewBox={`0 0 ${w} ${h}`}
      role="img"
      aria-label={props.label}
    >
      <polyline points={pts} fill="none" stroke="#1f5eff" stroke-width="1.5" />
    </svg>
  );
}

function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** What the agents list shows: a search and a page of it. */
export interface AgentsListProps {
  ctx: UiContext;
  store: Store;
  now: number;
  traffic?: TrafficSource;
  q?: string;
  page?: number;
  caPin?: string;
}

/** The list's own address for a search and page (the page, its fragment, its links). */
function listQuery(q: string, page: number): string {
  const p = new URLSearchParams({
    ...(q ? { q } : {}),
    ...(page > 1 ? { page: String(page) } : {}),
  })
    .toString();
  return p ? `?${p}` : "";
}

/**
 * The agents table, a page at a time (also a polled fragment). `paged` is the page when the
 * caller already read it.
 */
export async function AgentsTable(
  props: AgentsListProps & { paged?: Awaited<ReturnType<typeof agentPage>> },
) {
  const t = props.ctx.principal.tenantId;
  const q = (props.q ?? "").trim();
  const paged = props.paged ?? await agentPage(props.store, t, { q, page: props.page });
  const agents = paged.rows;
  if (q && !paged.total) return <p class="muted">No agent matches "{q}".</p>;
  const admin = roleAtLeast(props.ctx.principal.role, "admin");
  if (!paged.total) {
    return (
      <Empty>
        No agents yet — open a site and download its installer (<a href="/sites">Sites</a>).
      </Empty>
    );
  }
  const sites = await sitesById(props.store, t, agents.map((a) => a.siteId));
  const traffic = props.traffic
    ? await props.traffic(t, agents.map((a) => a.id))
    : new Map<string, number[]>();
  return (
    <>
      <PageRange
        id="agent-range"
        paged={paged}
        perPage={AGENTS_PER_PAGE}
        shown={agents.length}
        q={q}
        none=""
        link={(n) => `/agents${listQuery(q, n)}`}
      />
      <Table
        head={[
          "Agent",
          "Status",
          "Site",
          "Relay",
          "Version",
          "Certificate",
          "Active streams",
          "Last seen",
          "Last 24 h",
          "@actions",
        ]}
      >
        {agents.map((a) => {
          const series = traffic.get(a.id) ?? [];
          const total = series.reduce((s, x) => s + x, 0);
          return (
            <tr data-agent={a.id}>
              <AgentName hostname={a.hostname} id={a.id} label={a.label} />
              <td>
                <Status online={a.online} dataBlocked={a.dataBlocked} />
              </td>
              <td>
                <a href={`/sites/${a.siteId}`}>{sites.get(a.siteId)?.name ?? a.siteId}</a>
              </td>
              <td>{a.relay ?? "—"}</td>
              <td>{a.version || "—"}</td>
              <td>
                <CertCell agent={a} caPin={props.caPin} now={props.now} />
              </td>
              <td>{a.activeStreams}</td>
              <td>
                <Ago at={a.lastHeartbeat} now={props.now} />
              </td>
              <td>
                <Sparkline values={series} label={`${bytes(total)} in the last 24 hours`} />
                {total ? <div class="muted">{bytes(total)}</div> : null}
              </td>
              <td>
                {admin
                  ? (
                    <button
                      type="button"
                      class="small secondary"
                      data-open={`rename-agent-${a.id}`}
                    >
                      ✎ Rename
                    </button>
                  )
                  : null}
                {admin
                  ? (
                    <button
                      type="button"
                      class="small danger"
                      data-api={`POST /api/agents/${a.id}/revoke`}
                      data-confirm={`Revoke agent ${
                        a.hostname || a.id
                      }? Its connection and tunnels are cut at once; the site needs a fresh installer to come back.`}
                    >
                      Revoke
                    </button>
                  )
                  : null}
              </td>
            </tr>
          );
        })}
      </Table>
    </>
  );
}

/** The page. */
export async function AgentsPage(props: AgentsListProps) {
  const q = (props.q ?? "").trim();
  const paged = await agentPage(props.store, props.ctx.principal.tenantId, {
    q,
    page: props.page,
  });
  return (
    <Layout ctx={props.ctx} title="Agents" active="/agents">
      <h1>Agents</h1>
      <SearchBox
        action="/agents"
        q={q}
        label="Find agents"
        placeholder="Find by name, host, site or version"
      />
      <div data-poll={`/ui/fragments/agents${listQuery(q, paged.page)}`} id="agents-table">
        {await AgentsTable({ ...props, q, page: paged.page, paged })}
      </div>
      {roleAtLeast(props.ctx.principal.role, "admin")
        ? <RenameDialogs agents={paged.rows} />
        : null}
    </Layout>
  );
}

/** One rename dialog per agent of the page, outside the live table (re-rendered every few seconds). */
function RenameDialogs(props: { agents: Agent[] }) {
  return (
    <>
      {props.agents.map((a) => (
        <dialog id={`rename-agent-${a.id}`} aria-labelledby={`rename-agent-h-${a.id}`}>
          <form data-api={`PATCH /api/agents/${a.id}`} data-toast="Agent renamed">
            <h2 id={`rename-agent-h-${a.id}`}>Rename {a.label || a.hostname || a.id}</h2>
            <label for={`agent-name-${a.id}`}>Name</label>
            <input
              id={`agent-name-${a.id}`}
              name="name"
              value={a.label}
              placeholder={a.hostname}
              required
              maxlength={200}
            />
            <DialogButtons label="Save" />
          </form>
        </dialog>
      ))}
    </>
  );
}
