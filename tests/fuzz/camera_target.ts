/**
 * The `camera` fuzz target: a hostile camera. The live view, its recordings and its clips make
 * the cloud speak RTSP to a camera itself (live/rtsp_client.ts) and parse what it sends — the
 * SDP, the sprop parameter sets, RTP headers, H.264 and H.265 aggregation and fragments and
 * parameter sets (H.265's SPS is walked further than H.264's), AAC AU headers, G.711
 * payloads, RTP-Info, Session timeouts — in the node every tenant shares. A camera sits on a
 * customer's LAN, where anyone may have replaced it; what it sends must never take the node
 * down, log an ERROR, answer an operator with a fault or internals, or keep the camera session
 * (and its tunnel) after its last viewer left.
 *
 * Each case scripts one camera session (answers to each request, then a stream of interleaved
 * frames built from a real H.264 or H.265 picture and AAC or G.711 sound, mutated at every
 * level) and plays it as an operator would: the live view's WebSocket (live or a recording at a
 * speed), a recording's clip or the live picture's clip. The camera serves the case's script to the
 * connection that asks for the stream path `/fz/{case key}`, so cases run side by side.
 * @module
 */
import { concat, mutate, NASTY, Rng } from "./rng.ts";
import type { Finding, Target } from "./targets.ts";
import { leakFinding } from "./oracle.ts";
import { serveConns } from "../_fixtures/conn_server.ts";
import { exchange, type World, writeAll } from "./world.ts";

const enc = new TextEncoder();
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
/** Base64 of any bytes (btoa takes one character per byte). */
const toB64 = (b: Uint8Array) => btoa(Array.from(b, (x) => String.fromCharCode(x)).join(""));

/** A real 320×240 Baseline SPS and its PPS, as a camera sends them. */
const SPS_B64 = "Z0LADdoFB+hAAAADAEAAAA8DxQqo";
const PPS_B64 = "aM4PyA==";
const SPS = b64(SPS_B64);
const PPS = b64(PPS_B64);
/** A real 320×240 H.265 Main VPS, SPS and PPS (x265, as the test camera sends them). */
const H265_SETS_B64 = [
  "QAEMAf//AWAAAAMAkAAAAwAAAwA/ugJA",
  "QgEBAWAAAAMAkAAAAwAAAwA/oAoIDxZbpKTC//AAEAAWoMDAwIAAAAMAgAAAB4Q=",
  "RAHAcYMS",
];
const H265_SETS = H265_SETS_B64.map(b64);

/** The picture's encoding a script's SDP says (what else it says, the packets follow it). */
type Codec = "h264" | "h265";

/** The camera session's statuses an operator may see (anything else, a 500 above all, is wrong). */
const STATUSES = new Set([101, 200, 400, 429, 502, 503, 504]);
/** A camera session still open this long after its viewer left is a finding (a request the cloud
 * sent just before may wait 15 s for its answer, a 401 retried twice). */
const LINGER_MS = 45_000;

/** What a scripted camera answers and sends, for one connection. */
interface CameraScript {
  /** The answer to a request (null: none, ever), drawn from the script's own random source. */
  answer(method: string, cseq: string, uri: string): Uint8Array | null;
  /** Closes the connection right after answering this method, if any. */
  closeAfter: string | null;
  /** After PLAY: chunks written one after another, with a pause (ms) before each. */
  media: { bytes: Uint8Array; pauseMs: number }[];
  /** After the media: close the connection, or keep it (answering keep-alives). */
  end: "close" | "hold";
}

/**
 * Where the hostile camera listens: a loopback address of its own, so it is a device of its own,
 * which no other target's requests change or remove (the `http` target's DELETE of the first
 * device once took every camera case's handle with it).
 */
export const CAMERA_HOST = "127.0.0.3";

/** The hostile camera's listener, serving each case's script. */
export interface HostileCamera {
  port: number;
  /** Serves `script` to the connections that ask for `/fz/{key}`. */
  script(key: string, s: CameraScript): void;
  /** Forgets a case (its connections are closed; later ones get nothing). */
  forget(key: string): void;
  /** How many of the case's connections are open, and how many there were. */
  connections(key: string): { open: number; ever: number };
  close(): Promise<void>;
}

