/**
 * The frame every UI page shares: navigation (the current page marked for screen readers too),
 * the tenant picker for superadmins and sign-out at the top right, a toast area, the one-shot
 * secret dialog, and a footer with the cloud's version. Plus the few components pages reuse
 * (empty states, relative times, port pills).
 * @module
 */
import type { Child } from "hono/jsx";
import { VERSION } from "../../shared/version.ts";
import type { UiContext } from "./context.ts";
import { roleAtLeast } from "../tenancy/roles.ts";

const NAV: { href: string; label: string; min?: "admin" | "superadmin" }[] = [
  { href: "/", label: "Dashboard" },
  { href: "/sites", label: "Sites" },
  { href: "/discover", label: "Discover", min: "admin" },
  { href: "/agents", label: "Agents" },
  { href: "/audit", label: "Audit log" },
  { href: "/account/tokens", label: "Account" },
  { href: "/licenses", label: "Licenses", min: "superadmin" },
  { href: "/download", label: "Download" },
];

/** The page frame. */
export function Layout(
  props: {
    ctx: UiContext;
    title: string;
    active: string;
    children?: Child;
    /** Extra stylesheets and modules of one page. */
    head?: Child;
  },
) {
  const { ctx } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="csrf-token" content={ctx.csrf} />
        <title>{props.title} — Nanodems Connector</title>
        <link rel="stylesheet" href="/ui/app.css" />
        <script type="module" src="/ui/app.js"></script>
        {props.head}
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">Nanodems Connector</a>
          <nav aria-label="Main">
            {NAV.filter((n) => !n.min || roleAtLeast(ctx.user.role, n.min)).map((n) => (
              <a href={n.href} aria-current={props.active === n.href ? "page" : undefined}>
                {n.label}
              </a>
            ))}
          </nav>
          <div class="who">
            {ctx.tenants.length
              ? (
                <label style="display:flex;gap:.4rem;align-items:center;margin:0;font-weight:400">
                  Tenant
                  <select data-tenant-picker aria-label="Tenant">
                    {ctx.tenants.map((t) => (
                      <option value={t.id} selected={t.id === ctx.principal.tenantId}>
                        {t.name}
                      </option>
                    ))}
                  </select>
                </label>
              )
              : <span>{ctx.tenant?.name}</span>}
            <span class="muted" style="color:#d0d5dd">{ctx.user.email}</span>
            <button
              type="button"
              class="small secondary"
              data-api="POST /api/auth/logout"
              data-then="redirect:/login"
            >
              Sign out
            </button>
          </div>
        </header>
        <main id="main">{props.children}</main>
        <footer class="foot">Nanodems Connector {VERSION}</footer>
        <div class="toasts" aria-live="polite"></div>
        <dialog id="secret-dialog" aria-labelledby="secret-title">
          <h2 id="secret-title">Copy this now</h2>
          <code class="secret" id="secret-text"></code>
          <p class="note muted"></p>
          <div class="inline">
            <button type="button" data-copy="secret-text">Copy</button>
            <button type="button" class="secondary" data-close>Done</button>
          </div>
        </dialog>
      </body>
    </html>
  );
}

/** "No X yet — do Y" with an optional action. */
export function Empty(props: { children?: Child }) {
  return <p class="empty">{props.children}</p>;
}

/** A time as "12 s ago" with the full date in a tooltip. */
export function Ago(props: { at: number | null; now: number }) {
  if (!props.at) return <span class="muted">never</span>;
  const s = Math.max(0, Math.round((props.now - props.at) / 1000));
  const text = s < 60
    ? `${s} s ago`
    : s < 3600
    ? `${Math.round(s / 60)} min ago`
    : s < 86400
    ? `${Math.round(s / 3600)} h ago`
    : `${Math.round(s / 86400)} d ago`;
  return (
    <time datetime={new Date(props.at).toISOString()} title={new Date(props.at).toISOString()}>
      {text}
    </time>
  );
}

/** An agent's name cell: its host name, with its id below. */
export function AgentName(props: { hostname: string; id: string }) {
  return (
    <td>
      {props.hostname || props.id}
      <div class="muted mono">{props.id}</div>
    </td>
  );
}

/** The fields of "add devices by address": one IP, a range or a CIDR, and the ports. */
export function BulkAddFields(props: { rangeHint: string }) {
  return (
    <>
      <div>
        <label for="bulk-range">IP, range or CIDR</label>
        <input id="bulk-range" name="range" required placeholder={props.rangeHint} />
      </div>
      <div>
        <label for="bulk-ports">Ports</label>
        <input id="bulk-ports" name="ports" data-type="int-list" value="80, 554" />
      </div>
      <button type="submit">+ Add</button>
    </>
  );
}

/** Online/offline with text, not colour alone. */
export function Status(props: { online: boolean }) {
  return (
    <span class={`status ${props.online ? "online" : "offline"}`}>
      {props.online ? "● online" : "○ offline"}
    </span>
  );
}

export { portKind } from "../access/port_kind.ts";

/** A data table: column headers (`"@actions"` for an unlabeled actions column) and rows. */
export function Table(props: { head: string[]; children?: Child }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            {props.head.map((h) => (
              <th scope="col">{h === "@actions" ? <span class="muted">Actions</span> : h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
