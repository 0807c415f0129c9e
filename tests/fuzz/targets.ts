/**
 * The fuzz targets: each turns a seeded random source into one hostile exchange with the real
 * cloud and reports what its oracle saw. HTTP/1.1 requests (the parser, the proxy's request
 * checks, upgrades, the JSON endpoints), enrollment and claim bodies, stateful RTSP sessions,
 * WebSocket frames on an open tunnel and garbage on the data port, control-stream messages sent
 * with a valid agent certificate, the internal listener's frames (interrelay_target.ts) and a
 * compromised agent's mux frames (datamux_target.ts), a hostile camera (camera_target.ts), device
 * web port (device_target.ts), LAN answering ONVIF probes (discovery_target.ts), SSH server
 * behind the browser terminal (terminal_target.ts) and HTTPS device (https_target.ts).
 * Process-wide oracles (the node and its agents still run, nothing reached the last-resort
 * handler, memory within a bound, devices saw nothing they must not) are checked by main.ts
 * between cases.
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import * as tls from "node:tls";
import { controlServiceDefinition, encodeAgentMessage } from "../../src/shared/protocol/control.ts";
import type { AgentMessage } from "../../src/shared/protocol/control.ts";
import { DATA_HEADER_SIZE, PROTOCOL_VERSION } from "../../src/shared/protocol/wire.ts";
import { EARLY_DATA_HEADER, EARLY_MAX } from "../../src/shared/transport/early_data.ts";
import { V2_SIGNATURE } from "../../src/cloud/access/proxy_protocol.ts";
import { concat, mutate, NASTY, type Rng } from "./rng.ts";
import { completeResponse, exchange, type World, writeAll } from "./world.ts";
import { interrelay } from "./interrelay_target.ts";
import { datamux } from "./datamux_target.ts";
import { HTTP_OK, LEAK } from "./oracle.ts";
import { camera } from "./camera_target.ts";
import { device } from "./device_target.ts";
import { discovery } from "./discovery_target.ts";
import { terminal } from "./terminal_target.ts";
import { https } from "./https_target.ts";
import { gateway } from "./gateway_target.ts";

/** What one case found wrong (nothing when it held). */
export interface Finding {
  kind: string;
  detail: string;
  /** The input, as latin1 text (or a description for structured inputs). */
  input: string;
}

/** One fuzz target. */
export interface Target {
  name: string;
  /** Runs case `n` (its number names it in findings that surface in a later case). */
  run(w: World, rng: Rng, n: number): Promise<Finding[]>;
  /**
   * How many cases reached each of the target's own checks so far (a case may end before its
   * check: no ticket, no open), so a run shows its oracle was exercised, not only called.
   */
  checks?(w: World): Record<string, number>;
}

const enc = new TextEncoder();
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

/** RTSP statuses the gateway (or the fake camera) sends. */
const RTSP_OK = new Set([200, 400, 401, 403, 404, 405, 454, 459, 461, 501, 502, 503, 504]);

function statusFindings(
  answer: Uint8Array,
  proto: "HTTP" | "RTSP",
  allowed: Set<number>,
  input: Uint8Array,
): Finding[] {
  const text = latin1(answer);
  const out: Finding[] = [];
  for (const m of text.matchAll(new RegExp(`${proto}/1\\.[01] (\\d{3})`, "g"))) {
    const status = Number(m[1]);
    if (!allowed.has(status)) {
      out.push({ kind: `${proto} ${status}`, detail: text.slice(0, 300), input: latin1(input) });
    }
  }
  const leak = LEAK.exec(text);
  if (leak) {
    out.push({
      kind: "internals in a response",
      detail: text.slice(Math.max(0, leak.index - 100), leak.index + 100),
      input: latin1(input),
    });
  }
  return out;
}

