/**
 * The `https` fuzz target: a hostile device whose web port speaks TLS. The browser proxy makes
 * the cloud a TLS client (`node:tls`, in the process every tenant shares) of whatever answers at a
 * port marked HTTPS, accepting any certificate (cameras have only self-signed ones) and auditing
 * its subject and fingerprint; what answers must never take the node down, log an ERROR, keep
 * the operator waiting past the proxy's timeout, give a status outside the documented set or
 * internals, or put a subject in the audit log that the console cannot show.
 *
 * The device (its own loopback address, its port marked HTTPS) answers each case's connections,
 * cases taking turns, in one of two ways:
 * - by hand, after reading the ClientHello: garbage, plain HTTP (a camera's "plain HTTP request
 *   was sent to HTTPS port"), alerts of every level and description, a record that claims 64 KiB
 *   and stops, floods of empty records, an old version's hello — then a hang-up or silence;
 * - as a real TLS server (TLS 1.2 or 1.3) with a certificate from a hostile set (subjects of 3 000
 *   characters with control characters, hundreds of names, none, expired, not yet valid, a chain
 *   of intermediates, RSA or ECDSA), its bytes to the cloud corrupted, cut, injected into or
 *   stalled at any offset of the handshake or after it, and after the handshake hostile manners:
 *   renegotiation asked, the answer cut with or without close_notify, written in tiny records, or
 *   the device's answers of the `device` target (framing, heads, bodies).
 * Every eighth case is a well-formed HTTPS camera whose page must come through.
 * @module
 */
import * as tls from "node:tls";
import type { Buffer } from "node:buffer";
import { concatBytes } from "../_fixtures/bytes.ts";
import { anySubjectCert, type CertAndKey, chainCert } from "../_fixtures/any_subject_cert.ts";
import { serveConns } from "../_fixtures/conn_server.ts";
import { answerer } from "./device_target.ts";
import { mutate, NASTY, Rng } from "./rng.ts";
import type { Finding, Target } from "./targets.ts";
import { HTTP_OK, LEAK, leakFinding } from "./oracle.ts";
import { exchange, type World, writeAll } from "./world.ts";
import { Turns } from "./turns.ts";

/** Where the hostile HTTPS device listens (a loopback address of its own). */
export const HTTPS_HOST = "127.0.0.5";

/** The cloud's `--proxy-timeout` in the fuzz world (world.ts): a case waits this and a margin. */
export const FUZZ_PROXY_TIMEOUT_S = 4;

/** How long an operator may wait for an answer: the proxy's timeout, and time to spare. */
const ANSWER_WITHIN_MS = (FUZZ_PROXY_TIMEOUT_S + 7) * 1000;

/** The longest subject the console is expected to show from an audit entry. */
const MAX_SUBJECT = 1024;
/** Characters a subject shown in the console must not hold. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const enc = new TextEncoder();
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

/** A certificate and key the device may present, named for findings. */
interface Pair extends CertAndKey {
  name: string;
}

/** What the device's TLS server does once the handshake is done. */
interface Manners {
  tame: boolean;
  minVersion: tls.SecureVersion;
  maxVersion: tls.SecureVersion;
  /** The HTTP answer of each request (the `device` target's answerer). */
  answer: ReturnType<typeof answerer>;
  /** After the handshake, before answering. */
  tls: "none" | "renegotiate" | "destroy-mid" | "end-mid" | "tiny-records" | "silence";
  /** Close (with close_notify) after the first answer. */
  endAfter: boolean;
  /** What the device answered in this case (its own statuses pass through the proxy). */
  sent: Uint8Array[];
}

/** How the bytes from the device's TLS server to the cloud are spoiled. */
interface Spoil {
  at: number;
  how: "flip" | "cut" | "inject" | "stall";
  inject: Uint8Array;
}

/** How one case's device answers a connection. */
type Script =
  | { kind: "hand"; bytes: Uint8Array; then: "close" | "hang" }
  | { kind: "tls"; pair: Pair; manners: Manners; spoil: Spoil | null };

