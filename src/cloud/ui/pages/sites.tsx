/**
 * Sites: the list with "+ New site" (`/sites`), and one site's page (`/sites/{id}`) — its
 * enrollment token and installers, its agents (live), its devices a page at a time with port
 * pills acting on each port's chosen protocol (HTTP/HTTPS open the proxy in a new tab, RTSP asks
 * the stream path and copies a signed URL, SSH opens a terminal, TCP shows the CLI hint), editing
 * of names, ports and protocols, removal, device credentials, bulk add, CLI sessions and CLI
 * downloads.
 * @module
 */
import type { MotionStatus } from "../../events/motion_watch.ts";
import type { Site, Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import {
  AgentName,
  Ago,
  At,
  BulkAddFields,
  DialogButtons,
  Empty,
  Layout,
  PageRange,
  PORTS_HELP,
  SearchBox,
  Status,
  Table,
} from "../layout.tsx";
import {
  devicePage,
  type DeviceRow,
  DEVICES_PER_PAGE,
  siteAgentRows,
  sitePage,
  sitePicker,
  SITES_PER_PAGE,
} from "./data.ts";
import { roleAtLeast } from "../../tenancy/roles.ts";
import { protocolOf } from "../../store/port_protocols.ts";

/** The list. */
export async function SitesPage(
  props: { ctx: UiContext; store: Store; now: number; q?: string; page?: number },
) {
  const { ctx, store } = props;
  const q = (props.q ?? "").trim();
  const paged = await sitePage(store, ctx.principal.tenantId, { q, page: props.page });
  const sites = paged.sites;
  const link = (n: number) =>
    `/sites?${new URLSearchParams({ ...(q ? { q } : {}), page: String(n) })}`;
  const admin = roleAtLeast(ctx.principal.role, "admin");
  // This page's sites counted in one query each, not one per site nor the whole tenant.
  const ids = sites.map((s) => s.id);
  const counts = await store.countDevicesBySite(ctx.principal.tenantId, ids);
  const agentsOf = await store.countAgentsBySite(ctx.principal.tenantId, ids);
  return (
    <Layout ctx={ctx} title="Sites" active="/sites">
      <h1>Sites</h1>
      {admin
        ? (
          <form
            class="card inline"
            data-api="POST /api/sites"
            data-then="redirect:/sites/{id}"
            aria-label="New site"
          >
            <div>
              <label for="site-name">New site name</label>
              <input
                id="site-name"
                name="name"
                required
                maxlength={200}
                placeholder="Warehouse A"
              />
            </div>
            <button type="submit">+ New site</button>
          </form>
        )
        : null}
      {paged.all > 10 || q
        ? <SearchBox action="/sites" q={q} label="Find sites" placeholder="Find a site by name" />
        : null}
      <PageRange
        id="site-range"
        paged={paged}
        perPage={SITES_PER_PAGE}
        shown={sites.length}
        q={q}
        none={`No site matches "${q}".`}
        link={link}
      />
      {sites.length
        ? (
          <Table head={["Site", "Agents online", "Devices", "Created"]}>
            {sites.map((s) => {
              const agents = agentsOf[s.id] ?? { agents: 0, online: 0 };
              const devices = counts[s.id] ?? 0;
              return (
                <tr>
                  <td>
                    <a href={`/sites/${s.id}`}>{s.name}</a>
                    {s.alertsPausedUntil !== null && s.alertsPausedUntil > props.now
                      ? (
                        <div class="muted" data-alerts-paused>
                          Alerts paused until <At at={s.alertsPausedUntil} />
                        </div>
                      )
                      : null}
                  </td>
                  <td>{agents.online} / {agents.agents}</td>
                  <td>{devices}</td>
                  <td>
                    <Ago at={s.createdAt} now={props.now} />
                  </td>
                </tr>
              );
            })}
          </Table>
        )
        : q
        ? null
        : <Empty>No sites yet — create one above, then download its installer.</Empty>}
    </Layout>
  );
}

/** The site's agents table (also a polled fragment). */
export async function SiteAgents(
  props: { store: Store; tenantId: string; siteId: string; now: number },
) {
  const agents = await siteAgentRows(props.store, props.tenantId, props.siteId);
  if (!agents.length) {
    return (
      <Empty>
        No agents yet — download the installer above and run it on a PC at the site. The agent
        appears here within seconds.
      </Empty>
    );
  }
  return (
    <Table head={["Agent", "Status", "Version", "Relay", "Active streams", "Last seen"]}>
      {agents.map((a) => (
        <tr data-agent={a.id}>
          <AgentName hostname={a.hostname} id={a.id} label={a.label} />
          <td>
            <Status online={a.online} dataBlocked={a.dataBlocked} />
          </td>
          <td>{a.version || "—"}</td>
          <td>{a.relay ?? "—"}</td>
          <td>{a.activeStreams}</td>
          <td>
            <Ago at={a.lastHeartbeat} now={props.now} />
          </td>
        </tr>
      ))}
    </Table>
  );
}

/**
 * "N of M ports up" as the site's agents last reported (nothing before the first report); with
 * no agent online, the last report is only the last known state, and says so.
 */
async function ReachSummary(
  props: { store: Store; tenantId: string; siteId: string; agentOnline: boolean },
) {
  const r = await props.store.countPortStates(props.tenantId, props.siteId);
  if (!r.checked) return null;
  const down = r.checked - r.up;
  if (!props.agentOnline) {
    return (
      <p id="reach-summary" class="warn" data-up={r.up} data-total={r.total}>
        Reachability unknown: no agent of this site is online (last known: {r.up} of {r.total}{" "}
        ports up)
      </p>
    );
  }
  return (
    <p id="reach-summary" class={down ? "warn" : "muted"} data-up={r.up} data-total={r.total}>
      {r.up} of {r.total} ports up{down ? ` (${down} down)` : ""}
      {r.checked < r.total ? `; ${r.total - r.checked} not checked yet` : ""}
    </p>
  );
}

/**
 * A port's reachability: "● up" / "○ down" with since when, or nothing before the first check;
 * "? unknown" while no agent of the site is online (the last state in the tooltip).
 */
function Reach(
  props: { state: DeviceRow["reachability"][number] | undefined; now: number; known: boolean },
) {
  const s = props.state;
  if (!s) return null;
  const since = new Date(s.since).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  if (!props.known) {
    return (
      <span
        class="reach unknown"
        data-reach="unknown"
        title={`No agent of this site is online; last known ${s.up ? "up" : "down"} since ${since}`}
      >
        ? unknown
      </span>
    );
  }
  return (
    <span
      class={`reach ${s.up ? "up" : "down"}`}
      data-reach={s.up ? "up" : "down"}
      title={s.up ? `Reachable since ${since}` : `Unreachable since ${since}: ${s.error}`}
    >
      {s.up ? "● up" : "○ down"} <Ago at={s.since} now={props.now} />
    </span>
  );
}

function Pills(
  props: { d: DeviceRow; now?: number; agentOnline?: boolean; operator: boolean },
) {
  return (
    <>
      {props.d.ports.map((p) => (
        <span class="port" data-port={p}>
          <Reach
            state={props.d.reachability[p]}
            now={props.now ?? Date.now()}
            known={props.agentOnline ?? true}
          />
          <Pill d={props.d} p={p} operator={props.operator} />
        </span>
      ))}
    </>
  );
}

/**
 * One port's pill: it acts on the protocol chosen for its port. A viewer's SSH pill opens
 * nothing (the terminal needs the operator role) and says so, instead of a page that refuses.
 */
function Pill(props: { d: DeviceRow; p: number; operator: boolean }) {
  const { d, p } = props;
  const proto = protocolOf(d, p);
  const h = d.handles[p];
  if (proto === "http" || proto === "https") {
    return (
      <a
        class="pill"
        href={`/api/devices/${d.id}/ports/${p}/open`}
        target="_blank"
        rel="noopener"
        title="Open the device's web page in a new tab"
        data-protocol={proto}
      >
        {p} {proto.toUpperCase()}
      </a>
    );
  }
  if (proto === "ssh" && h && !props.operator) {
    return (
      <span
        class="pill other"
        tabindex={0}
        data-protocol={proto}
        data-refused="role"
        title="Opening a terminal needs the operator role: an admin of your tenant can change your role (Team page)"
      >
        {p} SSH
      </span>
    );
  }
  if (proto === "ssh" && h) {
    return (
      <a
        class="pill ssh"
        href={`/terminal/${h}`}
        target="_blank"
        rel="noopener"
        title="Open a terminal to this device in a new tab"
        data-protocol={proto}
      >
        {p} SSH Terminal
      </a>
    );
  }
  if (proto === "rtsp" && h) {
    const path = d.streamPaths[p] ?? "";
    // The thumbnail decodes a picture of the lighter sub-stream when the camera has one.
    const small = d.subStreamPaths[p] ?? path;
    return (
      <>
        <a
          class="pill rtsp"
          href="#"
          data-rtsp={`/api/handles/${h}/rtsp-url`}
          data-rtsp-path={path}
          data-rtsp-sub={d.subStreamPaths[p] ?? ""}
          data-rtsp-name={`${d.label || d.host} :${p}`}
          data-protocol={proto}
          title="Copy a signed rtsp:// URL for VLC, ffmpeg or your VMS (asks the stream path)"
        >
          {p} RTSP
        </a>
        <a
          class="pill rtsp"
          href={`/live/${h}${path ? `?${new URLSearchParams({ path })}` : ""}`}
          target="_blank"
          rel="noopener"
          title={`Watch the camera live in the browser${path ? ` (${path})` : ""}`}
        >
          Live
        </a>
        {path && (
          <a
            class="thumb"
            href={`/live/${h}?${new URLSearchParams({ path })}`}
            target="_blank"
            rel="noopener"
          >
            <canvas
              width={160}
              height={90}
              data-thumb={h}
              data-path={small}
              data-name={`${d.label || d.host} :${p}`}
              role="img"
              aria-label={`Latest picture of ${d.label || d.host} :${p}`}
            />
          </a>
        )}
      </>
    );
  }
  return (
    <span
      class="pill other"
      tabindex={0}
      data-protocol={proto}
      title={props.operator
        ? `Use the CLI tunnel: nanodems-tunnel run, then connect to ${d.loopbackIp}:${p}`
        : `Reached with the CLI tunnel (${d.loopbackIp}:${p}), which needs the operator role`}
    >
      {p} {proto.toUpperCase()}
    </span>
  );
}

/** The RTSP pill's question: the stream path to put in the URL (remembered per device port). */
function RtspDialog() {
  return (
    <dialog id="rtsp-dialog" aria-labelledby="rtsp-dialog-h">
      <form id="rtsp-form">
        <h2 id="rtsp-dialog-h">
          RTSP URL for <span class="rtsp-target"></span>
        </h2>
        <label for="rtsp-path">Stream path on the camera</label>
        <div class="inline">
          <input
            id="rtsp-path"
            name="path"
            maxlength={2000}
            placeholder="/Streaming/Channels/101"
            autocomplete="off"
          />
          <button type="button" class="secondary" data-onvif-ask>
            Ask the camera (ONVIF)
          </button>
        </div>
        <p class="muted">
          E.g. Hikvision <code>/Streaming/Channels/101</code>, Dahua{" "}
          <code>/cam/realmonitor?channel=1&amp;subtype=0</code>, Axis{" "}
          <code>/axis-media/media.amp</code>. Remembered for this port. "Ask the camera" fills it in
          from the camera's ONVIF answer (the cloud must hold the camera's credentials).
        </p>
        <label for="rtsp-sub">Sub-stream path (for the live grid and thumbnails)</label>
        <input
          id="rtsp-sub"
          name="subpath"
          maxlength={2000}
          placeholder="/Streaming/Channels/102"
          autocomplete="off"
        />
        <p class="muted">
          The camera's lighter second stream, so that a grid of cameras does not fill the site's
          uplink with main streams. Empty: the grid plays the main stream.
        </p>
        <DialogButtons label="Copy RTSP URL" />
      </form>
    </dialog>
  );
}

