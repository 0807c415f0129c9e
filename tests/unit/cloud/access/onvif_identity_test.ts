import { assertEquals } from "../../../_fixtures/assert.ts";
import { deviceIdentityOf } from "../../../../src/cloud/access/onvif_identity.ts";

Deno.test("deviceIdentityOf: maker, model and firmware on one line each, cut at 64 characters; nothing named is null", () => {
  assertEquals(
    deviceIdentityOf(
      `<tds:GetDeviceInformationResponse><tds:Manufacturer>HIKVISION</tds:Manufacturer>` +
        `<tds:Model> DS-2CD2143G2-I </tds:Model><tds:FirmwareVersion>V5.7.3\r\nbuild 220112` +
        `</tds:FirmwareVersion><tds:SerialNumber>X</tds:SerialNumber>` +
        `</tds:GetDeviceInformationResponse>`,
    ),
    { manufacturer: "HIKVISION", model: "DS-2CD2143G2-I", firmware: "V5.7.3 build 220112" },
  );
  assertEquals(
    deviceIdentityOf(`<Model>${"M".repeat(100)}</Model><Manufacturer>A&amp;B</Manufacturer>`),
    { manufacturer: "A&B", model: "M".repeat(64), firmware: "" },
  );
  assertEquals(deviceIdentityOf("<tds:GetDeviceInformationResponse/>"), null);
  assertEquals(deviceIdentityOf(""), null);
});
