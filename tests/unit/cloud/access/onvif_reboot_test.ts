import { assertEquals } from "../../../_fixtures/assert.ts";
import { rebootMessageOf } from "../../../../src/cloud/access/onvif_reboot.ts";

Deno.test("rebootMessageOf: the camera's words on one line, entities decoded, cut at 200 characters; none is empty", () => {
  const answer = (message: string) =>
    `<tds:SystemRebootResponse><tds:Message>${message}</tds:Message></tds:SystemRebootResponse>`;
  assertEquals(rebootMessageOf(answer("Rebooting in 30 seconds")), "Rebooting in 30 seconds");
  assertEquals(
    rebootMessageOf(answer("  System\r\nwill reboot &amp; be back\t soon ")),
    "System will reboot & be back soon",
  );
  const long = rebootMessageOf(answer("x".repeat(500)));
  assertEquals(long.length, 200);
  assertEquals(long.at(-1), "…");
  assertEquals(rebootMessageOf("<tds:SystemRebootResponse/>"), "");
});
