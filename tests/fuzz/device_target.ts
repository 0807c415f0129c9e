/**
 * The `device` fuzz target: a hostile device's web port. The cloud reads what a device answers in
 * the process every tenant shares: its HTTP/1.1 (proxy/http1.ts: the browser proxy `/c/{h}/`,
 * the snapshot, every ONVIF call), its SOAP (shared/xml_text.ts: media paths, PTZ presets, focus,
 * alarm outputs, the clock, recordings and their events, and the motion alerts' pull point, which
 * the node polls by itself). A device sits on a customer's LAN, where anyone may have replaced
 * it; what it answers must never take the node down, log an ERROR, answer an operator with a
 * fault it did not send, or show internals.
 *
 * The device answers as the test camera's ONVIF services do (onvif_service.ts, every service,
 * with the credentials the cloud holds for it), then makes the answer hostile at every level:
 * framing (lengths that lie, chunks that are not, both, neither), heads (status lines, folded,
 * unnamed, huge or NUL-bearing headers, 1xx first), bodies (XML with its opening tags repeated,
 * a DTD, entities, texts too long, cut anywhere), or no answer at all. Browser-proxy cases ask
 * `/c/{h}/fz/{case}/…` and run side by side; ONVIF cases take turns, as the services' paths are
 * the camera's own. Every eighth case is a well-formed camera, so a short run surely gets answers.
 * @module
 */
import {
  CameraEvents,
  CameraFocus,
  CameraPtz,
  CameraReboot,
  CameraRecordings,
  CameraRelays,
  CameraTime,
  ONVIF_SNAPSHOT_PATH,
  onvifAnswer,
  type OnvifOptions,
} from "../_fixtures/onvif_service.ts";
import { concat, mutate, NASTY, Rng } from "./rng.ts";
import type { Finding, Target } from "./targets.ts";
import { HTTP_OK, LEAK, leakFinding } from "./oracle.ts";
import { serveConns } from "../_fixtures/conn_server.ts";
import { exchange, type World, writeAll } from "./world.ts";
import { Turns } from "./turns.ts";

/** Where the hostile device listens (its own loopback address: a device of its own). */
export const DEVICE_HOST = "127.0.0.2";

const enc = new TextEncoder();
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

/** A request as the device read it. */
interface DeviceRequest {
  method: string;
  target: string;
  body: string;
}

/** The device's answer: bytes to write, null to never answer, or "close" to hang up. */
export type Answer = (req: DeviceRequest) => Promise<Uint8Array | null | "close">;

/** The hostile device's listener. */
export interface HostileDevice {
  port: number;
  /** Answers the requests whose target holds `/fz/{key}/` with `answer`. */
  script(key: string, answer: Answer): void;
  /** Forgets a case's script. */
  forget(key: string): void;
  /** Answers every other request (the ONVIF services, the snapshot) with `answer`. */
  onvif(answer: Answer): void;
  /** The well-formed camera's ONVIF services (its events, PTZ head, clock…). */
  readonly options: OnvifOptions;
  /** How many times each ONVIF call was asked (by the operators' asks and the node's polls). */
  readonly calls: Map<string, number>;
  close(): Promise<void>;
}

/** A 1×1 JPEG-ish picture: what the snapshot URI gives. */
const PICTURE = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]);

/** The ONVIF services the well-formed camera offers: all of them. */
function onvifOptions(): OnvifOptions {
  return {
    events: new CameraEvents(),
    ptz: new CameraPtz(),
    focus: new CameraFocus(),
    reboot: new CameraReboot(),
    time: new CameraTime(),
    relays: new CameraRelays(),
    recordings: new CameraRecordings(),
  };
}

/** An answer before it is written: what a well-formed camera would send. */
interface Base {
  status: number;
  reason: string;
  headers: [string, string][];
  body: Uint8Array;
}