/** A device is a camera when one of its ports speaks RTSP. */
function isCamera(d: DeviceRow): boolean {
  return d.ports.some((p) => protocolOf(d, p) === "rtsp");
}

/**
 * A device's alerts snoozed (its events recorded, none sent): until when, with "Resume" for an
 * operator. (Snoozing is on the device's Events page, which its row's "Events" opens: a site page
 * lists 100 devices, and each byte of a row counts a hundred times.)
 */
function Snooze(props: { d: DeviceRow; now: number; operator: boolean }) {
  const { d } = props;
  const until = d.alertsSnoozedUntil;
  if (until !== null && until > props.now) {
    return (
      <div class="muted" data-snoozed>
        Alerts snoozed until <At at={until} />
        {props.operator
          ? (
            <>
              {" "}
              <button type="button" class="small secondary" data-snooze={d.id} data-minutes="0">
                Resume
              </button>
            </>
          )
          : null}
      </div>
    );
  }
  return null;
}

/** How a camera's motion alerts are doing, as the node that watches it last said. */
function MotionLine(props: { status: MotionStatus | null }) {
  const s = props.status;
  if (!s) return <div class="muted">motion alerts on</div>;
  const by = `watched by ${s.node}`;
  if (s.state === "failing") {
    return (
      <div class="muted" data-motion="failing" title={by}>
        motion alerts on, not working: {s.error}
      </div>
    );
  }
  return (
    <div class="muted" data-motion={s.state} title={by}>
      motion alerts on ({s.state === "watching" ? "subscribed" : "subscribing…"})
      {s.lastMotionAt !== null
        ? (
          <>
            {" · last motion "}
            <At at={s.lastMotionAt} />
          </>
        )
        : null}
    </div>
  );
}