/** The running device. */
interface Device {
  port: number;
  handle: string;
  /**
   * Sets the script of the connections that come next (a TLS script's certificate and versions
   * too); ends those of the last script.
   */
  script(s: Script | null): void;
}

/** A TLS record: type, version 3.3, length, body. */
function record(type: number, body: Uint8Array, version = 0x0303): Uint8Array {
  return concatBytes(
    new Uint8Array([type, version >> 8, version & 0xff, body.length >> 8, body.length & 0xff]),
    body,
  );
}

/** The hand-written answers a device may give a ClientHello. */
function handBytes(rng: Rng): Uint8Array {
  switch (rng.int(9)) {
    case 0:
      return rng.bytes(rng.size(4096));
    case 1:
      return enc.encode(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n" +
          "<html><body>The plain HTTP request was sent to HTTPS port</body></html>",
      );
    case 2: // an alert of any level and description
      return record(21, new Uint8Array([rng.pick([1, 2, 0, 255]), rng.int(256)]));
    case 3: // a record that claims 64 KiB, and some of it
      return concatBytes(
        new Uint8Array([22, 3, 3, 0xff, 0xff]),
        rng.bytes(rng.int(2) ? rng.size(1000) : 0),
      );
    case 4: // empty records, many
      return concatBytes(
        ...Array.from(
          { length: rng.pick([10, 1000, 20_000]) },
          () => record(rng.pick([22, 23, 21, 20]), new Uint8Array(0)),
        ),
      );
    case 5: // a ServerHello of an old version, or of none
      return record(
        22,
        concatBytes(new Uint8Array([2, 0, 0, 38, 3, rng.pick([0, 1, 2, 4, 0xff])]), rng.bytes(36)),
        rng.pick([0x0301, 0x0300, 0x0302, 0x7f00]),
      );
    case 6: // application data before any handshake
      return record(23, rng.bytes(rng.size(16_384)));
    case 7: // a change of cipher spec first, then garbage records
      return concatBytes(record(20, new Uint8Array([1])), record(22, rng.bytes(rng.size(300))));
    default: // an SSL 2 hello
      return concatBytes(new Uint8Array([0x80, 0x2e, 0x04, 0x00, 0x02]), rng.bytes(44));
  }
}

/** Bytes injected into a TLS stream: an alert, a record of garbage, a huge header, empties. */
function injected(rng: Rng): Uint8Array {
  switch (rng.int(5)) {
    case 0:
      return record(21, new Uint8Array([rng.pick([1, 2]), rng.int(256)]));
    case 1:
      return record(rng.pick([22, 23, 20, 24, 99]), rng.bytes(rng.size(2000)));
    case 2:
      return new Uint8Array([23, 3, 3, 0xff, 0xff]);
    case 3:
      return concatBytes(...Array.from({ length: 500 }, () => record(23, new Uint8Array(0))));
    default:
      return rng.bytes(1 + rng.int(64));
  }
}

/** The certificates the device may present: a camera's, and hostile ones. */
async function certificates(): Promise<Pair[]> {
  const day = 86_400_000;
  const now = Date.now();
  const named = async (name: string, c: Promise<CertAndKey>): Promise<Pair> => ({
    name,
    ...await c,
  });
  return await Promise.all([
    named("camera", anySubjectCert([{ CN: ["IPC"] }, { O: ["Camera maker"] }])),
    named(
      "long",
      anySubjectCert([{ CN: ["\u0000\u001b[31m\u202e" + "x".repeat(3000) + "\r\nInjected: 1"] }]),
    ),
    named("many", anySubjectCert(Array.from({ length: 300 }, (_, i) => ({ OU: [`unit ${i}`] })))),
    named("none", anySubjectCert([])),
    named(
      "expired",
      anySubjectCert([{ CN: ["expired"] }], { from: now - 900 * day, to: now - 400 * day }),
    ),
    named(
      "future",
      anySubjectCert([{ CN: ["future"] }], { from: now + 400 * day, to: now + 900 * day }),
    ),
    named(
      "nasty",
      anySubjectCert([{ CN: [NASTY.join("|").slice(0, 4000).toWellFormed()] }, {
        O: ["<b>&amp;</b>"],
      }]),
    ),
    named("rsa", anySubjectCert([{ CN: ["rsa"] }], { rsa: true })),
    named("chain", chainCert("leaf", 6)),
  ]);
}

