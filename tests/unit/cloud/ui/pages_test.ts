import { assertEquals } from "../../../_fixtures/assert.ts";
import { auditCsv } from "../../../../src/cloud/ui/pages/audit.tsx";
import { portKind } from "../../../../src/cloud/ui/layout.tsx";

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

Deno.test("port pills: RTSP, plain TCP services, web pages", () => {
  assertEquals(portKind(554), "rtsp");
  assertEquals(portKind(22), "ssh");
  assertEquals(portKind(23), "other");
  assertEquals(portKind(37777), "other");
  assertEquals(portKind(80), "http");
  assertEquals(portKind(8443), "http");
  assertEquals(portKind(45507), "http");
});
