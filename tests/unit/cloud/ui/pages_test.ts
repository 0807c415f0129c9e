import { assertEquals } from "../../../_fixtures/assert.ts";
import { auditCsv } from "../../../../src/cloud/ui/pages/audit.tsx";
import { eventsCsv } from "../../../../src/cloud/ui/pages/events.tsx";
import {
  defaultProtocol,
  normalizeProtocols,
  normalizeStreamPaths,
  protocolOf,
} from "../../../../src/cloud/store/port_protocols.ts";

Deno.test("audit CSV: quoted cells, formulas neutralized", () => {
  const csv = auditCsv([{
    seq: 7,
    tenantId: "t",
    at: Date.UTC(2026, 10, 23, 12),
    actor: '=HYPERLINK("http://evil")',
    action: "site.create",
    target: "site-1",
    detail: { name: "a,b" },
  }]);
  assertEquals(
    csv,
    "seq,at,actor,action,target,detail\r\n" +
      `7,2026-11-23T12:00:00.000Z,"'=HYPERLINK(""http://evil"")",site.create,site-1,"{""name"":""a,b""}"\r\n`,
  );
});

Deno.test("port protocols: defaults from the number, chosen ones kept, maps follow the ports", () => {
  assertEquals(
    [80, 8080, 443, 8443, 554, 8554, 22, 23, 8000, 37777].map(defaultProtocol),
    ["http", "http", "https", "https", "rtsp", "rtsp", "ssh", "tcp", "tcp", "tcp"],
  );
  assertEquals(normalizeProtocols([80, 9000], { 9000: "http" }), { 80: "http", 9000: "http" });
  // A kept port keeps its protocol, a new port gets its default, a removed one is dropped.
  assertEquals(normalizeProtocols([9000, 554], undefined, { 9000: "http", 80: "http" }), {
    554: "rtsp",
    9000: "http",
  });
  assertEquals(protocolOf({ protocols: { 554: "tcp" } }, 554), "tcp");
  assertEquals(protocolOf({}, 554), "rtsp");
  assertEquals(normalizeStreamPaths([554], { 554: "" }, { 554: "/live" }), {});
  assertEquals(normalizeStreamPaths([554], { 8554: "/x" }, { 554: "/live" }), { 554: "/live" });
});

Deno.test("events CSV: the page's words, the subject's ids, formulas neutralized, read per reader", () => {
  const csv = eventsCsv([{
    seq: 9,
    tenantId: "t",
    type: "camera.input",
    at: Date.UTC(2026, 11, 5, 14),
    subject: { name: "=cmd|' /C calc'!A0", siteName: "Depot, north", host: "127.0.0.5", port: 80 },
    actor: "system",
    detail: { input: "Door", error: "line\nbreak" },
    readAt: null,
  }]);
  assertEquals(
    csv,
    "seq,at,type,event,subject,site,host,port,error,actor,read\r\n" +
      `9,2026-12-05T14:00:00.000Z,camera.input,Camera alarm input (Door),'=cmd|' /C calc'!A0,` +
      `"Depot, north",127.0.0.5,80,"line\nbreak",system,no\r\n`,
  );
});
