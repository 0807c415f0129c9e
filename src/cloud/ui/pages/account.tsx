/**
 * Account → CLI tokens (`/account/tokens`): create an API token (`nt_…`, shown once), list
 * yours, revoke. The token text exists only in the one-shot dialog; the store keeps a hash.
 * @module
 */
import type { Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, Empty, Layout, Table } from "../layout.tsx";
import { roleAtLeast } from "../../tenancy/roles.ts";

/** The page. */
export async function TokensPage(props: { ctx: UiContext; store: Store; now: number }) {
  const { ctx } = props;
  const tokens = (await props.store.listApiTokens(ctx.principal.tenantId, ctx.user.id))
    .filter((t) => t.revokedAt === null);
  const allowed = roleAtLeast(ctx.principal.role, "operator");
  return (
    <Layout ctx={ctx} title="API tokens" active="/account/tokens">
      <h1>Account</h1>
      <p>
        Signed in as <strong>{ctx.user.email}</strong> ({ctx.user.role}) in{" "}
        {ctx.tenant?.name ?? ctx.principal.tenantId}.
      </p>
      <h2>API tokens</h2>
      <p class="muted">
        An API token (<code>nt_…</code>) lets tools use the tunnel API as you:{" "}
        <code>Authorization: Bearer nt_…</code> on <code>/api/tunnel/&#123;handle&#125;</code>.
      </p>
      {allowed
        ? (
          <form
            class="card inline"
            data-api="POST /api/account/tokens"
            data-then="secret:token:Your new API token"
            aria-label="New API token"
          >
            <div>
              <label for="token-name">Token name</label>
              <input
                id="token-name"
                name="name"
                required
                maxlength={100}
                placeholder="NVR import"
              />
            </div>
            <button type="submit">Create token</button>
          </form>
        )
        : <p class="muted">Viewers cannot create API tokens.</p>}
      {tokens.length
        ? (
          <Table head={["Name", "Created", "Last used", "@actions"]}>
            {tokens.map((t) => (
              <tr>
                <td>{t.name}</td>
                <td>
                  <Ago at={t.createdAt} now={props.now} />
                </td>
                <td>
                  <Ago at={t.lastUsedAt} now={props.now} />
                </td>
                <td>
                  <button
                    type="button"
                    class="small danger"
                    data-api={`DELETE /api/account/tokens/${t.hash}`}
                    data-confirm={`Revoke the token "${t.name}"? Tools using it stop at once.`}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )
        : <Empty>No API tokens yet.</Empty>}
    </Layout>
  );
}