function routes(w: World): string[] {
  const h = w.handles;
  return [
    `/api/tunnel/${h.echo}`,
    `/api/tunnel/${w.foreignHandle}`,
    `/api/tunnel/${h.http}`,
    "/api/cli/raw-tunnel/127.0.0.2/80",
    `/c/${h.http}/`,
    `/c/${h.http}/index.html?q=1`,
    `/c/${h.http}/a/b/../c`,
    `/c/${w.foreignHandle}/`,
    "/c/h-unknownunknownunknown/",
    "/api/auth/login",
    "/api/agents/enroll",
    "/claim",
    "/api/sites",
    `/api/sites/${w.a.siteId}/devices`,
    "/api/audit?limit=100",
    "/api/admin/tenants",
    `/api/handles/${h.rtsp}/rtsp-url`,
    `/api/handles/${h.http}/onvif`,
    `/api/handles/${h.rtsp}/ptz`,
    `/api/handles/${h.rtsp}/ptz/presets`,
    `/api/handles/${h.rtsp}/focus`,
    `/api/handles/${h.rtsp}/reboot`,
    `/api/handles/${h.rtsp}/clock`,
    `/api/handles/${h.rtsp}/relays`,
    `/api/handles/${h.rtsp}/recording`,
    `/api/handles/${h.rtsp}/recording/events`,
    `/api/live/${h.rtsp}?path=/replay&from=2026-12-06T03:00:00Z`,
    `/api/live/${h.rtsp}/clip.mp4?path=/replay&from=2026-12-06T03:00:00Z&seconds=5`,
    `/api/live/${h.rtsp}?path=/replay&from=2026-12-06T03:00:00Z&speed=4`,
    `/api/live/${h.rtsp}/record.mp4?path=/live&seconds=5`,
    `/live/${h.rtsp}?path=/live&replay=/replay&from=2026-12-06T03:00:00Z&speed=8`,
    `/live/${h.rtsp}?path=/live&replay=/replay&from=2026-12-06T03:00:00Z`,
    `/api/events?site=${w.a.siteId}&unread=1`,
    `/api/events/read`,
    `/events.csv?site=${w.a.siteId}`,
    `/api/sites/${w.a.siteId}/onvif`,
    `/api/sites/${w.a.siteId}/clocks`,
    `/api/sites/${w.a.siteId}/credentials`,
    `/api/sites/${w.a.siteId}/motion-alerts`,
    `/api/devices/${w.a.device.deviceId}`,
    `/api/devices/${w.a.device.deviceId}/motion`,
    `/api/devices/${w.a.device.deviceId}/alerts/snooze`,
    `/api/devices/${w.a.device.deviceId}/alerts/resume`,
    `/events?device=${w.a.device.deviceId}&unread=1`,
    `/events.csv?device=${w.a.device.deviceId}&from=2026-12-01T00:00&to=yesterday`,
    "/api/webhooks",
    "/api/users",
    "/api/event-snapshots/no-such.jpg",
    "/api/event-snapshots/no-such.jpg?t=t_1&exp=99999999999&sig=AAAA",
    "/login?next=/sites",
    "/",
    "/healthz/ready",
    "/api/openapi.json",
  ];
}

function credentials(w: World, rng: Rng): string[] {
  const options = [
    [],
    [`Authorization: Bearer ${w.a.apiToken}`],
    [`Authorization: Bearer ${w.b.apiToken}`],
    [`Authorization: Bearer nt_${"A".repeat(43)}`],
    [`Authorization: Basic ${btoa("op:" + w.a.apiToken)}`],
    ["Cookie: nc_session=garbage; nc_session=other"],
    ["X-Admin-Api-Key: nope"],
    [`X-License: ${crypto.randomUUID()}`, "X-User-Id: 1"],
    [`Authorization: Bearer ${w.a.apiToken}`, `X-License: ${crypto.randomUUID()}`],
    [`Authorization: Bearer ${w.a.apiToken}`, "X-Forwarded-For: ][, 999.1.1.1"],
  ];
  return rng.pick(options);
}

