/**
 * Team (`/team`, admins): the tenant's users with role, state and last sign-in; invite someone
 * (the one-time link that sets their password is shown once), change a role, disable or enable,
 * hand out a password-reset link (both also emailed with the cloud's mail server). Every action is
 * a call to `/api/users` (team.ts).
 * @module
 */
import type { Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, Layout, Table } from "../layout.tsx";
import { lastSignIns, teamRow } from "../../api/team.ts";

const ROLES = ["viewer", "operator", "admin", "superadmin"] as const;

/** The page. */
export async function TeamPage(
  props: { ctx: UiContext; store: Store; now: number; mail?: boolean },
) {
  const { ctx, store } = props;
  const t = ctx.principal.tenantId;
  const last = await lastSignIns(store, t);
  const rows = (await store.listUsers(t)).map((u) => teamRow(u, last));
  const roles = ROLES.filter((r) => r !== "superadmin" || ctx.user.role === "superadmin");
  return (
    <Layout ctx={ctx} title="Team" active="/team">
      <h1>Team</h1>
      <form
        class="card inline"
        data-api="POST /api/users"
        data-then={props.mail
          ? "secret:inviteUrl:Invite link (also emailed to the new user)"
          : "secret:inviteUrl:Invite link (send it to the new user)"}
        aria-label="Invite a user"
      >
        <div>
          <label for="invite-email">Email</label>
          <input id="invite-email" name="email" type="email" required maxlength={254} />
        </div>
        <div>
          <label for="invite-role">Role</label>
          <select id="invite-role" name="role">
            {roles.map((r) => <option key={r} value={r} selected={r === "operator"}>{r}</option>)}
          </select>
        </div>
        <button type="submit">Invite</button>
      </form>
      <p class="muted">
        The invite is a one-time link (7 days) that lets the user set a password
        {props.mail ? "; it goes to their email address too" : ""}. Disabling a user ends their
        sessions, API tokens and open tunnels within a second.
      </p>
      <Table head={["User", "Role", "State", "Last sign-in", "@actions"]}>
        {rows.map((u) => {
          const self = u.id === ctx.user.id;
          const locked = self || (u.role === "superadmin" && ctx.user.role !== "superadmin");
          return (
            <tr data-user={u.email}>
              <td>
                {u.email}
                {self ? <span class="muted">(you)</span> : null}
              </td>
              <td>
                {locked ? u.role : (
                  <form
                    class="inline"
                    data-api={`PATCH /api/users/${u.id}`}
                    data-toast="Role saved"
                  >
                    <select name="role" aria-label={`Role of ${u.email}`}>
                      {roles.map((r) => (
                        <option key={r} value={r} selected={r === u.role}>{r}</option>
                      ))}
                    </select>
                    <button type="submit" class="small secondary">Save</button>
                  </form>
                )}
              </td>
              <td>
                {u.disabled ? "disabled" : u.canSignIn ? "active" : "invited (no password yet)"}
              </td>
              <td>
                <Ago at={u.lastSignInAt} now={props.now} />
              </td>
              <td>
                {locked ? null : (
                  <div class="inline">
                    <button
                      type="button"
                      class="small secondary"
                      data-api={`POST /api/users/${u.id}/password-link`}
                      data-then={props.mail
                        ? "secret:inviteUrl:Password link (also emailed to the user)"
                        : "secret:inviteUrl:Password link (send it to the user)"}
                    >
                      Reset password
                    </button>
                    <button
                      type="button"
                      class={u.disabled ? "small secondary" : "small danger"}
                      data-api={`PATCH /api/users/${u.id}`}
                      data-body={JSON.stringify({ disabled: !u.disabled })}
                      data-confirm={u.disabled
                        ? `Enable ${u.email}?`
                        : `Disable ${u.email}? Their sessions, API tokens and open tunnels end now.`}
                      data-toast={u.disabled ? "User enabled" : "User disabled"}
                    >
                      {u.disabled ? "Enable" : "Disable"}
                    </button>
                  </div>
                )}
              </td>
            </tr>
          );
        })}
      </Table>
      {await ApiKeys({ ctx, store, now: props.now })}
    </Layout>
  );
}

/** Partner API keys (`nk_…`): the external console of a partner mints CLI sessions with one. */
async function ApiKeys(props: { ctx: UiContext; store: Store; now: number }) {
  const t = props.ctx.principal.tenantId;
  const keys = (await props.store.listApiKeys(t)).filter((k) => k.revokedAt === null);
  const sessions = new Map<string, number>();
  for (const k of keys) {
    const live = (await props.store.listCliSessions(t, { issuerRef: k.id }))
      .filter((s) => s.revokedAt === null && s.expiresAt > props.now);
    sessions.set(k.id, live.length);
  }
  return (
    <>
      <h2 id="keys-h">Partner API keys</h2>
      <p class="muted">
        A partner's console uses a key (<code>X-API-Key: nk_…</code>) to mint CLI sessions for its
        operators (<code>POST /api/v1/sessions</code>). Revoking a key revokes every session it
        minted.
      </p>
      <form
        class="card inline"
        data-api="POST /api/api-keys"
        data-then="secret:key:Your new partner API key"
        aria-labelledby="keys-h"
      >
        <div>
          <label for="key-name">Name</label>
          <input id="key-name" name="name" required maxlength={100} placeholder="Partner VMS" />
        </div>
        <div>
          <label for="key-cidr">Allowed addresses (CIDR, optional)</label>
          <input id="key-cidr" name="allowed_cidr" maxlength={64} placeholder="198.51.100.0/24" />
        </div>
        <button type="submit">Create key</button>
      </form>
      {keys.length
        ? (
          <Table head={["Key", "Allowed from", "Created", "Live sessions", "@actions"]}>
            {keys.map((k) => (
              <tr data-key={k.name}>
                <td>{k.name}</td>
                <td class="mono">{k.allowedCidr ?? "anywhere"}</td>
                <td>
                  <Ago at={k.createdAt} now={props.now} />
                </td>
                <td>{sessions.get(k.id) ?? 0}</td>
                <td>
                  <button
                    type="button"
                    class="small danger"
                    data-api={`DELETE /api/api-keys/${k.id}`}
                    data-confirm={`Revoke partner key "${k.name}" and its ${
                      sessions.get(k.id) ?? 0
                    } live CLI session(s)? Their tunnels close at once.`}
                    data-toast="Key and its sessions revoked"
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )
        : <p class="muted">No partner keys.</p>}
    </>
  );
}
