/**
 * Discover (`/discover`): pick a site, "Run discovery" (the site's agent sends an ONVIF
 * WS-Discovery probe on its LAN), tick the cameras found, "+ Add selected" — with the same bulk
 * add form as the site page below for cameras that do not answer ONVIF.
 * @module
 */
import type { Store } from "../../store/store.ts";
import type { UiContext } from "../context.ts";
import { BulkAddFields, Empty, Layout, SiteSelect } from "../layout.tsx";
import { sitePicker } from "./data.ts";

/** The page. */
export async function DiscoverPage(
  props: { ctx: UiContext; store: Store; siteId: string | undefined },
) {
  const picker = await sitePicker(props.store, props.ctx.principal.tenantId, props.siteId, true);
  return (
    <Layout ctx={props.ctx} title="Discover" active="/discover">
      <h1>Discover cameras</h1>
      {picker.total === 0
        ? (
          <Empty>
            No sites yet — <a href="/sites">create a site</a> and install its agent first.
          </Empty>
        )
        : (
          <>
            <form
              class="card inline"
              id="discovery-form"
              data-api="POST /api/sites/{site}/discovery"
              data-then="call:ncDiscovery"
              data-toast="Discovery finished"
              aria-label="Run discovery"
            >
              <div>
                <label for="disc-site">Site</label>
                <SiteSelect id="disc-site" name="site" picker={picker} />
              </div>
              <button type="submit">Run discovery</button>
              <span class="muted">The site's agent listens for answers for about 3 seconds.</span>
            </form>
            <div id="discovery-results" aria-live="polite"></div>
            <form
              class="card"
              data-api="POST /api/sites/{site}/devices/bulk"
              data-toast="{message}"
              data-then="redirect:/sites/{siteId}"
              aria-labelledby="bulk-h"
            >
              <h2 id="bulk-h" style="margin-top:0">Add by address</h2>
              <div class="inline">
                <div>
                  <label for="bulk-site">Site</label>
                  <SiteSelect id="bulk-site" name="site" picker={picker} />
                </div>
                <BulkAddFields rangeHint="192.0.2.10-20" />
              </div>
            </form>
          </>
        )}
    </Layout>
  );
}
