/**
 * ONVIF test material: a ProbeMatches as cameras send it, for the parser's unit tests and the
 * fake camera of the discovery end-to-end test.
 * @module
 */
import dgram from "node:dgram";

/** A ProbeMatches as cameras send it (prefixes vary by vendor). */
export function probeMatches(relatesTo: string, opts: { xaddrs?: string; scopes?: string } = {}) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
  xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
  xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
<SOAP-ENV:Header>
  <wsa:MessageID>urn:uuid:${crypto.randomUUID()}</wsa:MessageID>
  <wsa:RelatesTo>${relatesTo}</wsa:RelatesTo>
  <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
</SOAP-ENV:Header>
<SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>
  <wsa:EndpointReference><wsa:Address>urn:uuid:cafe0001-0000-4000-8000-000000000001</wsa:Address></wsa:EndpointReference>
  <d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>
  <d:Scopes>${
    opts.scopes ??
      "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/manufacturer/Acme%20Cams onvif://www.onvif.org/hardware/AC-1000 onvif://www.onvif.org/name/Gate%20North onvif://www.onvif.org/location/city/Istanbul"
  }</d:Scopes>
  <d:XAddrs>${opts.xaddrs ?? "http://192.0.2.40:8000/onvif/device_service"}</d:XAddrs>
  <d:MetadataVersion>1</d:MetadataVersion>
</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
}

/** A fake ONVIF camera on 127.0.0.1: answers each Probe with hostile junk, then a real match. */
export async function onvifResponder() {
  const sock = dgram.createSocket("udp4");
  let probes = 0;
  sock.on("message", (msg, rinfo) => {
    const id = /<a:MessageID>([^<]+)<\/a:MessageID>/.exec(new TextDecoder().decode(msg))?.[1];
    if (!id) return;
    probes++;
    const send = (s: string | Uint8Array) => sock.send(s, rinfo.port, rinfo.address);
    send(
      `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>` +
        probeMatches(id).replace(/^<\?xml[^>]*>/, ""),
    );
    send(probeMatches(`urn:uuid:${crypto.randomUUID()}`)); // another probe's answer
    send("\u0000\u0001 not xml at all <<<<");
    send(new Uint8Array(60_000).fill(0x3c)); // a wall of "<"
    send(probeMatches(id));
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { port: sock.address().port, probes: () => probes, close: () => sock.close() };
}