/** What the well-formed camera answers `req` (an ONVIF call, its snapshot, a web page). */
async function wellFormed(req: DeviceRequest, opts: OnvifOptions): Promise<Base> {
  const path = req.target.split("?")[0];
  const soap = path.startsWith("/onvif/")
    ? await onvifAnswer(path, req.body, opts).catch(() => null)
    : null;
  if (soap) {
    return {
      status: soap.status,
      reason: soap.statusText || "OK",
      headers: [...soap.headers],
      body: new Uint8Array(await soap.arrayBuffer()),
    };
  }
  if (req.target === ONVIF_SNAPSHOT_PATH) {
    return { status: 200, reason: "OK", headers: [["Content-Type", "image/jpeg"]], body: PICTURE };
  }
  return {
    status: 200,
    reason: "OK",
    headers: [["Content-Type", "text/html"], ["Set-Cookie", "sid=1; Path=/; HttpOnly"]],
    body: enc.encode(
      `<!doctype html><html><head><title>cam</title></head><body>` +
        `<a href="/doc/page/login.asp">login</a><img src="/snapshot.jpg"></body></html>`,
    ),
  };
}

/** Makes an XML or HTML body hostile: tags repeated open, a DTD, entities, long texts, a cut. */
function hostileBody(rng: Rng, body: Uint8Array): Uint8Array {
  const text = latin1(body);
  const tags = [...text.matchAll(/<([A-Za-z_][\w.-]*:?[\w.-]*)[\s>]/g)].map((m) => m[1]);
  const tag = tags.length ? rng.pick(tags) : "X";
  const at = rng.int(text.length + 1);
  switch (rng.int(7)) {
    case 0: // its opening tag repeated, never closed (up to 200 KB)
      return enc.encode(
        text.slice(0, at) + `<${tag}>`.repeat(1 + rng.int(200_000 / (tag.length + 2))) +
          text.slice(at),
      );
    case 1: // a DTD with an entity, and the entity used
      return enc.encode(
        `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "${"e".repeat(rng.size(5000))}">]>` +
          text.replace(/>([^<]{1,20})</, ">&e;&e;$1<"),
      );
    case 2: // a text far too long, or numeric references out of range
      return enc.encode(
        text.replace(
          /<\/([\w:.-]+)>/,
          (m) =>
            (rng.chance(0.5)
              ? "a".repeat(rng.size(70_000))
              : "&#0;&#x110000;&#99999999;&bogus;&amp") + m,
        ),
      );
    case 3: // one element's block repeated many times
      return enc.encode(
        text.replace(/<([\w:.-]+)[^>]*>[^<]*<\/\1>/, (m) => m.repeat(1 + rng.int(5000))),
      );
    case 4: // cut anywhere
      return body.subarray(0, at);
    case 5: // nested deep
      return enc.encode(
        `<${tag}>`.repeat(rng.size(20_000)) + text + `</${tag}>`.repeat(rng.int(100)),
      );
    default:
      return mutate(rng, body);
  }
}