/** Starts the hostile camera on {@link CAMERA_HOST}. */
export function hostileCamera(): HostileCamera {
  const listener = Deno.listen({ hostname: CAMERA_HOST, port: 0 });
  const scripts = new Map<string, CameraScript>();
  const conns = new Map<string, { open: Set<Deno.Conn>; ever: number }>();
  const serve = async (conn: Deno.Conn) => {
    let key: string | null = null;
    let script: CameraScript | undefined;
    let pending: Uint8Array = new Uint8Array(0);
    let writes: Promise<unknown> = Promise.resolve();
    const send = (b: Uint8Array) => (writes = writes.then(() => writeAll(conn, b)).catch(() => {}));
    const hangUp = () => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    const buf = new Uint8Array(16 << 10);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        pending = concat(pending, buf.subarray(0, n));
        for (;;) {
          const text = latin1(pending);
          const end = text.indexOf("\r\n\r\n");
          if (end < 0) break;
          const head = text.slice(0, end);
          const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
          if (pending.length < end + 4 + length) break;
          pending = pending.subarray(end + 4 + length);
          const [method = "", uri = ""] = head.split(" ");
          const cseq = /^cseq:\s*(\S+)/im.exec(head)?.[1] ?? "";
          if (!script) {
            key = /\/fz\/([a-z0-9-]+)/.exec(uri)?.[1] ?? null;
            script = key === null ? undefined : scripts.get(key);
            if (!script || key === null) return hangUp();
            const c = conns.get(key) ?? { open: new Set(), ever: 0 };
            c.open.add(conn);
            c.ever++;
            conns.set(key, c);
          }
          const answer = script.answer(method, cseq, uri);
          if (answer) send(answer);
          if (script.closeAfter === method) {
            await writes;
            return hangUp();
          }
          if (method === "PLAY" && answer) {
            for (const m of script.media) {
              writes = writes.then(async () => {
                if (m.pauseMs) await new Promise((r) => setTimeout(r, m.pauseMs));
                await writeAll(conn, m.bytes);
              }).catch(() => {});
            }
            if (script.end === "close") writes.then(hangUp);
          }
        }
        if (pending.length > 1 << 20) return hangUp();
      }
    } catch {
      /* the cloud closed it */
    } finally {
      if (key !== null) conns.get(key)?.open.delete(conn);
      hangUp();
    }
  };
  const server = serveConns(listener, serve);
  return {
    port: server.port,
    script: (key, s) => scripts.set(key, s),
    forget(key) {
      scripts.delete(key);
      conns.delete(key);
    },
    connections(key) {
      const c = conns.get(key);
      return { open: c?.open.size ?? 0, ever: c?.ever ?? 0 };
    },
    close: () => server.close(),
  };
}

/** The sound a script's SDP offers, as its packets must then look. */
type Sound =
  | { kind: "aac"; sizeLength: number; indexLength: number; pt: number }
  | { kind: "g711"; pt: number }
  | null;