/** The SSH host keys pinned on a device's ports, a changed one flagged, with the admin's accept. */
function HostKeys(props: { d: DeviceRow; admin: boolean }) {
  return (
    <>
      {props.d.hostKeys.map((k) => (
        <div data-host-key={k.port}>
          <div class="muted mono" title="SSH host key pinned on first use">
            {k.port}: {k.algorithm} {k.fingerprint}
          </div>
          {k.offeredFingerprint
            ? (
              <div class="warn" role="alert">
                ⚠ Port {k.port} now presents a different host key: {k.offeredAlgorithm}{" "}
                <span class="mono">{k.offeredFingerprint}</span>. Terminals are blocked.{" "}
                {props.admin
                  ? (
                    <button
                      type="button"
                      class="small danger"
                      data-api={`POST /api/devices/${k.deviceId}/ports/${k.port}/host-key/accept`}
                      data-body={JSON.stringify({ fingerprint: k.offeredFingerprint })}
                      data-confirm={`Trust the new host key ${k.offeredFingerprint}? Do this only if the device was reinstalled or its key was changed on purpose.`}
                      data-then="reload"
                    >
                      Accept the new key
                    </button>
                  )
                  : "Ask an admin to check it."}
              </div>
            )
            : null}
        </div>
      ))}
    </>
  );
}

