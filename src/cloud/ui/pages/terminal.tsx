/**
 * The browser terminal's pages: the live terminal of one SSH port (`/terminal/{handle}`), the
 * tenant's session recordings (`/recordings`) and the player of one (`/recordings/{id}`). The
 * pages only render; the terminal's bytes flow over its WebSocket, the player reads the API.
 * @module
 */
import type { Device, Handle, Store, TerminalRecording } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, At, Empty, Layout, Table } from "../layout.tsx";
import { maySeeRecording } from "../../api/terminal.ts";
import { actorNames } from "./audit.tsx";
import { roleAtLeast } from "../../tenancy/roles.ts";
import { policyView, terminalPolicy } from "../../access/terminal/policy.ts";

const TERMINAL_HEAD = (module: string) => (
  <>
    <link rel="stylesheet" href="/ui/vendor/xterm.css" />
    <script type="module" src={module}></script>
  </>
);

/** The live terminal. */
export function TerminalPage(props: { ctx: UiContext; handle: Handle; device: Device }) {
  const { device, handle } = props;
  const name = device.label || device.host;
  const role = props.ctx.principal.role;
  // The cloud refuses a viewer's terminal before its WebSocket opens, and a browser never learns
  // why (its socket just closes): say it here instead of a terminal that reads "disconnected".
  if (!roleAtLeast(role, "operator")) {
    return (
      <Layout ctx={props.ctx} title={`Terminal ${name}`} active="/sites">
        <h1>
          Terminal — {name}:{handle.port}
        </h1>
        <p class="card" role="status" data-refused="role">
          Opening a terminal needs the operator role; you are a{" "}
          {role}. An admin of your tenant can change your role (Team page).
        </p>
        <p>
          <a href={`/sites/${device.siteId}`}>Back to the site</a>
        </p>
      </Layout>
    );
  }
  return (
    <Layout
      ctx={props.ctx}
      title={`Terminal ${name}`}
      active="/sites"
      head={TERMINAL_HEAD("/ui/terminal.js")}
    >
      <div class="term-page">
        <h1>
          Terminal — {name}:{handle.port}
        </h1>
        <p>
          <span id="term-status" role="status">loading…</span>
        </p>
        <form id="term-login" class="term-login card" hidden autocomplete="off">
          <div>
            <label for="term-user">User name</label>
            <input id="term-user" name="username" required autocomplete="off" />
          </div>
          <div>
            <label for="term-pass">Password</label>
            <input id="term-pass" name="password" type="password" autocomplete="off" />
          </div>
          <button type="submit">Log in</button>
        </form>
        <form id="term-prompt" class="term-login card" hidden autocomplete="off">
          <div class="fields"></div>
          <button type="submit">Send</button>
        </form>
        <div class="term-box" data-terminal={handle.id} aria-label="Terminal"></div>
        <p class="muted">
          Select to copy; paste with Ctrl+V (⌘V). The session is recorded (output only unless your
          tenant records input). <a href={`/sites/${device.siteId}`}>Back to the site</a>
        </p>
      </div>
    </Layout>
  );
}

/** Recordings the user may see: all of the tenant's for admins, their own for others. */
export async function visibleRecordings(
  store: Store,
  ctx: UiContext,
): Promise<Omit<TerminalRecording, "cast">[]> {
  const all = await store.listRecordings(ctx.principal.tenantId, { limit: 200 });
  return all.filter((r) => maySeeRecording(ctx.principal, r));
}

/** The list of recordings. */
export async function RecordingsPage(props: { ctx: UiContext; store: Store; now: number }) {
  const rows = await visibleRecordings(props.store, props.ctx);
  const names = await actorNames(props.store, rows);
  const devices = new Map<string, string>();
  for (const r of rows) {
    if (devices.has(r.deviceId)) continue;
    const dev = await props.store.getDevice(r.tenantId, r.deviceId);
    devices.set(r.deviceId, dev ? dev.label || dev.host : r.deviceId);
  }
  const admin = roleAtLeast(props.ctx.principal.role, "admin");
  const policy = policyView(await terminalPolicy(props.store, props.ctx.principal.tenantId));
  return (
    <Layout ctx={props.ctx} title="Terminal recordings" active="/audit">
      <h1>Terminal recordings</h1>
      {admin ? <PolicyForm policy={policy} /> : null}
      {rows.length
        ? (
          <Table head={["Ended", "Device", "Who", "Length", "Why it ended", "@actions"]}>
            {rows.map((r) => (
              <tr>
                <td>
                  <Ago at={r.endedAt} now={props.now} />
                </td>
                <td class="mono">
                  {devices.get(r.deviceId)}:{r.port}
                </td>
                <td>{names.get(r.actor) ?? <span class="mono">{r.actor}</span>}</td>
                <td>{Math.round((r.endedAt - r.startedAt) / 1000)} s</td>
                <td>{r.endReason}</td>
                <td>
                  <a href={`/recordings/${r.id}`}>Play</a>
                </td>
              </tr>
            ))}
          </Table>
        )
        : <Empty>No terminal sessions recorded yet.</Empty>}
    </Layout>
  );
}

const POLICY_FIELDS: [keyof ReturnType<typeof policyView>, string][] = [
  ["maxPerUser", "Sessions per user"],
  ["maxPerDevice", "Sessions per device"],
  ["idleTimeoutSeconds", "Idle timeout (s)"],
  ["maxSessionSeconds", "Maximum length (s)"],
  ["retentionDays", "Keep recordings (days)"],
];

/** The tenant's terminal policy, for admins to change. */
function PolicyForm(props: { policy: ReturnType<typeof policyView> }) {
  return (
    <details class="card">
      <summary>Terminal policy of this tenant</summary>
      <form data-api="PUT /api/terminal/policy" data-toast="Terminal policy saved">
        <div class="filters">
          {POLICY_FIELDS.map(([name, label]) => (
            <div>
              <label for={`tp-${name}`}>{label}</label>
              <input
                id={`tp-${name}`}
                name={name}
                type="number"
                min={1}
                data-type="int"
                value={String(props.policy[name])}
              />
            </div>
          ))}
        </div>
        <label>
          <input
            type="checkbox"
            name="recordInput"
            checked={props.policy.recordInput}
          />{" "}
          Record what operators type too (passwords typed at prompts would be kept)
        </label>
        <button type="submit">Save policy</button>
      </form>
    </details>
  );
}

/** The player of one recording. */
export function RecordingPage(
  props: { ctx: UiContext; rec: Omit<TerminalRecording, "cast">; deviceName: string | null },
) {
  const { rec } = props;
  return (
    <Layout
      ctx={props.ctx}
      title="Recording"
      active="/audit"
      head={TERMINAL_HEAD("/ui/player.js")}
    >
      <div class="term-page">
        <h1>
          Recording — {props.deviceName ?? rec.deviceId}:{rec.port}
        </h1>
        <p>
          {rec.actor}, <At at={rec.startedAt} />, ended: {rec.endReason}.{" "}
          <a href={`/api/recordings/${rec.id}`} download={`${rec.id}.cast`}>
            Download (asciicast v2)
          </a>
        </p>
        <p>
          <span id="term-status" role="status">loading…</span>
        </p>
        <div class="term-box" data-recording={rec.id} aria-label="Recorded terminal"></div>
      </div>
    </Layout>
  );
}