/** An SDP with a video track (its sprop sets real, mutated or random) and maybe sound. */
function sdp(
  rng: Rng,
  audioControl: string,
): { body: Uint8Array; sound: Sound; videoPt: number; codec: Codec } {
  const videoPt = rng.chance(0.9) ? 96 : rng.int(128);
  const codec: Codec = rng.chance(0.2) ? "h265" : "h264";
  const sprop = rng.chance(0.6) ? `${SPS_B64},${PPS_B64}` : rng.pick([
    `${toB64(mutate(rng, SPS))},${PPS_B64}`,
    `${toB64(concat(new Uint8Array([0x67]), rng.bytes(rng.size(300))))},${PPS_B64}`,
    rng.pick(NASTY),
    "",
  ]);
  // H.265's three sets: each real, mutated, random behind its own header, nasty, or missing.
  const hevcSet = (i: number) =>
    rng.chance(0.7) ? H265_SETS_B64[i] : rng.pick([
      toB64(mutate(rng, H265_SETS[i])),
      toB64(concat(H265_SETS[i].subarray(0, 2), rng.bytes(rng.size(300)))),
      rng.pick(NASTY),
      "",
    ]);
  const name = rng.chance(0.95) ? (codec === "h265" ? "H265" : "H264") : rng.pick(["JPEG", ""]);
  const lines = [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=fuzz camera",
    "t=0 0",
    ...(rng.chance(0.5) ? ["a=control:*"] : []),
    `m=video 0 RTP/AVP ${videoPt}`,
    `a=rtpmap:${videoPt} ${name}/90000`,
    codec === "h265"
      ? `a=fmtp:${videoPt} sprop-vps=${hevcSet(0)};sprop-sps=${hevcSet(1)};sprop-pps=${hevcSet(2)}`
      : `a=fmtp:${videoPt} packetization-mode=1;profile-level-id=42C00D;sprop-parameter-sets=${sprop}`,
    `a=control:${rng.chance(0.8) ? "track1" : rng.pick(["rtsp://cam/fz/track1", "", "*"])}`,
  ];
  let sound: Sound = null;
  const audio = rng.int(6);
  if (audio === 1 || audio === 2) {
    const pt = rng.chance(0.9) ? 97 : rng.int(128);
    const sizeLength = rng.chance(0.8) ? 13 : rng.int(40);
    const indexLength = rng.chance(0.8) ? 3 : rng.int(20);
    const config = rng.chance(0.8) ? "1408" : rng.pick(["", "f", "ffff", "0".repeat(300)]);
    lines.push(
      `m=audio 0 RTP/AVP ${pt}`,
      `a=rtpmap:${pt} MPEG4-GENERIC/${
        rng.chance(0.7) ? rng.pick(["16000/1", "8000/2"]) : rng.pick(["0/1", "48000/9", "x"])
      }`,
      `a=fmtp:${pt} streamtype=5;mode=AAC-${
        rng.chance(0.9) ? rng.pick(["hbr", "lbr"]) : "xx"
      };config=${config};` +
        `sizelength=${sizeLength};indexlength=${indexLength};indexdeltalength=${indexLength}`,
    );
    sound = { kind: "aac", sizeLength, indexLength, pt };
  } else if (audio === 3 || audio === 4) {
    const pt = rng.pick([0, 8, 97]);
    lines.push(`m=audio 0 RTP/AVP ${pt}`);
    if (pt === 97 || rng.chance(0.3)) {
      lines.push(
        `a=rtpmap:${pt} ${rng.pick(["PCMU", "PCMA"])}/${
          rng.chance(0.8) ? rng.pick(["8000", "8000/2", "16000"]) : rng.pick(["0", "4294967296"])
        }`,
      );
    }
    sound = { kind: "g711", pt };
  }
  if (sound) lines.push(`a=control:${audioControl}`);
  let body: Uint8Array = enc.encode(lines.join("\r\n") + "\r\n");
  if (rng.chance(0.2)) body = mutate(rng, body);
  return { body, sound, videoPt, codec };
}

