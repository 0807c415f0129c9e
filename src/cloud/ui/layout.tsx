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
  { href: "/events", label: "Events" },
  { href: "/audit", label: "Audit log" },
  { href: "/team", label: "Team", min: "admin" },
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
                {n.href === "/events"
                  ? <span class="badge" data-unread hidden aria-live="polite"></span>
                  : null}
              </a>
            ))}
          </nav>
          <div class="who">
            {ctx.tenants.length
              ? (
                <label style="display:flex;gap:.4rem;align-items:center;margin:0;font-weight:400">
                  <select data-tenant-picker aria-label="Tenant" title="Tenant">
                    {ctx.tenants.map((t) => (
                      <option value={t.id} selected={t.id === ctx.principal.tenantId}>
                        {tenantLabel(t, ctx.tenants)}
                      </option>
                    ))}
                  </select>
                </label>
              )
              : <span>{ctx.tenant?.name}</span>}
            <span class="muted email" style="color:#d0d5dd" title={ctx.user.email}>
              {ctx.user.email}
            </span>
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
        <dialog id="confirm-dialog" aria-labelledby="confirm-title">
          <h2 id="confirm-title">Are you sure?</h2>
          <p id="confirm-text"></p>
          <div class="inline">
            <button type="button" class="danger" data-confirm-answer="yes">Confirm</button>
            <button type="button" class="secondary" data-confirm-answer="no">Cancel</button>
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

/**
 * A time as "12 s ago", the exact time on hover: the tooltip says it in UTC and app.js rewrites
 * it in the viewer's time zone (see {@linkcode At}).
 */
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
    <time datetime={new Date(props.at).toISOString()} title={utc(props.at)}>
      {text}
    </time>
  );
}

/** An agent's name cell: its host name, with its id below. */
export function AgentName(props: { hostname: string; id: string; label?: string }) {
  return (
    <td>
      {props.label || props.hostname || props.id}
      {props.label && props.hostname ? <div class="muted">{props.hostname}</div> : null}
      <div class="muted mono">{props.id}</div>
    </td>
  );
}

/** How port fields are written, shown beside them. */
export const PORTS_HELP =
  "Comma-separated, each with its protocol after a slash (http, https, rtsp, ssh or tcp), " +
  "e.g. 80/http, 554/rtsp, 9000/tcp. Without one a port gets its default: http for 80 and " +
  "8080, https for 443 and 8443, rtsp for 554 and 8554, ssh for 22, tcp for the others.";

/** The fields of "add devices by address": one IP, a range or a CIDR, and the ports. */
export function BulkAddFields(props: { rangeHint: string }) {
  return (
    <>
      <div>
        <label for="bulk-range">IP, range or CIDR</label>
        <input id="bulk-range" name="range" required placeholder={props.rangeHint} />
      </div>
      <div>
        <label for="bulk-ports">Ports (protocol after a slash)</label>
        <input
          id="bulk-ports"
          name="ports"
          data-type="port-list"
          data-protocols="portProtocols"
          value="80/http, 554/rtsp"
          title={PORTS_HELP}
        />
      </div>
      <button type="submit">+ Add</button>
    </>
  );
}

/** Online/offline with text, not colour alone. */
export function Status(props: { online: boolean; dataBlocked?: string | null }) {
  return (
    <>
      <span class={`status ${props.online ? "online" : "offline"}`}>
        {props.online ? "● online" : "○ offline"}
      </span>
      {props.online && props.dataBlocked
        ? (
          <div class="cert-warn data-blocked" title={props.dataBlocked}>
            ⚠ data channel blocked: no tunnel reaches this site ({props.dataBlocked}). Allow
            outbound TCP from the agent's PC to the cloud's data port.
          </div>
        )
        : null}
    </>
  );
}

/**
 * A data table: column headers (`"@actions"` for an unlabeled actions column) and rows. On a
 * narrow screen it scrolls sideways inside its container (focusable, so keyboards scroll it too)
 * while the actions column stays in view.
 */