/** Writes `b` as HTTP/1.1 bytes: honest mostly, else with framing and heads of every kind. */
function serialize(rng: Rng, b: Base, tame: boolean): Uint8Array {
  let body = b.body;
  let status = `HTTP/1.1 ${b.status} ${b.reason}`;
  const headers = [...b.headers.filter(([k]) => !/^(content-length|transfer-encoding)$/i.test(k))];
  if (!tame && rng.chance(0.25)) body = hostileBody(rng, body);
  if (!tame && rng.chance(0.08)) {
    status = rng.pick([
      "HTTP/1.1 200",
      "HTTP/1.1 99 Odd",
      "HTTP/1.1 999 Odd",
      "HTTP/1.0 200 OK",
      "HTTP/2 200",
      "ICY 200 OK",
      `HTTP/1.1 ${rng.pick([204, 304, 401, 500, 302])} ${rng.pick(NASTY)}`,
      rng.pick(NASTY),
    ]);
  }
  if (!tame && rng.chance(0.1)) {
    const odd: [string, string][] = [
      ["X-Folded", "a\r\n b"],
      ["", "no name"],
      ["Bad Name", "v"],
      ["X-Nul", "a\u0000b"],
      ["X-Long", "v".repeat(rng.size(70_000))],
      [
        "Set-Cookie",
        rng.pick(["__Host-x=1; Path=/", "nc_session=evil; Path=/", "a=b; Domain=evil.test"]),
      ],
      [
        "Location",
        rng.pick(["javascript:alert(1)", "//evil.test/", "http://127.0.0.2/x", rng.pick(NASTY)]),
      ],
      [
        "WWW-Authenticate",
        rng.pick(['Digest realm="cam", nonce="n", qop="auth-int,auth"', "Basic", rng.pick(NASTY)]),
      ],
      [
        "Content-Type",
        rng.pick(["application/soap+xml; charset=utf-16", "text/html; charset=x", ""]),
      ],
    ];
    for (let n = 1 + rng.int(3); n > 0; n--) headers.push(rng.pick(odd));
    if (rng.chance(0.1)) { for (let i = 0; i < 300; i++) headers.push([`X-H${i}`, "v"]); }
  }
  const framing = tame || rng.chance(0.7) ? 0 : 1 + rng.int(10);
  const head = (extra: [string, string][]) =>
    enc.encode(
      [status, ...[...headers, ...extra].map(([k, v]) => `${k}: ${v}`)].join("\r\n") + "\r\n\r\n",
    );
  const chunked = (size: (n: number) => string, last = "0\r\n\r\n") => {
    const parts: Uint8Array[] = [];
    for (let at = 0; at < body.length;) {
      const n = 1 + rng.int(4096);
      const piece = body.subarray(at, at + n);
      parts.push(enc.encode(`${size(piece.length)}\r\n`), piece, enc.encode("\r\n"));
      at += n;
    }
    return concat(head([["Transfer-Encoding", "chunked"]]), ...parts, enc.encode(last));
  };
  let out: Uint8Array;
  switch (framing) {
    case 0:
      out = concat(head([["Content-Length", String(body.length)]]), body);
      break;
    case 1:
      out = chunked((n) => n.toString(16));
      break;
    case 2: // a length that lies short or long
      out = concat(
        head([[
          "Content-Length",
          String(Math.max(0, body.length + rng.pick([-5, 1, 1000, -body.length]))),
        ]]),
        body,
      );
      break;
    case 3:
      out = concat(
        head([[
          "Content-Length",
          rng.pick(["abc", "-1", "1e3", "99999999999999999999", "5, 6", ""]),
        ]]),
        body,
      );
      break;
    case 4: // both
      out = concat(head([["Content-Length", "3"], ["Transfer-Encoding", "chunked"]]), body);
      break;
    case 5:
      out = chunked(() =>
        rng.pick(["zz", "7fffffffffffffff", "-1", "1;ext=" + "x".repeat(rng.size(9000)), ""])
      );
      break;
    case 6: // no final chunk
      out = chunked(
        (n) => n.toString(16),
        rng.pick(["", "0\r\n", "0\r\nX-Trailer: " + rng.pick(NASTY) + "\r\n\r\n"]),
      );
      break;
    case 7: // neither: the body ends when the device hangs up
      out = concat(head([]), body);
      break;
    case 8: // an interim answer first
      out = concat(
        enc.encode(
          rng.pick([
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            "HTTP/1.1 101 Switching\r\n\r\n",
          ]),
        ),
        head([["Content-Length", String(body.length)]]),
        body,
      );
      break;
    case 9: // bare LF line ends
      out = concat(
        enc.encode(latin1(head([["Content-Length", String(body.length)]])).replace(/\r\n/g, "\n")),
        body,
      );
      break;
    default:
      out = concat(
        head([["Content-Length", String(body.length)], [
          "Content-Encoding",
          rng.pick(["gzip", "br", "x"]),
        ]]),
        body,
      );
  }
  if (!tame && rng.chance(0.04)) out = mutate(rng, out);
  return out;
}

/**
 * A device's answers for one case: the well-formed camera's (`tame`), else made hostile; some
 * requests never answered, or hung up on.
 */
