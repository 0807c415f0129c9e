// The ONVIF pieces that need no camera: the WS-Security password digest (SHA-1 over nonce,
// Created and password, checked here with WebCrypto), the UsernameToken's escaping, the path and
// query kept from a URI the camera gives (never its host), and the camera's clock read from
// GetSystemDateAndTime.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  cameraTime,
  pathOfUri,
  wsSecurityHeader,
} from "../../../../src/cloud/access/onvif_soap.ts";

Deno.test("ONVIF: the UsernameToken's digest is Base64(SHA-1(nonce + created + password)); names escaped", async () => {
  const nonce = new Uint8Array(16).map((_, i) => i * 7);
  const created = "2026-12-05T10:00:00Z";
  const header = wsSecurityHeader({ username: "ad<min>&", password: "p@ss wörd" }, created, nonce);
  const joined = new Uint8Array([
    ...nonce,
    ...new TextEncoder().encode(created),
    ...new TextEncoder().encode("p@ss wörd"),
  ]);
  const want = btoa(
    String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-1", joined))),
  );
  assert(header.includes(`#PasswordDigest">${want}</wsse:Password>`), header);
  assert(header.includes(`>${btoa(String.fromCharCode(...nonce))}</wsse:Nonce>`), header);
  assert(header.includes(`<wsu:Created>${created}</wsu:Created>`), header);
  assert(header.includes("<wsse:Username>ad&#60;min&#62;&#38;</wsse:Username>"), header);
  assert(!header.includes("p@ss"), "never the password itself");
});

Deno.test("ONVIF: only the path and query of a URI the camera gives are kept", () => {
  assertEquals(
    pathOfUri("rtsp://camera.invalid:554/Streaming/Channels/101?transportmode=unicast"),
    "/Streaming/Channels/101?transportmode=unicast",
  );
  assertEquals(
    pathOfUri("rtsp://cam/cam/realmonitor?channel=1&subtype=0"),
    "/cam/realmonitor?channel=1&subtype=0",
  );
  assertEquals(
    pathOfUri("http://[::1]:8080/onvif-http/snapshot?Profile_1"),
    "/onvif-http/snapshot?Profile_1",
  );
  assertEquals(pathOfUri("http://cam.invalid"), "/");
  assertEquals(pathOfUri("http://cam.invalid/a b"), null, "a space");
  assertEquals(pathOfUri("/relative"), null);
  assertEquals(pathOfUri(`http://cam.invalid/${"x".repeat(2000)}`), null, "too long");
});

Deno.test("ONVIF: the camera's clock from GetSystemDateAndTime, null when it gives none", () => {
  const xml = `<tds:SystemDateAndTime><tt:UTCDateTime><tt:Time><tt:Hour>9</tt:Hour>` +
    `<tt:Minute>5</tt:Minute><tt:Second>7</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year>` +
    `<tt:Month>12</tt:Month><tt:Day>5</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>`;
  assertEquals(cameraTime(xml), Date.UTC(2026, 11, 5, 9, 5, 7));
  assertEquals(cameraTime("<tds:SystemDateAndTime/>"), null);
  assertEquals(cameraTime(xml.replace("<tt:Year>2026</tt:Year>", "")), null);
});