/**
 * The device edit and credentials dialogs, rendered once per page (not once per row, which made
 * a page of 100 devices 290 KB): each row's button fills them from its `data-fill`.
 */
/** A device's user name, password and SSH key inputs (`{id}-user`, `-password`, `-key`). */
function CredentialFields(props: { id: string }) {
  return (
    <>
      <label for={`${props.id}-user`}>Username</label>
      <input id={`${props.id}-user`} name="username" autocomplete="off" required />
      <label for={`${props.id}-password`}>Password</label>
      <input
        id={`${props.id}-password`}
        name="password"
        type="password"
        autocomplete="new-password"
      />
      <label for={`${props.id}-key`}>SSH private key (optional, unencrypted)</label>
      <textarea
        id={`${props.id}-key`}
        name="privateKey"
        rows={4}
        autocomplete="off"
        spellcheck={false}
        placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
      >
      </textarea>
    </>
  );
}

function DeviceDialogs() {
  return (
    <>
      <dialog id="edit-device" aria-labelledby="edit-device-h">
        <form data-api="PATCH /api/devices/-" data-toast="Device saved">
          <h2 id="edit-device-h">
            Edit <span data-slot="name"></span>
          </h2>
          <label for="edit-device-label">Name</label>
          <input id="edit-device-label" name="label" />
          <label for="edit-device-ports">Ports and their protocols</label>
          <input
            id="edit-device-ports"
            name="ports"
            data-type="port-list"
            data-protocols="protocols"
            aria-describedby="edit-device-ports-help"
            required
          />
          <p class="muted" id="edit-device-ports-help">{PORTS_HELP}</p>
          <DialogButtons label="Save changes" />
        </form>
      </dialog>
      <dialog id="cred-device" aria-labelledby="cred-device-h">
        <form
          data-api="PUT /api/sites/-/devices/-/credentials"
          data-toast="Credentials saved; they are never shown again"
        >
          <h2 id="cred-device-h">
            Device credentials for <span data-slot="name"></span>
          </h2>
          <p class="muted">
            Held encrypted by the cloud and used to answer the camera's password prompt and to log
            in to SSH terminals, so operators never see them. They cannot be read back.
          </p>
          <CredentialFields id="cred-device" />
          <DialogButtons label="Save credentials" />
        </form>
      </dialog>
      <dialog id="site-creds" aria-labelledby="site-creds-h">
        <form
          data-api="PUT /api/sites/-/credentials"
          data-toast="Credentials saved; devices given them: {set}"
        >
          <h2 id="site-creds-h">Same credentials for the site's devices</h2>
          <p class="muted">
            For cameras installed with one password, or servers with one SSH key: given to every
            device of this site that has none yet, held encrypted like a device's own, never shown
            again.
          </p>
          <label for="site-creds-only">Give them to</label>
          <select id="site-creds-only" name="only">
            <option value="">every device</option>
            <option value="rtsp">the cameras (devices with an RTSP port)</option>
            <option value="ssh">the SSH servers (devices with an SSH port)</option>
            <option value="http">web devices (an HTTP port)</option>
            <option value="https">web devices (an HTTPS port)</option>
          </select>
          <CredentialFields id="site-creds" />
          <label style="font-weight:400">
            <input type="checkbox" name="replace" /> Also replace credentials devices already have
          </label>
          <DialogButtons label="Save for every device" />
        </form>
      </dialog>
    </>
  );
}

