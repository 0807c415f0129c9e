/**
 * Licenses (`/licenses`, read-only for superadmins: the licensing application manages them) and
 * Download (`/download`: the agent and CLI executables per OS with their SHA-256, or a clear note
 * when this cloud was not built with them).
 * @module
 */
import type { Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { Ago, Empty, Layout, Table } from "../layout.tsx";
import { listDownloads } from "../../downloads.ts";
import { downloadPath } from "../../api/downloads.ts";

/** Licenses. */
export async function LicensesPage(props: { ctx: UiContext; store: Store; now: number }) {
  const items = await props.store.listLicenses(props.ctx.principal.tenantId);
  return (
    <Layout ctx={props.ctx} title="Licenses" active="/licenses">
      <h1>Licenses</h1>
      <p class="muted">
        Licenses are issued by the licensing application through the admin API; this list is
        read-only. The GUID itself is never stored, only its hash.
      </p>
      {items.length
        ? (
          <Table head={["License", "Created", "State"]}>
            {items.map((l) => (
              <tr>
                <td class="mono">{l.id}</td>
                <td>
                  <Ago at={l.createdAt} now={props.now} />
                </td>
                <td>{l.revokedAt ? "revoked" : "active"}</td>
              </tr>
            ))}
          </Table>
        )
        : <Empty>No licenses in this tenant.</Empty>}
    </Layout>
  );
}

const OS_NAMES: Record<string, string> = { linux: "Linux", darwin: "macOS", windows: "Windows" };

/** Download. */
export async function DownloadPage(props: { ctx: UiContext; downloadsDir: string }) {
  const files = await listDownloads(props.downloadsDir);
  const section = (kind: "agent" | "tunnel", title: string, note: string) => {
    const list = files.filter((f) => f.kind === kind);
    return (
      <section class="card">
        <h2 style="margin-top:0">{title}</h2>
        <p class="muted">{note}</p>
        {list.length
          ? (
            <Table head={["System", "File", "Size", "SHA-256"]}>
              {list.map((f) => (
                <tr>
                  <td>{OS_NAMES[f.os] ?? f.os} {f.arch}</td>
                  <td>
                    <a href={downloadPath(f.kind, f)} download>{f.name}</a>
                  </td>
                  <td>{(f.size / 1048576).toFixed(1)} MiB</td>
                  <td class="mono">{f.sha256}</td>
                </tr>
              ))}
            </Table>
          )
          : (
            <Empty>
              This cloud has no compiled executables. Build them with <code>deno task compile</code>
              {" "}
              and place them in the cloud's downloads directory (<code>--downloads-dir</code>).
            </Empty>
          )}
      </section>
    );
  };
  return (
    <Layout ctx={props.ctx} title="Download" active="/download">
      <h1>Download</h1>
      {section(
        "tunnel",
        "nanodems-tunnel (operators)",
        "One executable: run the command from “Open CLI session” on a site page.",
      )}
      {section(
        "agent",
        "Agent (site PCs)",
        "Usually installed by the site's installer, which verifies the same checksum.",
      )}
    </Layout>
  );
}