export function Table(props: { head: string[]; label?: string; children?: Child }) {
  return (
    <div
      class="table-wrap"
      tabindex={0}
      role="region"
      aria-label={props.label ?? `${props.head[0]} table`}
    >
      <table class={props.head.at(-1) === "@actions" ? "with-actions" : undefined}>
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

/** A tenant's name in the picker, with the end of its id when another tenant has the same name. */
export function tenantLabel(t: { id: string; name: string }, all: { id: string; name: string }[]) {
  const twin = all.some((o) => o.id !== t.id && o.name === t.name);
  return twin ? `${t.name} (…${t.id.slice(-6)})` : t.name;
}

/** The buttons at the foot of a dialog's form: submit with `label`, and Cancel. */
export function DialogButtons(props: { label: string }) {
  return (
    <div class="inline" style="margin-top:1rem">
      <button type="submit">{props.label}</button>
      <button type="button" class="secondary" data-close>Cancel</button>
    </div>
  );
}

/**
 * The console's one absolute time format, `2026-12-01 15:04 UTC`: what the server renders (and a
 * browser without JavaScript shows); app.js shows the same format in the viewer's time zone
 * (`2026-12-02 00:04 GMT+9`).
 */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * An absolute time: `<time datetime="ISO">` in the console's format, localized in the viewer's
 * time zone by app.js (UTC without it).
 */
export function At(props: { at: number; class?: string }) {
  return (
    <time datetime={new Date(props.at).toISOString()} data-local class={props.class}>
      {utc(props.at)}
    </time>
  );
}

/**
 * Where a paged list stands: "Showing 101–200 of 5 000 (matching "q")" with Previous / Next
 * links, or `none` when a search matches nothing; nothing at all for one page and no search.
 */
export function PageRange(
  props: {
    id: string;
    /** The page shown (from 1), how many there are, and how many items match in all. */
    paged: { page: number; pages: number; total: number };
    perPage: number;
    shown: number;
    q: string;
    /** The sentence when a search matches nothing. */
    none: string;
    link: (page: number) => string;
  },
) {
  const { page, pages, total } = props.paged;
  if (pages <= 1 && !props.q) return null;
  const first = (page - 1) * props.perPage + 1;
  return (
    <p class="muted" id={props.id}>
      {total
        ? `Showing ${first}–${first + props.shown - 1} of ${total}${
          props.q ? ` matching "${props.q}"` : ""
        }`
        : props.none}
      {page > 1
        ? (
          <>
            · <a href={props.link(page - 1)}>← Previous</a>
          </>
        )
        : null}
      {page < pages
        ? (
          <>
            · <a href={props.link(page + 1)}>Next →</a>
          </>
        )
        : null}
    </p>
  );
}

/**
 * A site `<select>` over what `sitePicker` (pages/data.ts) offers: every site while there are
 * few; past that only the chosen one, with a search as you type beside it that fills the
 * options from the API (`data-site-options`, in the app module).
 */
export function SiteSelect(
  props: {
    id: string;
    name: string;
    picker: {
      sites: { id: string; name: string }[];
      total: number;
      chosen: { id: string } | null;
      searchable: boolean;
    };
    /** An "Any" option (value ""), chosen when no site is. */
    any?: boolean;
    /** The words of that option (default "Any"). */
    anyLabel?: string;
  },
) {
  const { sites, total, chosen, searchable } = props.picker;
  return (
    <>
      <select id={props.id} name={props.name}>
        {props.any ? <option value="">{props.anyLabel ?? "Any"}</option> : null}
        {sites.map((s) => (
          <option key={s.id} value={s.id} selected={s.id === chosen?.id}>{s.name}</option>
        ))}
      </select>
      {searchable
        ? (
          <input
            class="site-find"
            aria-label={`Find a site (of ${total})`}
            data-site-options={props.id}
            placeholder={`Find one of ${total} sites`}
            autocomplete="off"
            maxlength={200}
          />
        )
        : null}
    </>
  );
}

/** A GET search box for a list page (`?q=`), with "Show all" while a search is active. */
export function SearchBox(
  props: { action: string; q: string; label: string; placeholder: string; anchor?: string },
) {
  return (
    <form class="inline" method="get" action={props.action} role="search">
      <input
        name="q"
        aria-label={props.label}
        value={props.q}
        placeholder={props.placeholder}
        maxlength={200}
      />
      <button type="submit" class="secondary">Find</button>
      {props.q ? <a href={`${props.action}${props.anchor ?? ""}`}>Show all</a> : null}
    </form>
  );
}
