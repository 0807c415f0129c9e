// The embedded database's disk fills up under a running cloud. Writes are answered 503 with the
// catalogue's words (not a 500 and a stack trace per request), reads go on, the log says what
// the database said, and once there is room again the same process writes — no restart — and
// the retried requests complete what the refused ones began, every device whole. The disk is the file-size limit (RLIMIT_FSIZE, set with
// prlimit: mounting a small file system needs root): the kernel refuses to grow any file past it,
// and with SIGXFSZ ignored (inherited through exec) that is a failed write, as ENOSPC is.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { fullDiskAt } from "../_fixtures/full_disk.ts";

/** Room for the fresh database and its WAL, not for a thousand more devices. */
const FILE_LIMIT = 1_500_000;

Deno.test("the embedded database's disk fills up: 503s and a warning with the cause, then writes again", async () => {
  const stack = await Stack.start({
    cloudPrefix: fullDiskAt(FILE_LIMIT),
  });
  try {
    const q = await stack.quickstart([80]);
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    };
    const devices = async () =>
      (await call("GET", `/api/sites/${q.siteId}/devices?limit=1`)).json.total as number;
    const before = await devices();
    // 1,024 devices with their handles in one transaction: more than the files may grow.
    const bulk = (i: number) =>
      call("POST", `/api/sites/${q.siteId}/devices/bulk`, {
        range: `127.${i + 10}.0.0/22`,
        protocols: ["rtsp", "http"],
      });
    for (const i of [0, 1, 2]) {
      const full = await bulk(i);
      assertEquals(full.status, 503, JSON.stringify(full.json).slice(0, 200));
      assertEquals(full.json, {
        error: "store_unavailable",
        message: "the cloud cannot reach its database; try again shortly",
      });
    }
    const during = await devices(); // reads go on

    const lines = stack.cloud.lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
    const told = lines.filter((l) => l.msg === "store unavailable");
    assert(told.length >= 1 && told.length < 3, `folded warnings: ${told.length}`);
    assert(
      /database or disk is full|disk I\/O error/.test(String(told[0].cause)),
      JSON.stringify(told[0]),
    );
    assert(!lines.some((l) => l.stack !== undefined), "no stack trace in the log");

    // Room again (the limit lifted on the running process): the same requests go through. A
    // bulk add writes its devices all or none; their handles are minted after, each on its own,
    // so a batch refused while minting them had added its devices: those are reported as
    // already there (their handles minted when listed), and the retry adds the rest.
    const lift = await new Deno.Command("prlimit", {
      args: ["--pid", String(stack.cloud.child.pid), "--fsize=unlimited:unlimited"],
    }).output();
    assertEquals(lift.code, 0, new TextDecoder().decode(lift.stderr));
    let hosts = 0;
    let skipped = 0;
    for (const i of [0, 1, 2]) {
      const again = await bulk(i);
      assertEquals(again.status, 201, JSON.stringify(again.json).slice(0, 200));
      hosts += (again.json.created as unknown[]).length + (again.json.skipped as number);
      skipped += again.json.skipped as number;
    }
    assertEquals(skipped, during - before, "the devices a refused batch had added");
    assertEquals(await devices(), before + hosts);
    assert(hosts >= 3 * 1022, String(hosts));
    // Every device is whole: both ports have their handle.
    const page = await call("GET", `/api/sites/${q.siteId}/devices?limit=200`);
    const added = (page.json.items as { host: string; handles: Record<string, string> }[])
      .filter((d) => /^127\.1[012]\./.test(d.host));
    assert(added.length > 100, `${added.length} devices on the page`);
    for (const d of added) assertEquals(Object.keys(d.handles).sort(), ["554", "80"], d.host);
  } finally {
    await stack.stop();
  }
});