/** One interleaved RTP packet (header bits honest mostly) on `channel`. */
function rtp(
  rng: Rng,
  channel: number,
  pt: number,
  seq: number,
  ts: number,
  marker: boolean,
  payload: Uint8Array,
): Uint8Array {
  const odd = rng.chance(0.03);
  const csrc = odd ? rng.int(16) : 0;
  const ext = odd && rng.chance(0.5);
  const padding = odd && rng.chance(0.3);
  const head = new Uint8Array(12 + csrc * 4 + (ext ? 4 + 4 * rng.int(4) : 0));
  const dv = new DataView(head.buffer);
  head[0] = (odd && rng.chance(0.3) ? rng.int(4) << 6 : 0x80) | (padding ? 0x20 : 0) |
    (ext ? 0x10 : 0) | csrc;
  head[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  dv.setUint16(2, seq & 0xffff);
  dv.setUint32(4, ts >>> 0);
  dv.setUint32(8, 0x1234abcd);
  if (ext) dv.setUint16(14 + csrc * 4, odd && rng.chance(0.5) ? rng.int(65536) : 0);
  const tail = padding ? new Uint8Array([rng.int(256)]) : new Uint8Array(0);
  const body = concat(head, payload, tail);
  const len = rng.chance(0.97) ? body.length : rng.int(65536);
  return concat(new Uint8Array([0x24, channel, (len >> 8) & 0xff, len & 0xff]), body);
}

/**
 * A picture's NAL units: a keyframe (H.264: SPS, PPS, IDR; H.265: VPS, SPS, PPS, IDR_W_RADL) or
 * a slice, sometimes mutated.
 */
function picture(rng: Rng, key: boolean, codec: Codec): Uint8Array[] {
  const unit = (head: number[], size: number) => concat(new Uint8Array(head), rng.bytes(size));
  const nals = codec === "h265"
    ? key
      ? [...H265_SETS, unit([19 << 1, 1], rng.size(20_000))]
      : [unit([1 << 1, 1], rng.size(4_000))]
    : key
    ? [SPS, PPS, unit([0x65], rng.size(20_000))]
    : [unit([0x41], rng.size(4_000))];
  return nals.map((n) => rng.chance(0.05) ? mutate(rng, n) : n);
}

/**
 * The RTP payloads one NAL unit is sent as: whole, in an aggregation packet (H.264's STAP-A,
 * H.265's AP), or in fragments (FU-A; H.265's FU, whose payload header is two bytes).
 */
function packetize(rng: Rng, nal: Uint8Array, codec: Codec): Uint8Array[] {
  const how = rng.int(10);
  if (nal.length === 0 || (how < 5 && nal.length < 1400)) return [nal];
  const h265 = codec === "h265";
  if (how < 7) {
    // The aggregate: the NAL with its 16-bit size, maybe a lying one, maybe twice.
    const size = rng.chance(0.9) ? nal.length : rng.int(65536);
    const unit = concat(new Uint8Array([(size >> 8) & 0xff, size & 0xff]), nal);
    const head = h265 ? [48 << 1, nal[1] ?? 1] : [0x18];
    return [concat(new Uint8Array(head), unit, ...(rng.chance(0.2) ? [unit] : []))];
  }
  const out: Uint8Array[] = [];
  const headerBytes = h265 ? 2 : 1;
  const type = h265 ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1f;
  const head = h265 ? [(nal[0] & 0x81) | (49 << 1), nal[1] ?? 1] : [(nal[0] & 0xe0) | 28];
  let at = headerBytes;
  while (at < nal.length) {
    const n = 1 + rng.int(1400);
    const part = nal.subarray(at, at + n);
    const start = at === headerBytes;
    at += n;
    const endBit = at >= nal.length;
    let flags = (start ? 0x80 : 0) | (endBit ? 0x40 : 0);
    if (rng.chance(0.03)) flags = rng.int(4) << 6;
    if (rng.chance(0.04)) continue; // a lost fragment
    out.push(concat(new Uint8Array([...head, flags | type]), part));
  }
  return out;
}

/** One sound packet: AAC AU headers and frames (honest or not), or G.711 bytes. */
function soundPayload(rng: Rng, sound: NonNullable<Sound>): Uint8Array {
  if (sound.kind === "g711") return rng.bytes(rng.chance(0.8) ? 160 : rng.size(6000));
  if (rng.chance(0.1)) return rng.bytes(rng.size(600));
  const frames = Array.from({ length: 1 + rng.int(3) }, () => rng.bytes(rng.size(400)));
  const bitsPer = sound.sizeLength + sound.indexLength;
  let bits = "";
  for (const f of frames) {
    const size = rng.chance(0.9) ? f.length : rng.int(1 << Math.min(16, sound.sizeLength || 1));
    bits += size.toString(2).padStart(sound.sizeLength, "0").slice(-sound.sizeLength || 0) +
      "0".repeat(sound.indexLength);
  }
  while (bits.length % 8) bits += "0";
  const headers = new Uint8Array(bits.length / 8);
  for (let i = 0; i < headers.length; i++) headers[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const total = rng.chance(0.9) ? frames.length * bitsPer : rng.int(65536);
  return concat(new Uint8Array([(total >> 8) & 0xff, total & 0xff]), headers, ...frames);
}

/** What the camera sends after PLAY: pictures and sound, with garbage and surprises between. */
function mediaStream(
  rng: Rng,
  sound: Sound,
  videoPt: number,
  codec: Codec,
): { bytes: Uint8Array; pauseMs: number }[] {
  const parts: Uint8Array[] = [];
  let vseq = rng.int(65536);
  let aseq = rng.int(65536);
  let vts = rng.next();
  let ats = rng.next();
  const pictures = 1 + rng.int(25);
  for (let p = 0; p < pictures; p++) {
    const payloads = picture(rng, p === 0 || rng.chance(0.1), codec).flatMap((n) =>
      packetize(rng, n, codec)
    );
    payloads.forEach((payload, i) => {
      const channel = rng.chance(0.97) ? 0 : rng.int(256);
      const pt = rng.chance(0.97) ? videoPt : rng.int(128);
      const seq = rng.chance(0.97) ? vseq++ : rng.int(65536);
      const marker = i === payloads.length - 1 ? rng.chance(0.95) : rng.chance(0.02);
      parts.push(rtp(rng, channel, pt, seq, vts, marker, payload));
    });
    vts += rng.chance(0.9) ? 3000 : rng.pick([0, -3000, 0x7fffffff, rng.next()]);
    if (sound) {
      for (let a = rng.int(4); a > 0; a--) {
        const pt = rng.chance(0.95) ? sound.pt : rng.int(128);
        parts.push(
          rtp(
            rng,
            rng.chance(0.95) ? 2 : rng.int(8),
            pt,
            aseq++,
            ats,
            true,
            soundPayload(rng, sound),
          ),
        );
        ats += rng.chance(0.9) ? 1024 : rng.next();
      }
    }
    const extra = rng.chance(0.075) ? rng.int(3) : -1;
    if (extra === 0) parts.push(rng.bytes(rng.size(300))); // garbage between frames
    if (extra === 1) {
      // The camera asks something itself (cameras do send GET_PARAMETER and ANNOUNCE).
      parts.push(
        enc.encode(
          `${rng.pick(["GET_PARAMETER", "ANNOUNCE", "REDIRECT"])} rtsp://cam/fz RTSP/1.0\r\nCSeq: ${
            rng.int(100)
          }\r\n\r\n`,
        ),
      );
    }
    if (extra === 2) {
      parts.push(
        enc.encode(
          `RTSP/1.0 200 OK\r\nCSeq: ${rng.int(20)}\r\nContent-Length: ${rng.size(70000)}\r\n\r\n`,
        ),
      );
    }
  }
  // Written in pieces cut anywhere, some after a pause (reads then end at odd places).
  const all = concat(...parts);
  const out: { bytes: Uint8Array; pauseMs: number }[] = [];
  for (let at = 0; at < all.length;) {
    const n = 1 + rng.int(rng.chance(0.5) ? 64 << 10 : 2_000);
    out.push({ bytes: all.subarray(at, at + n), pauseMs: rng.chance(0.1) ? rng.int(60) : 0 });
    at += n;
  }
  return out;
}

/**
 * A source that never surprises: every "rarely, something hostile" is never. Every eighth case is
 * such a well-formed camera, so even a short run surely plays pictures and sound to the end.
 */
export class TameRng extends Rng {
  override chance(p: number): boolean {
    return p >= 0.5;
  }
}

/** A script for one camera session (`tame`: a well-formed camera's). */
export function cameraScript(rng: Rng, tame: boolean): CameraScript {
  const audioControl = rng.chance(0.8) ? "track2" : rng.pick(["rtsp://cam/fz/track2", "track1"]);
  const { body, sound, videoPt, codec } = sdp(rng, audioControl);
  const own = tame ? new TameRng(rng.next()) : new Rng(rng.next());
  // Most requests are answered as a camera would; some not at all, wrongly or with garbage.
  const answer = (method: string, cseq: string, uri: string): Uint8Array | null => {
    const fate = own.chance(0.925) ? -1 : own.int(3);
    if (fate === 0) return null;
    if (fate === 1) return own.bytes(own.size(500));
    const c = own.chance(0.97) ? cseq : own.pick(NASTY);
    let status = "200 OK";
    if (fate === 2) status = own.pick(["401 Unauthorized", "404 Not Found", "500 Oops", "999 X"]);
    const headers = [`RTSP/1.0 ${status}`, `CSeq: ${c}`];
    if (status.startsWith("401")) {
      headers.push(
        `WWW-Authenticate: ${
          own.pick([
            'Digest realm="cam", nonce="abc", algorithm=MD5, qop="auth"',
            'Basic realm="cam"',
            own.pick(NASTY),
          ])
        }`,
      );
    }
    let payload: Uint8Array = new Uint8Array(0);
    const upper = method.toUpperCase();
    if (upper === "DESCRIBE") {
      payload = body;
      if (own.chance(0.8)) {
        headers.push(`Content-Base: ${own.chance(0.9) ? "rtsp://cam/fz/" : own.pick(NASTY)}`);
      }
      headers.push("Content-Type: application/sdp");
    }
    if (upper !== "OPTIONS" && upper !== "DESCRIBE") {
      headers.push(
        `Session: ${own.chance(0.9) ? "f00d" : own.pick(NASTY)}${
          own.chance(0.3) ? `;timeout=${own.pick(["0", "1", "60", "-5", "99999999999", "x"])}` : ""
        }`,
      );
    }
    if (upper === "SETUP") {
      const channels = own.chance(0.85)
        ? (uri.endsWith(audioControl) ? "2-3" : "0-1")
        : own.pick(["0-1", "2-3", "255-256", "-1", "x", ""]);
      headers.push(`Transport: RTP/AVP/TCP;unicast;interleaved=${channels}`);
    }
    if (upper === "PLAY") {
      if (own.chance(0.7)) {
        headers.push(
          `RTP-Info: url=rtsp://cam/fz/track1;seq=${own.int(65536)};rtptime=${
            own.chance(0.9) ? own.next() : own.pick(NASTY)
          },url=${
            own.chance(0.9) ? `rtsp://cam/fz/${audioControl}` : own.pick(NASTY)
          };seq=1;rtptime=${own.next()}`,
        );
      }
      if (own.chance(0.3)) headers.push(`Rate-Control: ${own.pick(["no", "yes", "NO", ""])}`);
      if (own.chance(0.2)) {
        headers.push(`Range: ${own.pick(["npt=0-", "clock=x-", own.pick(NASTY)])}`);
      }
    }
    const length = own.chance(0.95) ? payload.length : own.size(70000);
    if (payload.length || length) headers.push(`Content-Length: ${length}`);
    let bytes = concat(enc.encode(headers.join("\r\n") + "\r\n\r\n"), payload);
    if (own.chance(0.05)) bytes = mutate(own, bytes);
    return bytes;
  };
  return {
    answer,
    closeAfter: rng.chance(0.05) ? rng.pick(["OPTIONS", "DESCRIBE", "SETUP", "PLAY"]) : null,
    media: mediaStream(rng, sound, videoPt, codec),
    end: rng.chance(0.5) ? "close" : "hold",
  };
}

/** Cases whose viewer left, waiting to see their camera sessions closed. */
export interface Left {
  key: string;
  caseNo: number;
  at: number;
}

/** A run's cases waiting to be seen closed, and how many reached each check. */
interface RunState {
  left: Left[];
  counts: { answered: number; segments: number; tame: number; closed: number };
}

const runs = new WeakMap<World, RunState>();

/** The state of the run on `w`. */
function stateOf(w: World): RunState {
  let st = runs.get(w);
  if (!st) {
    st = { left: [], counts: { answered: 0, segments: 0, tame: 0, closed: 0 } };
    runs.set(w, st);
  }
  return st;
}

/** The case's viewer: a live view, a recording at a speed, a recording's clip or a live clip. */
function viewerRequest(
  w: World,
  rng: Rng,
  key: string,
  tame: boolean,
): { request: string; ws: boolean } {
  const path = `/fz/${key}`;
  const from = "2026-12-06T03:00:00Z";
  const kind = tame ? 0 : rng.int(6);
  const target = kind < 2
    ? `/api/live/${w.handles.camera}?path=${path}`
    : kind < 4
    ? `/api/live/${w.handles.camera}?path=${path}&from=${from}&speed=${rng.pick([1, 2, 4, 8, 16])}`
    : kind === 4
    ? `/api/live/${w.handles.camera}/clip.mp4?path=${path}&from=${from}&seconds=${1 + rng.int(5)}`
    : `/api/live/${w.handles.camera}/record.mp4?path=${path}&seconds=${1 + rng.int(3)}`;
  const ws = kind < 4;
  return {
    ws,
    request:
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${w.a.apiToken}\r\n` +
      (ws
        ? "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        : "") +
      "\r\n",
  };
}

/** What a viewer's WebSocket received: its text messages, binary count and close reason. */
function readFrames(bytes: Uint8Array): { texts: string[]; binary: number; close: string | null } {
  const out = { texts: [] as string[], binary: 0, close: null as string | null };
  let at = 0;
  while (at + 2 <= bytes.length) {
    const op = bytes[at] & 0x0f;
    let len = bytes[at + 1] & 0x7f;
    let off = at + 2;
    if (len === 126) {
      if (off + 2 > bytes.length) break;
      len = (bytes[off] << 8) | bytes[off + 1];
      off += 2;
    } else if (len === 127) {
      if (off + 8 > bytes.length) break;
      len = Number(new DataView(bytes.buffer, bytes.byteOffset + off, 8).getBigUint64(0));
      off += 8;
    }
    if (off + len > bytes.length) break;
    const payload = bytes.subarray(off, off + len);
    if (op === 1) out.texts.push(new TextDecoder().decode(payload));
    if (op === 2) out.binary++;
    if (op === 8) out.close = new TextDecoder().decode(payload.subarray(2));
    at = off + len;
  }
  return out;
}

/** The camera sessions of earlier cases still open long after their viewer left. */
function lingering(w: World): Finding[] {
  const { left, counts } = stateOf(w);
  return outlived(w, left, () => counts.closed++, "camera");
}

/**
 * The cases of `left` (a target's own) whose camera connections are all closed are dropped
 * (`closed` counts those that had one); one still open `LINGER_MS` after its viewer left is a
 * finding, named for the target's cases (`what`) so it replays.
 */
export function outlived(w: World, left: Left[], closed: () => void, what: string): Finding[] {
  const out: Finding[] = [];
  const now = Date.now();
  for (let i = left.length - 1; i >= 0; i--) {
    const l = left[i];
    const c = w.camera.connections(l.key);
    if (c.open === 0 && (c.ever > 0 || now - l.at > LINGER_MS)) {
      if (c.ever > 0) closed();
    } else if (now - l.at > LINGER_MS) {
      out.push({
        kind: "a camera session outlived its viewer",
        detail:
          `${what} case #${l.caseNo} (replay it with --case ${l.caseNo}): ${c.open} camera connection(s) still open ${
            Math.round((now - l.at) / 1000)
          } s after its viewer left`,
        input: "",
      });
    } else continue;
    w.camera.forget(l.key);
    left.splice(i, 1);
  }
  return out;
}

/** The target. */
export const camera: Target = {
  name: "camera",
  async run(w, rng, n) {
    const findings = lingering(w);
    const { left, counts } = stateOf(w);
    const key = `${n.toString(36)}-${rng.next().toString(36)}`;
    const tame = n % 8 === 0;
    const r = tame ? new TameRng(rng.next()) : rng;
    w.camera.script(key, cameraScript(r, tame));
    const { request, ws } = viewerRequest(w, r, key, tame);
    const watchMs = tame ? 2_500 : 300 + rng.int(2_500);
    // The head and the first megabyte are judged; past that the viewer leaves.
    const answer = await exchange(w.stack.ports.http, enc.encode(request), { ms: watchMs })
      .catch(() => new Uint8Array(0));
    left.push({ key, caseNo: n, at: Date.now() });
    const text = latin1(answer);
    const headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) return findings; // still preparing when the viewer left
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    const input = `${request.split("\r\n")[0]} (camera case ${n})`;
    if (!STATUSES.has(status)) {
      findings.push({ kind: `HTTP ${status}`, detail: text.slice(0, 300), input });
    }
    counts.answered++;
    let said = text.slice(0, headEnd);
    if (ws && status === 101) {
      const frames = readFrames(answer.subarray(headEnd + 4));
      if (frames.binary) counts.segments++;
      // A well-formed camera's pictures reach its viewer: the init segment and media after it.
      if (tame && frames.binary >= 2) counts.tame++;
      said += "\n" + frames.texts.join("\n") + "\n" + (frames.close ?? "");
      for (const t of frames.texts) {
        try {
          const m = JSON.parse(t);
          if (typeof m?.type !== "string") throw new Error("no type");
        } catch {
          findings.push({
            kind: "a live view message is not JSON",
            detail: t.slice(0, 300),
            input,
          });
        }
      }
    } else if (status === 200) {
      if (answer.length - headEnd > 1000) counts.segments++;
    } else {
      said = text.slice(0, 2000);
    }
    const leak = leakFinding(said, input);
    if (leak) findings.push(leak);
    return findings;
  },
  checks: (w) => {
    const { left, counts } = stateOf(w);
    return { ...counts, waiting: left.length };
  },
};