function httpRequest(w: World, rng: Rng, path?: string, bodyText?: string): Uint8Array {
  const method = rng.pick(["GET", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]);
  // One in ten: an upgrade to a tunnel the caller may open, often with early data.
  const tunnel = path === undefined && rng.chance(0.1);
  let target = path ??
    (tunnel
      ? rng.pick([`/api/tunnel/${w.handles.echo}`, `/api/tunnel/${w.handles.http}`])
      : rng.pick(routes(w)));
  if (rng.chance(0.3)) {
    const at = rng.int(target.length + 1);
    target = target.slice(0, at) + rng.pick(NASTY) + target.slice(at);
  }
  const headers = [`Host: ${rng.chance(0.9) ? "127.0.0.1" : rng.pick(NASTY)}`];
  headers.push(...(tunnel ? [`Authorization: Bearer ${w.a.apiToken}`] : credentials(w, rng)));
  if (tunnel || rng.chance(0.3)) {
    headers.push(
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    );
    if (rng.chance(0.5)) headers.push(`Origin: ${rng.pick(["null", "http://evil.example"])}`);
    if (rng.chance(tunnel ? 0.7 : 0.3)) {
      // Early data (the CLI's first client bytes, carried in the upgrade): good, bad, too long.
      headers.push(`${EARLY_DATA_HEADER}: ${
        rng.pick([
          Buffer.from(rng.bytes(1 + rng.int(EARLY_MAX))).toString("base64"),
          btoa("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
          Buffer.from(rng.bytes(EARLY_MAX + 1)).toString("base64"),
          rng.pick(NASTY),
          "====",
          "",
        ])
      }`);
    }
  } else {
    headers.push("Connection: close");
  }
  const body = bodyText ??
    (rng.chance(0.5)
      ? JSON.stringify(
        rng.pick([
          { email: "a@b.c", password: rng.pick(NASTY), siteIds: [rng.pick(NASTY)] },
          // An email alert (this cloud has no mail server) and a camera's quiet period.
          { url: `mailto:${rng.pick(NASTY)}@example.com`, events: ["device.down"] },
          // A chat webhook: a format, a bad one, one on an email.
          {
            url: rng.pick(["https://127.0.0.1:9/hook", "mailto:a@example.com"]),
            events: ["device.down"],
            format: rng.pick(["slack", "teams", "irc", "", null, 7, rng.pick(NASTY)]),
          },
          { alertQuietSeconds: rng.pick([0, -1, 86_401, 1e300, "60", null]) },
          { email: `${rng.pick(NASTY)}@example.com`, role: "viewer" },
          // A camera's pan/tilt/zoom: moves in and out of range, presets, other actions.
          {
            action: rng.pick(["move", "stop", "preset", "spin", "", null]),
            pan: rng.pick([0.5, -1, 2, 1e300, "1", null]),
            preset: rng.pick(["1", "", rng.pick(NASTY), 7]),
          },
          // Marking events read: some, all, nonsense.
          { seqs: rng.pick([[1, 2], [], [-1, 1e300], ["x"], null]) },
        ]),
      )
      : "");
  const framing = rng.int(5);
  if (framing === 0 || body) headers.push(`Content-Length: ${enc.encode(body).length}`);
  if (framing === 1) headers.push("Transfer-Encoding: chunked");
  if (framing === 2) headers.push("Content-Length: 5", "Content-Length: 6");
  if (framing === 3) headers.push(`Content-Length: ${rng.pick(["-1", "1e3", "99999999999"])}`);
  if (body) headers.push("Content-Type: application/json");
  if (rng.chance(0.1)) headers.push(`X-Long: ${"x".repeat(rng.pick([100, 9000, 70000]))}`);
  if (rng.chance(0.3)) {
    // The client as a trusted proxy names it (the world trusts 127.0.0.1): IPv4, IPv6 in every
    // spelling, chains, and garbage.
    headers.push(`X-Forwarded-For: ${
      rng.pick([
        `198.51.100.${rng.int(256)}`,
        `2001:db8:${rng.int(65536).toString(16)}::${rng.int(65536).toString(16)}`,
        "::ffff:198.51.100.7",
        "fe80::1%eth0",
        "64:ff9b::192.0.2.33",
        "::",
        "198.51.100.1, 127.0.0.1",
        "2001:db8::1, 2001:db8::2",
        rng.pick(NASTY),
        "",
        ",,,",
      ])
    }`);
  }
  let bytes: Uint8Array = enc.encode(
    `${method} ${target} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n${body}`,
  );
  if (rng.chance(0.5)) bytes = mutate(rng, bytes);
  return bytes;
}

