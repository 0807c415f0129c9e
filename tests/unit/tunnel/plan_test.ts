// The table `nanodems-tunnel run` and `status` print: each pair with its site and device, and
// what to paste to use it — the URL for a browser or a player (with the camera's stream path
// when the cloud knows it), the ssh command — aligned; nothing for plain TCP or an older cloud.
import { assertEquals } from "../../_fixtures/assert.ts";
import { planTable, useOf } from "../../../src/tunnel/plan.ts";
import type { PlanEntry } from "../../../src/shared/protocol/plan.ts";

const entry = (ip: string, port: number, device: string, extra: Partial<PlanEntry> = {}) => ({
  ip,
  port,
  siteId: "s-1",
  site: "HQ",
  deviceId: "dev-1",
  device,
  ...extra,
});

Deno.test("plan table: what to paste, by the port's protocol", () => {
  assertEquals(useOf(entry("127.0.0.5", 80, "Cam", { protocol: "http" })), "http://127.0.0.5/");
  assertEquals(
    useOf(entry("127.0.0.5", 8443, "Cam", { protocol: "https" })),
    "https://127.0.0.5:8443/",
  );
  assertEquals(
    useOf(entry("127.0.0.5", 554, "Cam", { protocol: "rtsp", path: "/cam/realmonitor?channel=1" })),
    "rtsp://127.0.0.5/cam/realmonitor?channel=1",
  );
  assertEquals(
    useOf(entry("127.0.0.5", 8554, "Cam", { protocol: "rtsp", path: "/101", subPath: "/102" })),
    "rtsp://127.0.0.5:8554/101  (sub-stream rtsp://127.0.0.5:8554/102)",
  );
  assertEquals(
    useOf(entry("127.0.0.5", 8554, "Cam", { protocol: "rtsp" })),
    "rtsp://127.0.0.5:8554/<stream path>",
  );
  assertEquals(useOf(entry("127.0.0.6", 22, "Gw", { protocol: "ssh" })), "ssh <user>@127.0.0.6");
  assertEquals(
    useOf(entry("127.0.0.6", 2222, "Gw", { protocol: "ssh" })),
    "ssh -p 2222 <user>@127.0.0.6",
  );
  assertEquals(useOf(entry("127.0.0.6", 9000, "Gw", { protocol: "tcp" })), "");
  assertEquals(useOf(entry("127.0.0.6", 80, "Gw")), "", "an older cloud says no protocol");
});

Deno.test("plan table: columns aligned; a pair with nothing to paste ends at its device", () => {
  assertEquals(
    planTable([
      entry("127.0.0.5", 80, "Front door", { protocol: "http" }),
      entry("127.0.0.5", 554, "Front door", { protocol: "rtsp", path: "/Streaming/Channels/101" }),
      entry("127.0.0.10", 9000, "PLC", { protocol: "tcp" }),
    ]),
    [
      "  127.0.0.5:80     →  HQ / Front door  http://127.0.0.5/",
      "  127.0.0.5:554    →  HQ / Front door  rtsp://127.0.0.5/Streaming/Channels/101",
      "  127.0.0.10:9000  →  HQ / PLC",
    ].join("\n"),
  );
  assertEquals(planTable([]), "  (no devices in this session's sites yet)");
});

Deno.test("plan table: a name with a terminal escape sequence is shown, not obeyed", () => {
  const table = planTable([
    entry("127.0.0.5", 80, "Cam\u001b]0;pwned\u0007\u001b[2J", { protocol: "http" }),
  ]);
  assertEquals(table, "  127.0.0.5:80  →  HQ / Cam?]0;pwned??[2J  http://127.0.0.5/");
});
