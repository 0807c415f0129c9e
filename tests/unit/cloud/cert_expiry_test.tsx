/**
 * Where agent certificates stand: the soonest expiry across agents (for the /metrics gauge), the
 * console warning for each certificate expiring within 7 days, and the Agents page's cell (days
 * left, flagged within 7 days, which CA issued it). Real SQLite store, manual clock.
 */
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { ManualClock } from "../../../src/shared/clock.ts";
import { createLogger } from "../../../src/shared/log.ts";
import { openSqliteStore } from "../../../src/cloud/store/sqlite.ts";
import { minAgentCertExpiry, warnExpiringAgentCerts } from "../../../src/cloud/cert_expiry.ts";
import { registerAgent } from "../../_fixtures/store_agents.ts";
import { CertCell } from "../../../src/cloud/ui/pages/agents.tsx";

const DAY = 86_400_000;

Deno.test("agent certificate expiry: min for metrics, a warning within 7 days, the page's cell", async () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const store = await openSqliteStore({ path: ":memory:", clock });
  const logFile = await Deno.makeTempFile();
  try {
    assertEquals(await minAgentCertExpiry(store), null);
    const t = await store.createTenant({ name: "T" });
    const site = await store.createSite({ tenantId: t.id, name: "S" });
    for (const [id, days] of [["ag-soon", 3], ["ag-fine", 25]] as const) {
      await registerAgent(store, clock, { tenantId: t.id, siteId: site.id }, {
        id,
        hostname: id,
        certSerial: "01",
        certNotAfter: clock.now() + days * DAY,
        certCa: "sha256:current",
      });
    }
    assertEquals(await minAgentCertExpiry(store), clock.now() + 3 * DAY);

    const log = createLogger({ role: "test", format: "json", file: logFile });
    assertEquals(await warnExpiringAgentCerts({ store, clock, log }), 1);
    await new Promise((r) => setTimeout(r, 50));
    const lines = (await Deno.readTextFile(logFile)).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.length, 1);
    assertEquals(lines[0].agent, "ag-soon");
    assertEquals(lines[0].level, 40);
    assert(String(lines[0].msg).includes("expires within 7 days"));

    const soon = (await store.getAgent("ag-soon"))!;
    const cell = String(<CertCell agent={soon} caPin="sha256:current" now={clock.now()} />);
    assert(cell.includes("3 d left"), cell);
    assert(cell.includes("cert-warn"), cell);
    assert(cell.includes("current CA"), cell);
    const fine = (await store.getAgent("ag-fine"))!;
    const other = String(<CertCell agent={fine} caPin="sha256:rotated" now={clock.now()} />);
    assert(other.includes("25 d left") && !other.includes("cert-warn"), other);
    assert(!other.includes("current CA"), other);
  } finally {
    await store.close();
    await Deno.remove(logFile);
  }
});
