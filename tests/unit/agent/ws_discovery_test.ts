// The WS-Discovery Probe and the defensive ProbeMatches reader, including hostile replies.
import { assert, assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import {
  buildProbe,
  MAX_REPLY_BYTES,
  newMessageId,
  parseProbeMatches,
  parseScopes,
} from "../../../src/agent/discovery/ws_discovery.ts";
import { defaultPortProtocols, defaultPorts } from "../../../src/cloud/api/discovery.ts";
import { probeMatches } from "../../_fixtures/onvif.ts";
import { decodeAgentMessage, encodeAgentMessage } from "../../../src/shared/protocol/control.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("probe: SOAP 1.2, NetworkVideoTransmitter, a fresh urn:uuid MessageID", () => {
  const id = newMessageId();
  assert(/^urn:uuid:[0-9a-f-]{36}$/.test(id));
  assert(id !== newMessageId());
  const p = buildProbe(id);
  assertStringIncludes(p, "http://www.w3.org/2003/05/soap-envelope");
  assertStringIncludes(p, `<a:MessageID>${id}</a:MessageID>`);
  assertStringIncludes(p, "<d:Types>dn:NetworkVideoTransmitter</d:Types>");
  assertStringIncludes(p, "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe");
});

Deno.test("ProbeMatches: endpoint, XAddrs and URL-decoded manufacturer/model/name", () => {
  const id = newMessageId();
  assertEquals(parseProbeMatches(enc(probeMatches(id)), id), [{
    endpoint: "urn:uuid:cafe0001-0000-4000-8000-000000000001",
    xaddrs: ["http://192.0.2.40:8000/onvif/device_service"],
    manufacturer: "Acme Cams",
    model: "AC-1000",
    name: "Gate North",
  }]);
  assertEquals(parseScopes(["onvif://www.onvif.org/mfr/X%ZZ", "onvif://www.onvif.org/model/M"]), {
    manufacturer: "X%ZZ",
    model: "M",
    name: "",
  });
});

Deno.test("hostile or foreign replies are ignored, never thrown", () => {
  const id = newMessageId();
  const bomb =
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>` +
    probeMatches(id).replace(/^<\?xml[^>]*>/, "").replace("Acme%20Cams", "&lol2;");
  const cases: [string, Uint8Array][] = [
    ["another probe's reply", enc(probeMatches(newMessageId()))],
    ["no RelatesTo", enc(probeMatches(id).replace(/<wsa:RelatesTo>[^<]*<\/wsa:RelatesTo>/, ""))],
    [
      "two RelatesTo",
      enc(
        probeMatches(id).replace(
          "</SOAP-ENV:Header>",
          `<a:RelatesTo>${id}</a:RelatesTo></SOAP-ENV:Header>`,
        ),
      ),
    ],
    ["entity bomb", enc(bomb)],
    ["not XML", enc("HTTP/1.1 200 OK\r\n\r\nhello")],
    ["binary", new Uint8Array([0xff, 0xfe, 0x00, 0x3c, 0x80, 0x81])],
    ["empty", new Uint8Array(0)],
    [
      "huge",
      enc(
        probeMatches(id).replace(
          "</SOAP-ENV:Envelope>",
          `${" ".repeat(MAX_REPLY_BYTES)}</SOAP-ENV:Envelope>`,
        ),
      ),
    ],
    [
      "a match with neither address nor XAddrs",
      enc(probeMatches(id, { xaddrs: "" }).replace(/<wsa:Address>[^<]*<\/wsa:Address>/, "")),
    ],
    ["deeply nested junk", enc(`<a>${"<b>".repeat(20000)}${id}</a>`)],
  ];
  for (const [what, data] of cases) assertEquals(parseProbeMatches(data, id), null, what);
  // Oversized strings and non-HTTP XAddrs are trimmed, not trusted.
  const odd = parseProbeMatches(
    enc(probeMatches(id, {
      xaddrs: `javascript:alert(1) http://192.0.2.41/onvif ftp://x`,
      scopes: `onvif://www.onvif.org/name/${"A".repeat(400)} onvif://www.onvif.org/hardware/%00ctl`,
    })),
    id,
  );
  assertEquals(odd?.[0].xaddrs, ["http://192.0.2.41/onvif"]);
  assertEquals(odd?.[0].name.length, 200);
  assertEquals(odd?.[0].model, "ctl");
});

Deno.test("default ports for a discovered camera: its XAddrs' HTTP ports (else 80) and RTSP 554", () => {
  assertEquals(defaultPorts(["http://192.0.2.40:8000/onvif/device_service"]), [554, 8000]);
  assertEquals(defaultPorts(["http://192.0.2.40/onvif", "https://192.0.2.40/onvif"]), [
    80,
    443,
    554,
  ]);
  assertEquals(defaultPorts([]), [80, 554]);
  // Port 0 (a broken or hostile XAddr) is no port: the default web port instead.
  assertEquals(defaultPorts(["http://192.0.2.40:0/onvif", "https://a:b@192.0.2.40:0/"]), [80, 554]);
  assertEquals(
    defaultPortProtocols(["http://192.0.2.40:8000/onvif", "https://192.0.2.40/onvif", "nope"]),
    { 443: "https", 554: "rtsp", 8000: "http" },
  );
});

Deno.test("texts that are no Unicode (a surrogate's reference, an emoji cut at the bound) cross the control stream", () => {
  const id = newMessageId();
  const odd = parseProbeMatches(
    enc(
      probeMatches(id, {
        scopes: `onvif://www.onvif.org/name/A${"😀".repeat(150)} ` +
          "onvif://www.onvif.org/hardware/a&#xD800;b&#56320;c&#0;d&#x110000;e",
      }).replace("urn:uuid:cafe0001-0000-4000-8000-000000000001", "urn:&#xDBFF;x"),
    ),
    id,
  );
  assert(odd);
  assertEquals(odd[0].model, "abcde");
  assertEquals(odd[0].endpoint, "urn:x");
  // "A" and 99 emoji, the last one cut in two by the 200-character bound: its half is U+FFFD.
  assertEquals(odd[0].name, `A${"😀".repeat(99)}\ufffd`);
  // What the agent sends is what the cloud reads back (a lone surrogate failed the decoder, which
  // ended the agent's control stream).
  const result = {
    requestId: "r",
    devices: odd.map((m) => ({ ...m, address: "127.0.0.1" })),
    error: "",
    dropped: 0,
    ignored: 0,
  };
  assertEquals(
    decodeAgentMessage(encodeAgentMessage({ discoveryResult: result })).discoveryResult,
    result,
  );
});