/** What the device must never see: a path escape, or one of the cloud's credentials. */
export function deviceViolations(w: World, from: number): Finding[] {
  const out: Finding[] = [];
  for (const hit of w.deviceHits.slice(from)) {
    // The path only: the proxy passes a query through as sent (`?q=../x` is a value, not a
    // segment; a device's server splits at the first "?" before it resolves anything).
    const q = hit.target.indexOf("?");
    const path = q >= 0 ? hit.target.slice(0, q) : hit.target;
    let decoded = path;
    try {
      decoded = decodeURIComponent(path);
    } catch { /* keep raw */ }
    if (/(^|\/)\.\.(\/|$)|\\/.test(decoded)) {
      out.push({ kind: "device saw a path escape", detail: hit.target, input: "" });
    }
    for (const [k, v] of hit.headers) {
      if (
        (k === "authorization" && /Bearer|nt_|ops_/.test(v)) ||
        (k === "cookie" && /nc_session/.test(v)) ||
        k === "x-admin-api-key" || k === "x-license"
      ) {
        out.push({ kind: "device saw a cloud credential", detail: `${k}: ${v}`, input: "" });
      }
    }
  }
  return out;
}

/**
 * A balancer's PROXY protocol header (the world trusts 127.0.0.1 as a proxy, so the cloud reads
 * one at the start of its HTTP and RTSP connections): v1 and v2, good, malformed and cut short.
 */
function proxyHeader(rng: Rng, port: number): Uint8Array {
  const sig = [...V2_SIGNATURE];
  return rng.pick([
    enc.encode(`PROXY TCP4 198.51.100.${rng.int(256)} 127.0.0.1 ${rng.int(65536)} ${port}\r\n`),
    enc.encode("PROXY TCP6 2001:db8::1 ::1 1 2\r\n"),
    enc.encode("PROXY UNKNOWN\r\n"),
    enc.encode(`PROXY ${rng.pick(NASTY)}\r\n`),
    enc.encode(`PROXY TCP4 ${"9".repeat(rng.int(200))}`),
    new Uint8Array([...sig, 0x21, 0x11, 0, 12, 198, 51, 100, 7, 127, 0, 0, 1, 0, 1, 0, 2]),
    new Uint8Array([...sig, 0x20, 0x00, 0, 0]),
    mutate(rng, new Uint8Array([...sig, 0x21, 0x21, 0, 36, ...rng.bytes(36)])),
    new Uint8Array([...sig, rng.int(256), rng.int(256), rng.int(256), rng.int(256)]),
  ]);
}

const http: Target = {
  name: "http",
  async run(w, rng) {
    let input = httpRequest(w, rng);
    if (rng.chance(0.2)) input = concat(proxyHeader(rng, w.stack.ports.http), input);
    const split = rng.chance(0.2) ? rng.int(input.length) : undefined;
    const answer = await exchange(w.stack.ports.http, input, {
      split,
      done: completeResponse,
      idleMs: 500,
    });
    return statusFindings(answer, "HTTP", HTTP_OK, input);
  },
};

