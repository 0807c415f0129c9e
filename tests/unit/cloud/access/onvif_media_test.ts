// The port a snapshot URI names (the picture is fetched there when it is allowlisted).
import { assertEquals } from "../../../_fixtures/assert.ts";
import { portOfUri } from "../../../../src/cloud/access/onvif_media.ts";

Deno.test("ONVIF: the port a snapshot URI names, else its scheme's; never from another scheme", () => {
  assertEquals(portOfUri("http://camera.invalid/onvif-http/snapshot?Profile_1"), 80);
  assertEquals(portOfUri("https://cam.invalid/snap.jpg"), 443);
  assertEquals(portOfUri("http://cam.invalid:8080/snap.jpg"), 8080);
  assertEquals(portOfUri("HTTP://[fe80::1]:8000?x"), 8000);
  assertEquals(portOfUri("http://user:pw@cam.invalid:81/a"), 81);
  assertEquals(portOfUri("http://cam.invalid:8080"), 8080);
  assertEquals(portOfUri("rtsp://cam.invalid:554/a"), null);
  assertEquals(portOfUri("http://cam.invalid:0/a"), null);
  assertEquals(portOfUri("http://cam.invalid:99999/a"), null);
  assertEquals(portOfUri("/snap.jpg"), null);
});
