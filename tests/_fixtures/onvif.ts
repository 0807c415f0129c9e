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

/**
 * `count` ProbeMatches to `relatesTo`, each with 8 long XAddrs and long names: about 5 KiB of
 * result each, as a LAN of many cameras (or one host answering for many endpoints) sends.
 */
export function bigMatches(relatesTo: string, count: number): string {
  const one = probeMatches(relatesTo, {
    xaddrs: Array.from({ length: 8 }, (_, i) => `http://192.0.2.${i + 1}/${"x".repeat(480)}`)
      .join(" "),
    scopes: ["name", "hardware", "mfr"].map((k) => `onvif://www.onvif.org/${k}/${"N".repeat(190)}`)
      .join(" "),
  });
  const match = /<d:ProbeMatch>[\s\S]*<\/d:ProbeMatch>/.exec(one)![0];
  const many = Array.from(
    { length: count },
    () => match.replace(/urn:uuid:cafe0001-[0-9a-f-]+/, `urn:uuid:${crypto.randomUUID()}`),
  );
  return one.replace(match, many.join(""));
}

/**
 * A reply to `relatesTo` built to be slow to read and to match nothing: 3 000 ProbeMatch elements
 * that never close, padded to 60 000 bytes (about 1 ms each for the agent's reader).
 */
export function slowReply(relatesTo: string): string {
  const head = `<?xml version="1.0"?><s:Envelope><s:Header><a:RelatesTo>${relatesTo}` +
    `</a:RelatesTo></s:Header><s:Body>${"<d:ProbeMatch>".repeat(3000)}`;
  return head + " ".repeat(60_000 - head.length);
}

/**
 * A fake ONVIF camera on 127.0.0.1: answers each Probe with hostile junk, then a real match; after
 * `flood(n)`, also with `n` datagrams of 9 big matches each (bigMatches), paced so that none is
 * lost on loopback; after `slow(n)`, with a real match first (none with `slow(n, false)`) and
 * then `n` slow replies (slowReply), one every 2 ms, as a host flooding the discovery port would. Like a camera, it
 * answers a probe's MessageID once (the agent sends each probe twice); after `loseFirst(true)`
 * it acts as if the first copy never arrived.
 */
export async function onvifResponder() {
  const sock = dgram.createSocket("udp4");
  let probes = 0;
  let flood = 0;
  let slow = 0;
  let slowAfterCamera = true;
  let loseFirst = false;
  /** Copies of each probe received: a camera answers a repeated MessageID once. */
  const copies = new Map<string, number>();
  sock.on("message", async (msg, rinfo) => {
    const id = /<a:MessageID>([^<]+)<\/a:MessageID>/.exec(new TextDecoder().decode(msg))?.[1];
    if (!id) return;
    const copy = (copies.get(id) ?? 0) + 1;
    copies.set(id, copy);
    if (copy !== (loseFirst ? 2 : 1)) return;
    probes++;
    const send = (s: string | Uint8Array) => sock.send(s, rinfo.port, rinfo.address);
    if (slow) {
      if (slowAfterCamera) send(probeMatches(id));
      const reply = new TextEncoder().encode(slowReply(id));
      for (let i = 0; i < slow; i++) {
        send(reply);
        await new Promise((r) => setTimeout(r, 2));
      }
      return;
    }
    for (let i = 0; i < flood; i++) {
      send(bigMatches(id, 9));
      await new Promise((r) => setTimeout(r, 10));
    }
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
  return {
    port: sock.address().port,
    probes: () => probes,
    /** From the next probe on, `datagrams` more answers of 9 big matches each. */
    flood: (datagrams: number) => void (flood = datagrams),
    /** From the next probe on, the first copy of each probe is lost on the way (UDP). */
    loseFirst: (lose: boolean) => void (loseFirst = lose),
    /** Copies received of the last probe. */
    lastCopies: () => [...copies.values()].at(-1) ?? 0,
    /**
     * From the next probe on, a real match (unless `camera` is false) and then `datagrams` slow
     * replies only.
     */
    slow: (datagrams: number, camera = true) => {
      slow = datagrams;
      slowAfterCamera = camera;
    },
    close: () => sock.close(),
  };
}