/** The site page. */
/**
 * Whether the site's alerts are on, or paused for maintenance (until when, by whom) — and for an
 * operator, the buttons that pause them for a while or resume them.
 */
function AlertsPause(
  props: { site: Site; now: number; by: string | null; operator: boolean },
) {
  const { site } = props;
  const until = site.alertsPausedUntil;
  if (until !== null && until > props.now) {
    return (
      <p data-alerts="paused" role="status">
        <span class="status offline">Alerts paused</span> until <At at={until} />
        {props.by ? ` by ${props.by}` : ""}: its events are recorded, nothing goes to webhooks,
        email or chat. {props.operator
          ? (
            <button
              type="button"
              class="small secondary"
              data-api={`POST /api/sites/${site.id}/alerts/resume`}
              data-toast="Alerts resumed"
            >
              Resume alerts
            </button>
          )
          : null}
      </p>
    );
  }
  if (!props.operator) return null;
  const choices: [number, string][] = [[60, "1 hour"], [240, "4 hours"], [1440, "1 day"]];
  return (
    <p data-alerts="on" class="inline" style="align-items:center">
      <span class="muted">Maintenance? Pause this site's alerts for</span>
      {choices.map(([minutes, label]) => (
        <button
          type="button"
          class="small secondary"
          data-api={`POST /api/sites/${site.id}/alerts/pause`}
          data-body={JSON.stringify({ minutes })}
          data-toast={`Alerts paused for ${label}`}
        >
          {label}
        </button>
      ))}
    </p>
  );
}

