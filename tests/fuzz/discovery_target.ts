/**
 * The `discovery` fuzz target: a hostile LAN answering the agent's ONVIF probe. When an operator
 * runs discovery, the agent reads every datagram that comes back to its probe's port
 * (agent/discovery/ws_discovery.ts) and sends what it kept up its control stream, where the cloud
 * answers the operator with it. Anything on the customer's LAN can answer: what it sends must
 * never take the agent down or off line, make the operator wait past the window, or give the
 * console an answer it cannot show (text with control characters or beyond its bounds, an XAddr
 * that is no http(s) URL, ports out of range).
 *
 * The LAN is a UDP responder on loopback, named as the discovery target of an agent of its own
 * site. Each case scripts what it answers to one probe: datagrams that are a camera's ProbeMatches
 * mutated at the byte level, built with hostile texts (percent escapes, lone surrogates, control
 * characters, markup, very long values), answering another probe, nested, cut, oversized, many
 * matches at once, floods of hundreds of endpoints, garbage — sent at once or spread over the
 * window, some after it. Cases take turns (one probe, one script). Every eighth case is a LAN of
 * well-formed cameras, whose endpoints must all come back.
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { bigMatches, probeMatches } from "../_fixtures/onvif.ts";
import { mutate, NASTY, type Rng } from "./rng.ts";
import type { Finding, Target } from "./targets.ts";
import { leakFinding } from "./oracle.ts";
import type { World } from "./world.ts";
import { Turns } from "./turns.ts";

/** What one case's LAN sends to a probe: `send` answers it (false once the case is over). */
export type LanScript = (
  messageId: string,
  send: (datagram: Uint8Array) => Promise<boolean>,
) => Promise<void>;

/** The hostile LAN: the UDP port the agent's probes go to. */
export interface HostileLan {
  port: number;
  /** Answers every probe from now on with `script` (null: answers nothing). */
  script(script: LanScript | null): void;
  /** Probes received so far. */
  readonly probes: number;
  close(): Promise<void>;
}

