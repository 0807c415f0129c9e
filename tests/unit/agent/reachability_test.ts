// The agent's reachability monitor: only allowlisted pairs are probed, only changes are sent,
// the whole view goes out once on attach, the concurrency bound holds, the jitter stays in ±20 %.
import assert from "node:assert/strict";
import { Allowlist } from "../../../src/agent/allowlist.ts";
import {
  boundedEach,
  jittered,
  ReachabilityMonitor,
  REPORT_CHUNK,
  roundConcurrency,
} from "../../../src/agent/reachability.ts";
import type { ReachabilityReport } from "../../../src/shared/protocol/control.ts";

function setup(down: Set<string>) {
  const allowlist = new Allowlist();
  allowlist.update(1, [{ host: "127.0.0.5", port: 554 }, { host: "127.0.0.6", port: 80 }]);
  const probed: string[] = [];
  const monitor = new ReachabilityMonitor({
    allowlist,
    probe: (host, port) => {
      probed.push(`${host}:${port}`);
      return down.has(`${host}:${port}`)
        ? Promise.reject(new Error("connection refused"))
        : Promise.resolve();
    },
    now: () => 1000,
  });
  const sent: ReachabilityReport[] = [];
  return { allowlist, monitor, probed, sent };
}

Deno.test("reachability: only changes are sent; nothing when nothing changed", async () => {
  const down = new Set<string>();
  const { monitor, probed, sent } = setup(down);
  monitor.attach((r) => sent.push(r));
  assert.equal(sent.length, 0, "nothing known yet: no full report");
  await monitor.checkOnce();
  assert.deepEqual(probed.sort(), ["127.0.0.5:554", "127.0.0.6:80"]);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].ports.length, 2);
  assert.ok(sent[0].ports.every((p) => p.up));
  await monitor.checkOnce();
  assert.equal(sent.length, 1, "no change, no traffic");
  down.add("127.0.0.5:554");
  await monitor.checkOnce();
  await monitor.checkOnce();
  assert.equal(sent.length, 2, "one report for one flip (debounced)");
  assert.deepEqual(sent[1].ports.map((p) => [p.host, p.port, p.up, p.error]), [
    ["127.0.0.5", 554, false, "connection refused"],
  ]);
  assert.equal(sent[1].full, false);
});

Deno.test("reachability: the view goes out whole on attach; a removed pair is forgotten and not probed", async () => {
  const { allowlist, monitor, probed, sent } = setup(new Set(["127.0.0.6:80"]));
  await monitor.checkOnce();
  monitor.attach((r) => sent.push(r));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].full, true);
  assert.equal(sent[0].ports.length, 2);
  allowlist.update(2, [{ host: "127.0.0.5", port: 554 }]);
  probed.length = 0;
  await monitor.checkOnce();
  assert.deepEqual(probed, ["127.0.0.5:554"]);
  assert.deepEqual(monitor.view().map((p) => p.port), [554]);
  monitor.detach();
});

Deno.test("reachability: at most `limit` probes in flight; the jitter stays within ±20 %", async () => {
  let inFlight = 0;
  let most = 0;
  await boundedEach(Array.from({ length: 40 }, (_, i) => i), 8, async () => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, 1));
    inFlight--;
  });
  assert.equal(most, 8);
  assert.equal(jittered(60_000, () => 0), 48_000);
  assert.equal(jittered(60_000, () => 0.999999), 72_000);
  assert.equal(jittered(10, () => 0.5), 100, "never below 100 ms");
});

Deno.test("reachability: a site of 2 500 pairs is reported in messages of at most 1 000", async () => {
  const allowlist = new Allowlist();
  allowlist.update(
    1,
    Array.from({ length: 2_500 }, (_, i) => ({ host: `127.0.${i >> 8}.${i & 255}`, port: 554 })),
  );
  const monitor = new ReachabilityMonitor({
    allowlist,
    probe: (_h, port) => port ? Promise.resolve() : Promise.reject(new Error("refused")),
    concurrency: 64,
    now: () => 1000,
  });
  const sent: ReachabilityReport[] = [];
  monitor.attach((r) => sent.push(r));
  await monitor.checkOnce();
  assert.deepEqual(sent.map((r) => [r.ports.length, r.full]), [
    [REPORT_CHUNK, false],
    [REPORT_CHUNK, false],
    [500, false],
  ]);
  assert.equal(new Set(sent.flatMap((r) => r.ports.map((p) => p.host))).size, 2_500);
  // Reconnected: the whole view again, in the same chunks.
  sent.length = 0;
  monitor.detach();
  monitor.attach((r) => sent.push(r));
  assert.deepEqual(sent.map((r) => [r.ports.length, r.full]), [
    [REPORT_CHUNK, true],
    [REPORT_CHUNK, true],
    [500, true],
  ]);
});

Deno.test("reachability: a round's connects in flight grow with the site, from 8 to 64", async () => {
  assert.equal(roundConcurrency(10, 60_000, 3_000), 8, "a small site: 8");
  assert.equal(roundConcurrency(400, 60_000, 3_000), 20, "400 pairs that all time out: 60 s");
  assert.equal(roundConcurrency(20_000, 60_000, 3_000), 64, "never past 64");
  assert.equal(roundConcurrency(20_000, 0, 3_000), 64);
  // What a monitor does with a site of 1 000 pairs that each take a moment to answer.
  const allowlist = new Allowlist();
  allowlist.update(
    1,
    Array.from({ length: 1_000 }, (_, i) => ({ host: `127.0.${i >> 8}.${i & 255}`, port: 80 })),
  );
  let inFlight = 0;
  let most = 0;
  const monitor = new ReachabilityMonitor({
    allowlist,
    probe: async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
    },
  });
  await monitor.checkOnce();
  assert.equal(most, roundConcurrency(1_000, 60_000, 3_000));
  assert.equal(most, 50);
});