export async function SitePage(
  props: {
    ctx: UiContext;
    store: Store;
    site: Site;
    now: number;
    query?: { q?: string; page?: number };
    /** What the motion watch knows of the devices with alerts on (by device id). */
    motion?: (deviceIds: string[]) => Promise<Map<string, MotionStatus>>;
  },
) {
  const { ctx, store, site } = props;
  const t = ctx.principal.tenantId;
  const admin = roleAtLeast(ctx.principal.role, "admin");
  const operator = roleAtLeast(ctx.principal.role, "operator");
  const paged = await devicePage(store, t, site.id, props.query ?? {});
  const devices = paged.rows;
  const motion = await props.motion?.(devices.filter((d) => d.motionAlerts).map((d) => d.id));
  // Reachability is current only while an agent of the site reports it.
  const agentOnline = (await store.listPresence(site.id)).some((p) => p.tenantId === t);
  const q = (props.query?.q ?? "").trim();
  const pageLink = (n: number) =>
    `/sites/${site.id}?${new URLSearchParams({ ...(q ? { q } : {}), page: String(n) })}#devices-h`;
  const tokens = await store.listEnrollmentTokens(t, site.id);
  const latest = tokens[0];
  const tokenState = !latest
    ? "No enrollment token yet: downloading an installer creates one."
    : latest.usedAt
    ? (
      <>
        The latest token was used <At at={latest.usedAt} />.
      </>
    )
    : latest.expiresAt < props.now
    ? "The latest token has expired."
    : (
      <>
        A token is active until <At at={latest.expiresAt} />.
      </>
    );
  const sessions = (await store.listCliSessions(t, { siteId: site.id }))
    .filter((s) => s.revokedAt === null && s.expiresAt > props.now);
  // The CLI dialog lists every site to tick while there are few; past that, this site and a
  // search that asks the API for the ones to add (10 000 checkboxes made the page megabytes).
  const pickable = await sitePicker(store, t, site.id);
  const by = site.alertsPausedBy;
  const pausedBy = by?.startsWith("user:")
    ? (await store.getUser(by.slice("user:".length)))?.email ?? by
    : by;
  return (
    <Layout
      ctx={ctx}
      title={site.name}
      active="/sites"
      head={<script type="module" src="/ui/thumbs.js"></script>}
    >
      <p>
        <a href="/sites">← Sites</a>
      </p>
      <h1>{site.name}</h1>
      {admin
        ? (
          <div class="inline">
            <button type="button" class="small secondary" data-open="rename-site">
              ✎ Rename site
            </button>
            <button
              type="button"
              class="small danger"
              data-api={`DELETE /api/sites/${site.id}`}
              data-confirm={`Delete site "${site.name}" with its ${paged.all} device(s), their handles and credentials, and its enrollment tokens? Its agents must be revoked first.`}
              data-toast="Site deleted"
              data-then="redirect:/sites"
            >
              Delete site
            </button>
            <dialog id="rename-site" aria-labelledby="rename-site-h">
              <form data-api={`PATCH /api/sites/${site.id}`} data-toast="Site renamed">
                <h2 id="rename-site-h">Rename {site.name}</h2>
                <label for="site-name">Name</label>
                <input id="site-name" name="name" value={site.name} required maxlength={200} />
                <DialogButtons label="Save" />
              </form>
            </dialog>
          </div>
        )
        : null}
      <AlertsPause site={site} now={props.now} by={pausedBy} operator={operator} />
      <p>
        <a href={`/sites/${site.id}/live`} target="_blank" rel="noopener">
          Live view of this site's cameras
        </a>{" "}
        (up to 16; add <code>?path=/stream</code> for the cameras' stream path) ·{" "}
        <a href={`/events?site=${site.id}`}>This site's events</a>
      </p>

      <section class="card" aria-labelledby="enroll-h">
        <h2 id="enroll-h" style="margin-top:0">Agent installer</h2>
        <p id="token-state">{tokenState}</p>
        {admin
          ? (
            <div class="inline">
              <a class="button" href={`/api/sites/${site.id}/installer.cmd`} download>
                Windows installer (.cmd)
              </a>
              <a class="button" href={`/api/sites/${site.id}/installer.sh`} download>
                Linux/macOS installer (.sh)
              </a>
              <button
                type="button"
                class="secondary"
                data-api={`POST /api/sites/${site.id}/install-command`}
                data-then="secret:commands:Install the agent with one command"
              >
                One-line install command
              </button>
            </div>
          )
          : <p class="muted">Only an admin can download installers.</p>}
        <p class="muted">
          Each installer and each install command carries a fresh one-shot token. Run it once as
          Administrator/root on a PC at the site; the agent shows up below within seconds.
        </p>
        {admin && tokens.length
          ? (
            <Table head={["Enrollment token", "Created", "Expires", "State", "@actions"]}>
              {tokens.slice(0, 20).map((tk) => {
                const state = tk.usedAt !== null
                  ? `used by ${tk.agentId ?? "an agent"}`
                  : tk.expiresAt <= props.now
                  ? "expired or revoked"
                  : "active";
                return (
                  <tr data-token={tk.hash.slice(0, 12)}>
                    <td class="mono">{tk.hash.slice(0, 12)}…</td>
                    <td>
                      <Ago at={tk.createdAt} now={props.now} />
                    </td>
                    <td>
                      <At at={tk.expiresAt} />
                    </td>
                    <td>{state}</td>
                    <td>
                      {state === "active"
                        ? (
                          <button
                            type="button"
                            class="small danger"
                            data-api={`DELETE /api/sites/${site.id}/enrollment-tokens/${tk.hash}`}
                            data-confirm={`Revoke enrollment token ${
                              tk.hash.slice(0, 12)
                            }…? An installer or command that carries it will no longer enroll.`}
                            data-toast="Enrollment token revoked"
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
          )
          : null}
      </section>

      <h2>Agents</h2>
      <div data-poll={`/ui/fragments/sites/${site.id}/agents`} id="site-agents">
        {await SiteAgents({ store, tenantId: t, siteId: site.id, now: props.now })}
      </div>

      <h2 id="devices-h">Devices</h2>
      {await ReachSummary({ store, tenantId: t, siteId: site.id, agentOnline })}
      {admin && devices.length
        ? (
          <div class="inline" style="margin-bottom:.75rem;align-items:center">
            <button
              type="button"
              class="secondary"
              data-open="site-creds"
              data-fill={JSON.stringify({ "@api": `PUT /api/sites/${site.id}/credentials` })}
            >
              Same credentials for every device
            </button>
            {devices.some(isCamera)
              ? (
                <button
                  type="button"
                  class="secondary"
                  data-api={`PUT /api/sites/${site.id}/motion-alerts`}
                  data-body={JSON.stringify({
                    on: !devices.filter(isCamera).every((d) => d.motionAlerts),
                  })}
                  data-toast="Motion alerts switched for {switched} of {cameras} cameras"
                  title="Raise a 'Motion detected' event when any camera of the site reports motion over ONVIF, 'Camera tampered with' when one is covered or turned, 'Camera alarm input' when a contact wired to one trips (the cloud must hold their credentials)"
                >
                  {devices.filter(isCamera).every((d) => d.motionAlerts)
                    ? "Motion alerts off for every camera"
                    : "Motion alerts on for every camera"}
                </button>
              )
              : null}
            {devices.some(isCamera)
              ? (
                <button
                  type="button"
                  class="secondary"
                  data-api={`POST /api/sites/${site.id}/clocks`}
                  data-then="call:ncClocksSet"
                  title="Ask each camera its time over ONVIF and set the ones more than 5 s off to the right time (the cloud must hold their credentials)"
                >
                  Set the cameras' clocks
                </button>
              )
              : null}
            {devices.some((d) =>
                d.ports.some((p) =>
                  protocolOf(d, p) === "rtsp" && !(d.streamPaths[p] && d.subStreamPaths[p])
                )
              )
              ? (
                <>
                  <button
                    type="button"
                    class="secondary"
                    data-api={`POST /api/sites/${site.id}/onvif`}
                    data-then="call:ncOnvifAsked"
                  >
                    Ask the cameras for their stream paths (ONVIF)
                  </button>
                  <span class="muted">
                    for every RTSP port without one, once the cloud holds the cameras' credentials
                  </span>
                </>
              )
              : null}
          </div>
        )
        : null}
      {paged.all > 10 || q
        ? (
          <SearchBox
            action={`/sites/${site.id}`}
            q={q}
            label="Find devices"
            placeholder="Find by address, name, model, firmware or port"
            anchor="#devices-h"
          />
        )
        : null}
      <PageRange
        id="device-range"
        paged={paged}
        perPage={DEVICES_PER_PAGE}
        shown={devices.length}
        q={q}
        none={`No device matches "${q}".`}
        link={pageLink}
      />
      {devices.length
        ? (
          <Table head={["Device", "Host", "Ports", "Loopback", "@actions"]}>
            {devices.map((d) => (
              <tr data-device={d.id}>
                <td>
                  {d.label || d.model || "Device"}
                  <div class="muted">
                    {[d.manufacturer, d.model].filter(Boolean).join(" ")}
                    {d.firmware ? ` · firmware ${d.firmware}` : ""}{" "}
                    <a href={`/events?device=${d.id}`}>Events</a>
                  </div>
                </td>
                <td>
                  <span class="mono">{d.host}</span>
                  {d.hasCredentials ? <div class="muted">credentials held by the cloud</div> : null}
                  {d.motionAlerts ? <MotionLine status={motion?.get(d.id) ?? null} /> : null}
                  <Snooze d={d} now={props.now} operator={operator} />
                  <HostKeys d={d} admin={admin} />
                </td>
                <td>
                  <Pills d={d} now={props.now} agentOnline={agentOnline} operator={operator} />
                </td>
                <td class="mono">{d.loopbackIp}</td>
                <td>
                  {admin
                    ? (
                      <div class="inline">
                        <button
                          type="button"
                          class="small secondary"
                          data-open="edit-device"
                          data-fill={JSON.stringify({
                            "@api": `PATCH /api/devices/${d.id}`,
                            "@name": d.label || d.host,
                            label: d.label,
                            ports: d.ports.map((p) => `${p}/${protocolOf(d, p)}`).join(", "),
                          })}
                          aria-label={`Edit name, ports and protocols of ${d.label || d.host}`}
                        >
                          ✎ Edit
                        </button>
                        <button
                          type="button"
                          class="small secondary"
                          data-open="cred-device"
                          data-fill={JSON.stringify({
                            "@api": `PUT /api/sites/${d.siteId}/devices/${d.id}/credentials`,
                            "@name": d.label || d.host,
                          })}
                        >
                          Credentials
                        </button>
                        {isCamera(d)
                          ? (
                            <button
                              type="button"
                              class="small secondary"
                              data-api={`PATCH /api/devices/${d.id}`}
                              data-body={JSON.stringify({ motionAlerts: !d.motionAlerts })}
                              data-toast={d.motionAlerts ? "Motion alerts off" : "Motion alerts on"}
                              aria-pressed={d.motionAlerts ? "true" : "false"}
                              title="Motion, tampering and alarm input events over ONVIF (needs its credentials)"
                            >
                              {d.motionAlerts ? "Motion alerts: on" : "Motion alerts: off"}
                            </button>
                          )
                          : null}
                        <button
                          type="button"
                          class="small danger"
                          data-api={`DELETE /api/devices/${d.id}`}
                          data-confirm={`Remove ${
                            d.label || d.host
                          }? Its handles stop working at once.`}
                        >
                          Remove
                        </button>
                      </div>
                    )
                    : null}
                </td>
              </tr>
            ))}
          </Table>
        )
        : <Empty>No devices yet — add cameras below or run discovery.</Empty>}
      <RtspDialog />
      {admin ? <DeviceDialogs /> : null}

      {admin
        ? (
          <form
            class="card"
            data-api={`POST /api/sites/${site.id}/devices/bulk`}
            data-toast="{message}"
            aria-labelledby="bulk-h"
          >
            <h2 id="bulk-h" style="margin-top:0">Add devices</h2>
            <div class="inline">
              <BulkAddFields rangeHint="192.0.2.10, 192.0.2.10-20 or 192.0.2.0/28" />
            </div>
            <p class="muted">
              Or <a href={`/discover?site=${site.id}`}>run ONVIF discovery</a>.
            </p>
          </form>
        )
        : null}

      <h2>CLI tunnel</h2>
      <div class="card">
        {operator
          ? (
            <>
              <button type="button" data-open="cli-dialog">Open CLI session</button>
              <dialog id="cli-dialog" aria-labelledby="cli-h">
                <form
                  data-api="POST /api/cli/sessions"
                  data-then="secret:command:Run this on your machine"
                >
                  <h2 id="cli-h">Open CLI session</h2>
                  <fieldset>
                    <legend>Sites the session may reach</legend>
                    <div id="cli-sites">
                      {pickable.sites.map((s) => (
                        <label style="font-weight:400">
                          <input
                            type="checkbox"
                            name="siteIds"
                            data-type="list"
                            value={s.id}
                            checked={s.id === site.id}
                          />{" "}
                          {s.name}
                        </label>
                      ))}
                    </div>
                    {pickable.searchable
                      ? (
                        <>
                          <label for="cli-site-search">
                            Add sites (of {pickable.total}): type a part of a name
                          </label>
                          <input
                            id="cli-site-search"
                            data-site-search="cli-sites"
                            autocomplete="off"
                            maxlength={200}
                            placeholder="Warehouse"
                          />
                        </>
                      )
                      : null}
                  </fieldset>
                  <DialogButtons label="Create session" />
                </form>
              </dialog>
            </>
          )
          : null}
        <p class="muted">
          The CLI (nanodems-tunnel) listens on each device's loopback address, e.g.{" "}
          <code>
            {devices[0] ? `${devices[0].loopbackIp}:${devices[0].ports[0]}` : "127.0.0.X:port"}
          </code>, so SDKs, ssh and RTSP players connect as if on the site's LAN.{" "}
          <a href="/download">Download the CLI</a>.
        </p>
        <h3>Active sessions</h3>
        {sessions.length
          ? (
            <Table head={["Operator", "Expires", "Last used", "@actions"]}>
              {sessions.map((s) => (
                <tr data-session={s.hash.slice(0, 12)}>
                  <td>{s.operator}</td>
                  <td>
                    <At at={s.expiresAt} />
                  </td>
                  <td>
                    <Ago at={s.lastUsedAt} now={props.now} />
                  </td>
                  <td>
                    <button
                      type="button"
                      class="small danger"
                      data-api={`DELETE /api/cli/sessions/${s.hash}`}
                      data-confirm={`Revoke the CLI session of ${s.operator}? Its tunnels stop at once.`}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          )
          : <Empty>No active CLI sessions.</Empty>}
      </div>
    </Layout>
  );
}