const enroll: Target = {
  name: "enroll",
  async run(w, rng) {
    const fields: Record<string, unknown> = {
      token: rng.pick([`enr_${"a".repeat(43)}`, "enr_", rng.pick(NASTY), 5, null]),
      csr: rng.pick([
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
        rng.pick(NASTY),
        "x".repeat(rng.size(70000)),
      ]),
      hostname: rng.pick(["site-pc", rng.pick(NASTY), "h".repeat(rng.size(5000)), 1]),
      os: rng.pick(["linux", rng.pick(NASTY), {}]),
      version: rng.pick(["0.1.0", [], rng.pick(NASTY)]),
      serial: rng.pick(["SN-0001", rng.pick(NASTY), "s".repeat(300)]),
    };
    for (const k of Object.keys(fields)) if (rng.chance(0.2)) delete fields[k];
    let body = JSON.stringify(fields);
    if (rng.chance(0.3)) body = latin1(mutate(rng, enc.encode(body)));
    const path = rng.pick(["/api/agents/enroll", "/claim"]);
    const input = httpRequest(w, rng, path, body);
    const answer = await exchange(w.stack.ports.http, input, {
      done: completeResponse,
      idleMs: 500,
    });
    return statusFindings(answer, "HTTP", HTTP_OK, input);
  },
};

const rtsp: Target = {
  name: "rtsp",
  async run(w, rng) {
    const gw = `127.0.0.1:${w.stack.ports.rtsp}`;
    const handle = rng.pick([
      w.handles.rtsp,
      w.handles.rtsp,
      w.foreignHandle,
      `${w.handles.rtsp}.${rng.pick(NASTY)}`,
      rng.pick(NASTY),
    ]);
    const url = `rtsp://${rng.chance(0.9) ? gw : rng.pick(NASTY)}/${handle}/live${
      rng.chance(0.2) ? rng.pick(NASTY) : ""
    }`;
    const auth = rng.pick([
      "",
      `Authorization: Basic ${btoa("op:" + w.a.apiToken)}\r\n`,
      `Authorization: Basic ${btoa("op:" + w.b.apiToken)}\r\n`,
      `Authorization: Basic ${rng.pick(NASTY)}\r\n`,
    ]);
    const parts: Uint8Array[] = [];
    if (rng.chance(0.3)) parts.push(proxyHeader(rng, w.stack.ports.rtsp));
    const n = 1 + rng.int(5);
    for (let i = 1; i <= n; i++) {
      const kind = rng.int(8);
      if (kind === 0) {
        // An interleaved frame, its length honest or not.
        const payload = rng.bytes(rng.size(2000));
        const len = rng.chance(0.7) ? payload.length : rng.int(65536);
        parts.push(concat(new Uint8Array([0x24, rng.int(4), len >> 8, len & 0xff]), payload));
        continue;
      }
      const method = rng.pick([
        "OPTIONS",
        "DESCRIBE",
        "SETUP",
        "PLAY",
        "PAUSE",
        "TEARDOWN",
        "GET_PARAMETER",
        "ANNOUNCE",
        rng.pick(NASTY),
      ]);
      const transport = rng.pick([
        "RTP/AVP/TCP;unicast;interleaved=0-1",
        "RTP/AVP;unicast;client_port=5000-5001",
        rng.pick(NASTY),
      ]);
      const body = rng.chance(0.2) ? "v=0\r\n" + rng.pick(NASTY) : "";
      const length = rng.chance(0.8) ? enc.encode(body).length : rng.int(100000);
      let msg: Uint8Array = enc.encode(
        `${method} ${url}${method === "SETUP" ? "/stream=0" : ""} RTSP/1.0\r\nCSeq: ${
          rng.chance(0.9) ? i : rng.pick(NASTY)
        }\r\n${auth}${method === "SETUP" ? `Transport: ${transport}\r\n` : ""}` +
          `Session: ${rng.pick(["x", "12345678", ""])}\r\n` +
          (body || length ? `Content-Length: ${length}\r\n` : "") + `\r\n${body}`,
      );
      if (rng.chance(0.4)) msg = mutate(rng, msg);
      parts.push(msg);
    }
    const input = concat(...parts);
    const answer = await exchange(w.stack.ports.rtsp, input, {
      ms: 1_000,
      idleMs: 250,
      split: rng.chance(0.3) ? rng.int(input.length) : undefined,
    });
    return statusFindings(answer, "RTSP", RTSP_OK, input);
  },
};