export function answerer(rng: Rng, tame: boolean, opts: OnvifOptions): Answer {
  return async (req) => {
    if (!tame && rng.chance(0.04)) return rng.chance(0.5) ? null : "close";
    const bytes = serialize(rng, await wellFormed(req, opts), tame);
    if (!tame && rng.chance(0.03)) return bytes.subarray(0, rng.int(bytes.length));
    return bytes;
  };
}

/** Starts the hostile device on {@link DEVICE_HOST}. */
export function hostileDevice(): HostileDevice {
  const listener = Deno.listen({ hostname: DEVICE_HOST, port: 0 });
  const scripts = new Map<string, Answer>();
  const opts = onvifOptions();
  let onvif: Answer = answerer(new Rng(1), true, opts);
  const calls = new Map<string, number>();
  const serve = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(64 << 10);
    let pending: Uint8Array = new Uint8Array(0);
    const hangUp = () => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    try {
      for (;;) {
        const text = latin1(pending);
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) {
          if (pending.length > 128 << 10) return;
          const n = await conn.read(buf);
          if (n === null) return;
          pending = concat(pending, buf.subarray(0, n));
          continue;
        }
        const head = text.slice(0, end);
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        while (pending.length < end + 4 + length) {
          const n = await conn.read(buf);
          if (n === null) return;
          pending = concat(pending, buf.subarray(0, n));
        }
        const [method = "", target = ""] = head.split(" ");
        const body = latin1(pending.subarray(end + 4, end + 4 + length));
        pending = pending.subarray(end + 4 + length);
        const call = /<(?:\w+:)?Body>\s*<(?:\w+:)?(\w+)/.exec(body)?.[1];
        if (call) calls.set(call, (calls.get(call) ?? 0) + 1);
        const key = /\/fz\/([a-z0-9-]+)\//.exec(target)?.[1];
        const answer = key === undefined ? onvif : scripts.get(key);
        if (!answer) return;
        const out = await answer({ method, target, body }).catch(() => "close" as const);
        if (out === "close") return;
        if (out === null) {
          // Never answered: wait for the cloud to give up on it.
          while ((await conn.read(buf)) !== null) { /* drain */ }
          return;
        }
        await writeAll(conn, out);
      }
    } catch {
      /* the cloud closed it */
    } finally {
      hangUp();
    }
  };
  const server = serveConns(listener, serve);
  return {
    port: server.port,
    script: (key, answer) => scripts.set(key, answer),
    forget: (key) => scripts.delete(key),
    onvif: (answer) => (onvif = answer),
    options: opts,
    calls,
    async close() {
      await server.close();
      opts.events?.close();
    },
  };
}

/** How long an ONVIF case waits for its turn before it is skipped. */
const TURN_WAIT_MS = 9_000;

/** The operator's ONVIF asks: the camera controls and questions of the live page. */
const ONVIF_CALLS: [string, string, unknown?][] = [
  ["POST", "onvif", {}],
  ["GET", "ptz/presets"],
  ["POST", "ptz", { action: "move", pan: 0.5, tilt: 0, zoom: 0 }],
  ["POST", "ptz", { action: "stop" }],
  ["POST", "ptz", { action: "preset", preset: "Preset_1" }],
  ["POST", "ptz", { action: "save", name: "Gate" }],
  ["POST", "focus", { action: "ask" }],
  ["POST", "focus", { action: "nudge", speed: -0.5 }],
  ["POST", "focus", { action: "auto" }],
  ["GET", "relays"],
  ["POST", "relays", { token: "AlarmOut_0", state: "active" }],
  ["POST", "clock", { action: "read" }],
  ["POST", "recording", {}],
  ["POST", "recording/events", { from: "2026-12-05T18:00:00Z" }],
  ["GET", "snapshot.jpg"],
];

/** The run's turn for ONVIF cases (the services' paths are the camera's own) and its counts. */
interface RunState {
  /** The ONVIF cases take turns (the services' paths are the camera's own). */
  turns: Turns;
  counts: { answered: number; tame: number; proxied: number; skipped: number };
}
const runs = new WeakMap<World, RunState>();
function stateOf(w: World): RunState {
  let st = runs.get(w);
  if (!st) {
    st = { turns: new Turns(), counts: { answered: 0, tame: 0, proxied: 0, skipped: 0 } };
    runs.set(w, st);
  }
  return st;
}