/** Starts the hostile LAN on 127.0.0.1. */
export async function hostileLan(): Promise<HostileLan> {
  const sock = dgram.createSocket("udp4");
  let current: LanScript | null = null;
  let probes = 0;
  sock.on("error", () => {});
  sock.on("message", (msg, rinfo) => {
    const id = /<a:MessageID>([^<]{1,200})<\/a:MessageID>/.exec(msg.toString("utf8"))?.[1];
    const script = current;
    if (!id || !script) return;
    probes++;
    const send = (datagram: Uint8Array) =>
      new Promise<boolean>((resolve) => {
        if (current !== script) return resolve(false);
        sock.send(Buffer.from(datagram), rinfo.port, rinfo.address, () => resolve(true));
      });
    script(id, send).catch(() => {});
  });
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
  return {
    port: sock.address().port,
    script: (s) => void (current = s),
    get probes() {
      return probes;
    },
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

const enc = new TextEncoder();

/** A well-formed camera's answer, for the tame cases and as the base of the hostile ones. */
function camera(id: string, endpoint: string, name: string, port: number): string {
  return probeMatches(id, {
    xaddrs: `http://192.0.2.${1 + (port % 250)}:${port}/onvif/device_service`,
    scopes: `onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/manufacturer/Acme ` +
      `onvif://www.onvif.org/hardware/AC-${port} onvif://www.onvif.org/name/${name}`,
  }).replace("urn:uuid:cafe0001-0000-4000-8000-000000000001", endpoint);
}

/** Texts a hostile camera puts where names, XAddrs and endpoints go. */
const HOSTILE_TEXT = [
  ...NASTY,
  "%uD800",
  "%ED%A0%80",
  "%C0%AF",
  "%%%%",
  "\u0000\u0001\u001b[31m",
  "<script>alert(1)</script>",
  "&lt;b&gt;&#0;&#x110000;&#xD800;&amp;",
  "<![CDATA[x]]>",
  "<!-- c -->",
  "\u202e\u200b\ufeff",
  "漢字".repeat(120),
  "😀".repeat(150),
  "%F0%9F%98%80".repeat(100),
  "http://[::1]:99999/x",
  "https://a:b@c:0/",
  "http://%zz/",
  "http://x:" + "9".repeat(30) + "/",
  "javascript:alert(1)",
  "HTTP://UPPER/",
  "x".repeat(600),
];

/** One hostile datagram for probe `id`. */
function hostileDatagram(rng: Rng, id: string, n: number): Uint8Array {
  const endpoint = () => `urn:uuid:${n}-${rng.int(1 << 30)}`;
  switch (rng.int(11)) {
    case 0: // a camera, mutated at the byte level
      return mutate(rng, enc.encode(camera(id, endpoint(), "Cam", 80 + rng.int(9000))));
    case 1: { // hostile texts in every field
      const t = () => rng.pick(HOSTILE_TEXT);
      return enc.encode(
        probeMatches(id, {
          xaddrs: Array.from({ length: 1 + rng.int(12) }, t).join(rng.pick([" ", "\t", "\n"])),
          scopes: ["manufacturer", "mfr", "hardware", "model", "name", "Name", "x"]
            .map((k) => `onvif://www.onvif.org/${k}/${t()}`).join(" "),
        }).replace("urn:uuid:cafe0001-0000-4000-8000-000000000001", t()),
      );
    }
    case 2: // an answer to another probe, or none
      return enc.encode(
        rng.chance(0.5)
          ? camera(`urn:uuid:${crypto.randomUUID()}`, endpoint(), "Other", 80)
          : camera(id, endpoint(), "NoRel", 80).replace(
            /<wsa:RelatesTo>[^<]*<\/wsa:RelatesTo>/,
            "",
          ),
      );
    case 3: // many matches in one datagram (past the 16 read)
      return enc.encode(bigMatches(id, 1 + rng.int(20)));
    case 4: { // structure: nested, repeated, self-closing, comments, CDATA
      const base = camera(id, endpoint(), "Nest", 8000);
      const match = /<d:ProbeMatch>[\s\S]*<\/d:ProbeMatch>/.exec(base)![0];
      const inner = match.replace("<d:ProbeMatch>", "").replace("</d:ProbeMatch>", "");
      return enc.encode(base.replace(
        match,
        rng.pick([
          `<d:ProbeMatch><d:ProbeMatch>${inner}</d:ProbeMatch></d:ProbeMatch>`,
          `<d:ProbeMatch/>${match}<d:ProbeMatch/>`,
          match.replace("<d:XAddrs>", "<d:XAddrs><!-- x --><![CDATA[http://192.0.2.9/]]>"),
          match.replace(/<d:XAddrs>/, "<d:XAddrs>http://192.0.2.8/ </d:XAddrs><d:XAddrs>"),
          `<d:ProbeMatch>${"<d:ProbeMatch>".repeat(rng.int(2000))}${inner}`,
          match.repeat(1 + rng.int(40)),
        ]),
      ));
    }
    case 5: // the right size and then one over (the agent reads at most 64 KiB)
      return enc.encode(
        camera(id, endpoint(), "Big", 80).replace(
          "</SOAP-ENV:Envelope>",
          `${" ".repeat(rng.pick([65_536 - 2_000, 65_000, 63_000]))}</SOAP-ENV:Envelope>`,
        ),
      );
    case 6: // cut anywhere
      return enc.encode(camera(id, endpoint(), "Cut", 80)).subarray(0, rng.int(1200));
    case 7: // entities and a DTD
      return enc.encode(
        `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "${"a".repeat(rng.int(100))}">]>` +
          camera(id, endpoint(), "&a;", 80).replace(/^<\?xml[^>]*>/, ""),
      );
    case 8: // not UTF-8 or not XML
      return rng.chance(0.5) ? rng.bytes(rng.size(2000)) : enc.encode(
        rng.pick([
          "",
          " ",
          "<",
          "<?xml?>",
          `<a>${id}</a>`,
          "\ufeff<x/>",
          "HTTP/1.1 200 OK\r\n\r\n",
        ]),
      );
    case 9: // a wall of one tag, open
      return enc.encode(
        camera(id, endpoint(), "Wall", 80).replace(
          "<d:ProbeMatches>",
          `<d:ProbeMatches>${
            rng.pick(["<d:XAddrs>", "<wsa:Address>", "<d:Scopes>", "<"]).repeat(
              rng.int(4000),
            )
          }`,
        ),
      );
    default: // a camera as it should be, with a fresh endpoint
      return enc.encode(camera(id, endpoint(), `C${rng.int(100)}`, 80 + rng.int(60_000)));
  }
}

/** What the operator's answer must hold to (README "Discover cameras"). */
const TEXT_MAX = 200;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const XADDR = /^https?:\/\/[^\s<>"]{1,500}$/i;
/** One discovery's answer stays far under the control stream's 1 MiB messages. */
const ANSWER_MAX = 1 << 20;

interface Device {
  address: unknown;
  xaddrs: unknown;
  manufacturer: unknown;
  model: unknown;
  name: unknown;
  endpoint: unknown;
  ports: unknown;
}

/** What is wrong with one device of the answer ("" when nothing). */
function deviceFault(d: Device): string {
  for (const key of ["manufacturer", "model", "name", "endpoint"] as const) {
    const v = d[key];
    if (typeof v !== "string") return `${key} is not a string`;
    if (v.length > TEXT_MAX) return `${key} of ${v.length} characters`;
    if (CONTROL.test(v)) return `${key} with a control character`;
  }
  if (d.address !== "127.0.0.1") return `address ${JSON.stringify(d.address)}`;
  if (!Array.isArray(d.xaddrs) || d.xaddrs.length > 8) return "xaddrs not a list of at most 8";
  for (const x of d.xaddrs) if (typeof x !== "string" || !XADDR.test(x)) return `XAddr ${x}`;
  if (!Array.isArray(d.ports) || !d.ports.length) return "no ports";
  for (const p of d.ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) return `port ${p}`;
  }
  return "";
}

interface LanState {
  /** One probe, one script: the cases take turns. */
  turns: Turns;
  counts: { answered: number; tame: number; devices: number; dropped: number; skipped: number };
}

const states = new WeakMap<World, LanState>();

function stateOf(w: World): LanState {
  let s = states.get(w);
  if (!s) {
    s = {
      turns: new Turns(),
      counts: { answered: 0, tame: 0, devices: 0, dropped: 0, skipped: 0 },
    };
    states.set(w, s);
  }
  return s;
}

/** How long a case waits for its turn before it is skipped (a case has 15 s in all). */
const TURN_WAIT_MS = 8_000;

/** The discovery target. */
export const discovery: Target = {
  name: "discovery",
  async run(w, rng, n) {
    const st = stateOf(w);
    const tame = n % 8 === 0;
    const release = await st.turns.take(TURN_WAIT_MS);
    if (!release) {
      st.counts.skipped++;
      return [];
    }
    try {
      return await oneRound(w, rng, n, tame, st);
    } finally {
      w.lan.script(null);
      release();
    }
  },
  checks: (w) => ({ ...stateOf(w).counts, probes: w.lan.probes }),
};

/**
 * What case `n`'s LAN answers a probe: well-formed cameras (`tame`, their endpoints in
 * `expected`), a flood of big matches, or hostile datagrams; `plan` lists what it sent.
 */
export function caseScript(
  rng: Rng,
  n: number,
  o: { tame: boolean; flood: boolean; windowMs: number },
): { script: LanScript; expected: Set<string>; plan: string[] } {
  const expected = new Set<string>();
  const plan: string[] = [];
  const script: LanScript = async (id, send) => {
    const count = o.tame ? 1 + rng.int(6) : o.flood ? 30 + rng.int(30) : 1 + rng.int(25);
    for (let i = 0; i < count; i++) {
      let datagram: Uint8Array;
      if (o.tame) {
        const endpoint = `urn:uuid:${n}-${i}-${crypto.randomUUID()}`;
        expected.add(endpoint);
        datagram = enc.encode(camera(id, endpoint, `Cam%20${i}`, 8000 + i));
      } else datagram = o.flood ? enc.encode(bigMatches(id, 9)) : hostileDatagram(rng, id, n);
      if (datagram.byteLength > 65_507) datagram = datagram.subarray(0, 65_507);
      plan.push(`${datagram.byteLength} B`);
      if (!(await send(datagram))) return;
      // At once, paced, or spread over (and past) the window.
      const pause = o.tame || o.flood ? 10 : rng.pick([0, 0, 5, rng.int(o.windowMs / 4)]);
      if (pause) await new Promise((r) => setTimeout(r, pause));
    }
  };
  return { script, expected, plan };
}

/** One probe answered by this case's LAN, and the operator's answer checked. */
async function oneRound(
  w: World,
  rng: Rng,
  n: number,
  tame: boolean,
  st: LanState,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const windowMs = rng.pick([500, 700, 1000]);
  const flood = !tame && rng.chance(0.08);
  const { script, expected, plan } = caseScript(rng, n, { tame, flood, windowMs });
  w.lan.script(script);
  const kind = tame ? " (tame)" : flood ? " (flood)" : "";
  const described = () =>
    `discovery case ${n}${kind}: ${plan.length} datagrams (${
      plan.slice(0, 40).join(", ")
    }) in a ${windowMs} ms window`;
  let status = 0;
  let text = "";
  try {
    const res = await fetch(`${w.stack.url}/api/sites/${w.lanSite.siteId}/discovery`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${w.lanSite.apiToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ timeoutMs: windowMs }),
      signal: AbortSignal.timeout(windowMs + 8_000),
    });
    status = res.status;
    text = await res.text();
  } catch (e) {
    findings.push({ kind: "no answer to discovery", detail: String(e), input: described() });
    return findings;
  }
  st.counts.answered++;
  const leak = leakFinding(text, described());
  if (leak) findings.push(leak);
  if (status !== 200) {
    // 503: the agent's stream dropped; 504: it answered nothing in time; 500: the cloud failed.
    findings.push({
      kind: `discovery answered ${status}`,
      detail: text.slice(0, 300),
      input: described(),
    });
    return findings;
  }
  if (text.length > ANSWER_MAX) {
    findings.push({
      kind: "an answer past 1 MiB",
      detail: `${text.length} bytes`,
      input: described(),
    });
  }
  let body: { devices?: Device[]; dropped?: unknown; ignored?: unknown };
  try {
    body = JSON.parse(text);
  } catch {
    findings.push({
      kind: "discovery answer not JSON",
      detail: text.slice(0, 300),
      input: described(),
    });
    return findings;
  }
  const devices = Array.isArray(body.devices) ? body.devices : null;
  if (!devices || devices.length > 1024) {
    findings.push({ kind: "no list of devices", detail: text.slice(0, 300), input: described() });
    return findings;
  }
  for (const count of ["dropped", "ignored"] as const) {
    if (!Number.isInteger(body[count]) || (body[count] as number) < 0) {
      findings.push({
        kind: `${count} not a count`,
        detail: String(body[count]),
        input: described(),
      });
    }
  }
  if (devices.length) st.counts.devices++;
  if ((body.dropped as number) > 0) st.counts.dropped++;
  for (const d of devices) {
    const fault = deviceFault(d);
    if (fault) {
      findings.push({
        kind: "a device the console cannot show",
        detail: fault,
        input: described(),
      });
      break;
    }
  }
  if (tame) {
    const got = new Set(devices.map((d) => String(d.endpoint)));
    const missing = [...expected].filter((e) => !got.has(e));
    if (missing.length || got.size !== expected.size) {
      findings.push({
        kind: "well-formed cameras not found",
        detail: `sent ${expected.size}, got ${got.size}; missing ${missing.join(" ")}`,
        input: described(),
      });
    } else st.counts.tame++;
  }
  return findings;
}