/** One WebSocket frame with arbitrary header bits and length encoding. */
function wsFrame(rng: Rng): Uint8Array {
  const payload = rng.bytes(rng.size(70000));
  const fin = rng.chance(0.8) ? 0x80 : 0;
  const rsv = rng.chance(0.1) ? (rng.int(8) << 4) : 0;
  const opcode = rng.pick([0x0, 0x1, 0x2, 0x2, 0x2, 0x8, 0x9, 0xa, 0x3, 0xb]);
  const masked = rng.chance(0.9);
  const len = rng.chance(0.9) ? payload.length : rng.int(1 << 30);
  const head: number[] = [fin | rsv | opcode];
  const m = masked ? 0x80 : 0;
  if (len < 126 && rng.chance(0.9)) head.push(m | len);
  else if (len < 65536 && rng.chance(0.9)) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(
      m | 127,
      0,
      0,
      0,
      0,
      (len >>> 24) & 0xff,
      (len >>> 16) & 0xff,
      (len >>> 8) & 0xff,
      len & 0xff,
    );
  }
  if (masked) head.push(...rng.bytes(4));
  return concat(new Uint8Array(head), payload);
}

const frames: Target = {
  name: "frames",
  async run(w, rng) {
    if (rng.chance(0.5)) {
      // The agents' data port: a TLS client with a garbage header, or no TLS at all.
      const header = rng.chance(0.5)
        ? mutate(rng, new Uint8Array(DATA_HEADER_SIZE))
        : rng.bytes(rng.size(200));
      if (rng.chance(0.3)) {
        await exchange(w.stack.ports.data, header, { ms: 300 });
        return [];
      }
      await new Promise<void>((resolve) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port: w.stack.ports.data,
          rejectUnauthorized: false,
        }, () => s.write(header));
        s.on("error", () => resolve());
        s.on("close", () => resolve());
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 300);
      });
      return [];
    }
    // An open WebSocket tunnel to the echo device, then arbitrary frames.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: w.stack.ports.http });
    try {
      await writeAll(
        conn,
        enc.encode(
          `GET /api/tunnel/${w.handles.echo} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Authorization: Bearer ${w.a.apiToken}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        ),
      );
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const head = n === null ? "" : latin1(buf.subarray(0, n));
      if (!head.startsWith("HTTP/1.1 101")) {
        return head.startsWith("HTTP/1.1 5") && !/^HTTP\/1\.1 50[234]/.test(head)
          ? [{ kind: "tunnel refused with a fault", detail: head.slice(0, 200), input: "" }]
          : [];
      }
      const count = 1 + rng.int(6);
      const sent: Uint8Array[] = [];
      for (let i = 0; i < count; i++) sent.push(wsFrame(rng));
      await writeAll(conn, concat(...sent)).catch(() => {});
      const until = Date.now() + 300;
      const t = setTimeout(() => conn.close(), 400);
      while (Date.now() < until) {
        if ((await conn.read(buf).catch(() => null)) === null) break;
      }
      clearTimeout(t);
    } catch { /* closed */ }
    try {
      conn.close();
    } catch { /* closed */ }
    return [];
  },
};

/** A control client whose serializer passes bytes through, so any message can be sent. */
const RawControl = grpc.makeGenericClientConstructor(
  {
    Connect: {
      ...(controlServiceDefinition as unknown as Record<
        string,
        grpc.MethodDefinition<unknown, unknown>
      >)
        .Connect,
      requestSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  } as unknown as grpc.ServiceDefinition,
  "Control",
);

function randomAgentMessage(w: World, rng: Rng): AgentMessage {
  const s = () => rng.chance(0.8) ? rng.pick(NASTY) : "z".repeat(rng.size(300_000));
  switch (rng.int(5)) {
    case 0:
      return {
        hello: {
          agentId: rng.chance(0.6) ? w.idle.agentId : s(),
          version: s(),
          hostname: s(),
          os: s(),
          protocol: rng.pick([0, 1, 2, 0xffffffff]),
          allowlistVersion: rng.pick([0, 1, Number.MAX_SAFE_INTEGER]),
        },
      } as AgentMessage;
    case 1:
      return {
        heartbeat: {
          activeStreams: rng.int(1 << 30),
          bytesUp: rng.pick([0, Number.MAX_SAFE_INTEGER]),
          bytesDown: rng.int(1 << 30),
          tunnelsOpened: rng.int(1 << 30),
          day: rng.pick(["2026-12-01", s()]),
        },
      } as AgentMessage;
    case 2:
      return {
        tunnelResult: { tunnelId: s(), ok: rng.chance(0.5), code: s(), error: s() },
      } as AgentMessage;
    case 3:
      return {
        tunnelClosed: { tunnelId: s(), bytesUp: 1, bytesDown: 2, reason: s() },
      } as AgentMessage;
    default:
      return {
        discoveryResult: { requestId: s(), devices: [], error: s() },
      } as unknown as AgentMessage;
  }
}

const control: Target = {
  name: "control",
  async run(w, rng) {
    const creds = grpc.credentials.createSsl(
      Buffer.from(w.idle.caPem),
      Buffer.from(w.idle.keyPem),
      Buffer.from(w.idle.certPem),
      { checkServerIdentity: () => undefined },
    );
    const client = new RawControl(`127.0.0.1:${w.stack.ports.control}`, creds, {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.enable_http_proxy": 0,
    }) as unknown as grpc.Client & { Connect(): grpc.ClientDuplexStream<Buffer, Buffer> };
    const call = client.Connect();
    call.on("data", () => {});
    call.on("error", () => {});
    const n = 1 + rng.int(6);
    for (let i = 0; i < n; i++) {
      let msg: Buffer;
      if (Deno.env.get("NC_FUZZ_CONTROL_WELLFORMED")) {
        // What a well-behaved agent sends: a Hello of its own identity, then heartbeats.
        call.write(encodeAgentMessage(
          i === 0
            ? {
              hello: {
                agentId: w.idle.agentId,
                version: "0.1.0",
                hostname: "site-pc",
                os: "linux",
                protocol: PROTOCOL_VERSION,
                allowlistVersion: 0,
              },
            } as AgentMessage
            : {
              heartbeat: {
                activeStreams: 0,
                bytesUp: 0,
                bytesDown: 0,
                tunnelsOpened: 0,
                day: "2026-12-01",
              },
            } as AgentMessage,
        ));
        continue;
      }
      try {
        msg = rng.chance(0.6)
          ? encodeAgentMessage(randomAgentMessage(w, rng))
          : Buffer.from(rng.bytes(rng.size(5000)));
      } catch {
        msg = Buffer.from(rng.bytes(8));
      }
      if (rng.chance(0.3)) msg = Buffer.from(mutate(rng, msg));
      call.write(msg);
    }
    await new Promise((r) => setTimeout(r, 150 + rng.int(200)));
    call.cancel();
    client.close();
    return [];
  },
};

/** Every target, by name. */
export const TARGETS: Target[] = [
  http,
  enroll,
  rtsp,
  frames,
  control,
  interrelay,
  datamux,
  camera,
  device,
  discovery,
  terminal,
  https,
  gateway,
];