/** Sends `request` to the cloud and reads its answer for up to `ms` (or until it is whole). */
async function ask(w: World, request: Uint8Array, ms: number): Promise<string> {
  return latin1(await exchange(w.stack.ports.http, request, { ms }).catch(() => new Uint8Array(0)));
}

/** The target. */
export const device: Target = {
  name: "device",
  async run(w, rng, n) {
    const st = stateOf(w);
    const tame = n % 8 === 0;
    const r = tame ? new Rng(rng.next()) : rng;
    const h = w.handles.device;
    const auth = `Authorization: Bearer ${w.a.apiToken}\r\n`;
    const findings: Finding[] = [];
    if (!tame && rng.chance(0.4)) {
      // The browser proxy: the device's answer reaches the operator, rewritten.
      const key = `${n.toString(36)}-${rng.next().toString(36)}`;
      const sent: Uint8Array[] = [];
      const answer = answerer(r, false, w.device.options);
      w.device.script(key, async (req) => {
        const out = await answer(req);
        if (out instanceof Uint8Array) sent.push(out);
        return out;
      });
      const input = `GET /c/${h}/fz/${key}/page?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}` +
        "Connection: close\r\n\r\n";
      const got = await ask(w, enc.encode(input), 3_000);
      w.device.forget(key);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      const fromDevice = latin1(concat(...sent));
      if (status) st.counts.answered++;
      if (status === 200) st.counts.proxied++;
      const theirs = new RegExp(`^HTTP/1\\.[01] ${status}\\b`, "m").test(fromDevice);
      if (status && !HTTP_OK.has(status) && !theirs) {
        findings.push({
          kind: `HTTP ${status} through the proxy`,
          detail: got.slice(0, 300),
          input,
        });
      }
      // What the device itself sent is passed on as it was.
      const leak = leakFinding(got, input, "internals in a proxied answer");
      if (leak && !fromDevice.includes(LEAK.exec(got)![0])) findings.push(leak);
      // A device's cookie that could overwrite the cloud's never reaches the browser (README
      // "Browser proxy isolation").
      const cookie = /^set-cookie:\s*(?:nc_|__host-|__secure-)[^\r\n]*/im.exec(got);
      if (cookie) {
        findings.push({ kind: "a device cookie over the cloud's", detail: cookie[0], input });
      }
      return findings;
    }
    // An ONVIF ask, in turn (a case that waited its whole time for one is skipped: a case has 15 s).
    const release = await st.turns.take(TURN_WAIT_MS);
    if (!release) {
      st.counts.skipped++;
      return findings;
    }
    try {
      w.device.onvif(answerer(r, tame, w.device.options));
      const [method, path, body] = tame ? ONVIF_CALLS[0] : rng.pick(ONVIF_CALLS);
      const json = body === undefined ? "" : JSON.stringify(body);
      const input = `${method} /api/handles/${h}/${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}` +
        (json ? `Content-Type: application/json\r\nContent-Length: ${json.length}\r\n` : "") +
        `Connection: close\r\n\r\n${json}`;
      const got = await ask(w, enc.encode(input), tame ? 10_000 : 4_000);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      if (!status) return findings; // still asking the camera when the operator left
      st.counts.answered++;
      if (tame && status === 200) st.counts.tame++;
      // 501: a camera that tells no snapshot URL (README "Snapshots").
      if (!HTTP_OK.has(status) && status !== 501) {
        findings.push({ kind: `HTTP ${status}`, detail: got.slice(0, 300), input });
      }
      const leak = leakFinding(got, input);
      if (leak) findings.push(leak);
      return findings;
    } finally {
      release();
    }
  },
  checks: (w) => ({
    ...stateOf(w).counts,
    // The node's own polls of the motion alerts' pull point, answered hostile too.
    pulls: w.device.calls.get("PullMessages") ?? 0,
    soapCalls: [...w.device.calls.values()].reduce((a, b) => a + b, 0),
  }),
};