/** Reads one request head (and nothing of a body: the proxy's GETs have none). */
function requests(s: tls.TLSSocket, onRequest: (target: string) => void): void {
  let pending = "";
  s.on("data", (c: Buffer) => {
    pending += latin1(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
    for (let end; (end = pending.indexOf("\r\n\r\n")) >= 0;) {
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      onRequest(head.split(" ")[1] ?? "/");
    }
    if (pending.length > 256 << 10) s.destroy();
  });
}

/** Starts the device's TLS server: each connection answers by the script it was made under. */
async function tlsServer(
  current: () => Script | null,
): Promise<{ port: number; context(o: tls.SecureContextOptions): void; stop(): void }> {
  const server = tls.createServer({});
  server.on("secureConnection", (s: tls.TLSSocket) => {
    const script = current();
    s.on("error", () => {});
    if (script?.kind !== "tls") return s.destroy();
    const m = script.manners;
    const answer = async (target: string) => {
      const out = await m.answer({ method: "GET", target, body: "" }).catch(() => "close" as const);
      if (out instanceof Uint8Array) m.sent.push(out);
      if (s.destroyed) return;
      if (out === "close") return s.destroy();
      if (out === null) return; // never answered
      switch (m.tls) {
        case "destroy-mid":
          s.write(out.subarray(0, out.length >> 1));
          return setTimeout(() => s.destroy(), 20);
        case "end-mid":
          return s.end(out.subarray(0, out.length >> 1));
        case "tiny-records":
          for (let at = 0, n = 0; at < out.length && n < 3000; n++) {
            const size = 1 + (n % 16);
            s.write(out.subarray(at, at + size));
            at += size;
          }
          break;
        default:
          s.write(out);
      }
      if (m.endAfter) s.end();
    };
    if (m.tls === "silence") return;
    if (m.tls === "renegotiate" && m.maxVersion === "TLSv1.2") {
      s.renegotiate({ rejectUnauthorized: false }, () => {});
    }
    requests(s, (target) => void answer(target));
  });
  server.on("tlsClientError", () => {});
  server.on("error", () => {});
  const port = await new Promise<number>((resolve) =>
    server.listen(0, HTTPS_HOST, () => resolve((server.address() as { port: number }).port))
  );
  return { port, context: (o) => server.setSecureContext(o), stop: () => server.close() };
}

/** Passes bytes from `from` to `to`, spoiled as `spoil` says (null: as they are). */
async function pipe(from: Deno.Conn, to: Deno.Conn, spoil: Spoil | null): Promise<void> {
  const buf = new Uint8Array(64 << 10);
  let at = 0;
  for (;;) {
    const n = await from.read(buf);
    if (n === null) return;
    let chunk: Uint8Array = buf.subarray(0, n);
    if (spoil && at <= spoil.at && spoil.at < at + n) {
      const k = spoil.at - at;
      switch (spoil.how) {
        case "flip":
          chunk = concatBytes(chunk.subarray(0, k), mutate(new Rng(spoil.at), chunk.subarray(k)));
          break;
        case "cut":
          await writeAll(to, chunk.subarray(0, k));
          return;
        case "inject":
          chunk = concatBytes(chunk.subarray(0, k), spoil.inject, chunk.subarray(k));
          break;
        case "stall":
          await writeAll(to, chunk.subarray(0, k));
          while ((await to.read(buf)) !== null) { /* until the cloud gives up */ }
          return;
      }
    }
    at += n;
    await writeAll(to, chunk);
  }
}

/** Starts the device, adds it to tenant A with its port marked HTTPS. */
async function startDevice(w: World): Promise<Device> {
  let current: Script | null = null;
  let open = new Set<Deno.Conn>();
  const inner = await tlsServer(() => current);
  const front = serveConns(
    Deno.listen({ hostname: HTTPS_HOST, port: 0 }),
    async (conn, track) => {
      const script = current;
      const mine = open;
      mine.add(conn);
      try {
        if (!script) return;
        if (script.kind === "hand") {
          const buf = new Uint8Array(16 << 10);
          if ((await conn.read(buf)) === null) return;
          await writeAll(conn, script.bytes);
          if (script.then === "hang") { while ((await conn.read(buf)) !== null) { /* drain */ } }
          return;
        }
        const up = await Deno.connect({ hostname: HTTPS_HOST, port: inner.port });
        track(up);
        mine.add(up);
        await Promise.race([
          pipe(conn, up, null),
          pipe(up, conn, script.spoil),
        ]).catch(() => {});
      } finally {
        mine.delete(conn);
      }
    },
  );
  w.stack.defer(async () => {
    inner.stop();
    await front.close();
  });
  const { stack, a } = w;
  const added = await stack.api("POST", `/api/sites/${a.siteId}/devices`, a.apiToken, {
    host: HTTPS_HOST,
    ports: [front.port],
    protocols: { [front.port]: "https" },
  });
  if (added.status !== 201) throw new Error(`adding the HTTPS device: ${added.status}`);
  return {
    port: front.port,
    handle: (added.json.handles as Record<string, string>)[String(front.port)],
    script(s) {
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      open = new Set();
      if (s?.kind === "tls") {
        inner.context({
          cert: s.pair.cert,
          key: s.pair.key,
          minVersion: s.manners.minVersion,
          maxVersion: s.manners.maxVersion,
        });
      }
      current = s;
    },
  };
}

/** The run's device, its certificates, turns and counts. */
interface RunState {
  device: Promise<Device>;
  pairs: Promise<Pair[]>;
  turns: Turns;
  counts: {
    answered: number;
    tame: number;
    proxied: number;
    hand: number;
    spoiled: number;
    certificates: number;
    /** Cases that waited their whole turn time and were skipped. */
    skipped: number;
  };
}
const runs = new WeakMap<World, RunState>();
function stateOf(w: World): RunState {
  let st = runs.get(w);
  if (!st) {
    st = {
      device: startDevice(w),
      pairs: certificates(),
      turns: new Turns(),
      counts: {
        answered: 0,
        tame: 0,
        proxied: 0,
        hand: 0,
        spoiled: 0,
        certificates: 0,
        skipped: 0,
      },
    };
    runs.set(w, st);
  }
  return st;
}

/** A case's script. */
function scriptOf(rng: Rng, tame: boolean, pairs: Pair[], w: World): Script {
  if (!tame && rng.chance(0.3)) {
    return { kind: "hand", bytes: handBytes(rng), then: rng.pick(["close", "hang"] as const) };
  }
  const v12 = tame || rng.chance(0.5);
  const manners: Manners = {
    tame,
    minVersion: v12 ? "TLSv1.2" : "TLSv1.3",
    maxVersion: v12 && !tame && rng.chance(0.5) ? "TLSv1.2" : "TLSv1.3",
    answer: answerer(tame ? new Rng(rng.next()) : rng, tame || rng.chance(0.5), w.device.options),
    tls: tame ? "none" : rng.pick(
      [
        "none",
        "none",
        "renegotiate",
        "destroy-mid",
        "end-mid",
        "tiny-records",
        "silence",
      ] as const,
    ),
    endAfter: !tame && rng.chance(0.7),
    sent: [],
  };
  const spoil: Spoil | null = tame || rng.chance(0.5) ? null : {
    at: rng.chance(0.7) ? rng.int(3000) : rng.int(20_000),
    how: rng.pick(["flip", "cut", "inject", "stall"] as const),
    inject: injected(rng),
  };
  return { kind: "tls", pair: tame ? pairs[0] : rng.pick(pairs), manners, spoil };
}

/** How long a case waits for its turn before it is skipped (a case has 15 s). */
const TURN_WAIT_MS = 2_000;

/** The target. */
export const https: Target = {
  name: "https",
  async run(w, rng, n) {
    const st = stateOf(w);
    const [device, pairs] = await Promise.all([st.device, st.pairs]);
    const tame = n % 8 === 0;
    const findings: Finding[] = [];
    const release = await st.turns.take(TURN_WAIT_MS);
    if (!release) {
      st.counts.skipped++;
      return findings;
    }
    try {
      const script = scriptOf(rng, tame, pairs, w);
      device.script(script);
      if (script.kind === "hand") st.counts.hand++;
      if (script.kind === "tls" && script.spoil) st.counts.spoiled++;
      const input = `GET /c/${device.handle}/fz/${n}/page HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${w.a.apiToken}\r\nConnection: close\r\n\r\n`;
      const described = `${input}(device: ${describe(script)})`;
      const started = Date.now();
      const got = latin1(
        await exchange(w.stack.ports.http, enc.encode(input), { ms: ANSWER_WITHIN_MS }).catch(() =>
          new Uint8Array(0)
        ),
      );
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      if (!status) {
        findings.push({
          kind: "no answer within the proxy's timeout",
          detail: `nothing in ${
            Date.now() - started
          } ms (--proxy-timeout ${FUZZ_PROXY_TIMEOUT_S}s)`,
          input: described,
        });
        return findings;
      }
      st.counts.answered++;
      if (status === 200) st.counts.proxied++;
      if (tame && status === 200 && got.includes("<title>cam</title>")) st.counts.tame++;
      else if (tame) {
        findings.push({
          kind: `a well-formed HTTPS camera answered ${status}`,
          detail: got.slice(0, 300),
          input: described,
        });
      }
      // A status of the device's own is passed on; otherwise only the documented ones.
      const fromDevice = script.kind === "tls" ? latin1(concatBytes(...script.manners.sent)) : "";
      const theirs = new RegExp(`^HTTP/1\\.[01] ${status}\\b`, "m").test(fromDevice);
      if (!HTTP_OK.has(status) && !theirs) {
        findings.push({ kind: `HTTP ${status} through the proxy`, detail: got, input: described });
      }
      const leak = leakFinding(got, described, "internals in a proxied answer");
      if (leak && !NASTY.some((x) => x.includes(LEAK.exec(got)![0]))) findings.push(leak);
      if (script.kind === "tls") findings.push(...await certificateAudit(w, st, described));
      return findings;
    } finally {
      device.script(null);
      release();
    }
  },
  checks: (w) => ({ ...stateOf(w).counts }),
};

/** A script in a few words, for a finding. */
function describe(s: Script): string {
  if (s.kind === "hand") return `hand ${latin1(s.bytes.subarray(0, 40))}… then ${s.then}`;
  return `tls ${s.pair.name} ${s.manners.minVersion}-${s.manners.maxVersion} ${s.manners.tls}` +
    (s.spoil ? ` spoil ${s.spoil.how} at ${s.spoil.at}` : "");
}

/** The last certificate audit of the device: a subject the console can show. */
async function certificateAudit(w: World, st: RunState, input: string): Promise<Finding[]> {
  const device = await st.device;
  const r = await w.stack.api(
    "GET",
    `/api/audit?action=device.certificate&target=${device.handle}&limit=1`,
    w.a.apiToken,
  );
  const items = (r.json.items ?? []) as { detail: { subject?: unknown } }[];
  if (!items.length) return [];
  st.counts.certificates++;
  const subject = items[0].detail.subject;
  if (typeof subject !== "string" || subject.length > MAX_SUBJECT || CONTROL.test(subject)) {
    return [{
      kind: "a certificate subject the console cannot show in the audit log",
      detail: JSON.stringify(subject).slice(0, 300) + ` (${String(subject).length} characters)`,
      input,
    }];
  }
  return [];
}
