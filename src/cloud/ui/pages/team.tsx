/**
 * Team (`/team`, admins): the tenant's users with role, state and last sign-in; invite someone
 * (the one-time link that sets their password is shown once), change a role, disable or enable,
 * hand out a password-reset link. Every action is a call to `/api/users` (team.ts).
 * @module
 */
import type { Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, Layout, Table } from "../layout.tsx";
import { lastSignIns, teamRow } from "../../api/team.ts";

const ROLES = ["viewer", "operator", "admin", "superadmin"] as const;

/** The page. */
export async function TeamPage(props: { ctx: UiContext; store: Store; now: number }) {
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
        data-then="secret:inviteUrl:Invite link (send it to the new user)"
        aria-label="Invite a user"
      >
        <div>
          <label for="invite-email">Email</label>
          <input id="invite-email" name="email" type="email" required maxlength={254} />
        </div>
        <div>
          <label for="invite-role">Role</label>
          <select id="invite-role" name="role">
            {roles.map((r) => <option value={r} selected={r === "operator"}>{r}</option>)}
          </select>
        </div>
        <button type="submit">Invite</button>
      </form>
      <p class="muted">
        The invite is a one-time link (7 days) that lets the user set a password. Disabling a user
        ends their sessions, API tokens and open tunnels within a second.
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
                      {roles.map((r) => <option value={r} selected={r === u.role}>{r}</option>)}
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
                      data-then="secret:inviteUrl:Password link (send it to the user)"
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
    </Layout>
  );
}
