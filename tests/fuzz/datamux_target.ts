/**
 * The fuzz target of the agents' data port past its ticket: a compromised agent. The `frames`
 * target only reaches the data port's handshake (garbage, bad tickets); this one holds a real
 * enrolled identity (a tenant, site and device of its own), keeps a control stream, takes the
 * tickets its node sends, dials data connections with them and answers the node's OPENs with
 * arbitrary mux frame sequences (proto/mux.md): unknown stream ids, windows past 2^31 − 1, empty
 * and oversized frames, DATA beyond credit, floods, frames split at any byte.
 *
 * Oracle, besides main.ts's (the node runs, nothing reached the last-resort handler, no ERROR
 * line): a frame that breaks the framing itself (the checks `readHeader` makes on every frame)
 * closes that data connection, and an operator's tunnel carried on it ends with it, within 5 s —
 * the node closes the compromised connection and nothing else. A case's frames name the stream
 * ids its node chose, so `--case N` replays the case's choices, not always its exact bytes.
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { controlServiceDefinition } from "../../src/shared/protocol/control.ts";
import type { AgentMessage, CloudMessage } from "../../src/shared/protocol/control.ts";
import { encodeDataHeader, PROTOCOL_VERSION } from "../../src/shared/protocol/wire.ts";
import { encodeOpen, FrameType, MAX_PAYLOAD } from "../../src/shared/protocol/mux.ts";
import { loadState } from "../../src/agent/state.ts";
import { concat, mutate, type Rng } from "./rng.ts";
import { type World, writeAll } from "./world.ts";
import type { Finding, Target } from "./targets.ts";

const ControlClient = grpc.makeGenericClientConstructor(controlServiceDefinition, "Control");

/**
 * How long a violation may take to close the data connection and the tunnel on it, together
 * (generous: the quick run shares two cores with the rest of the suite; a case has 15 s in all).
 */
const CLOSE_WITHIN_MS = 5_000;
/** A ticket the node sent is good for 15 s; older than this is not tried. */
const TICKET_FRESH_MS = 12_000;

/** A compromised agent of one world. */
interface Rogue {
  /** The handle of the rogue's device, and an API token, in the rogue's own tenant. */
  handle: string;
  apiToken: string;
  /** The agent CA the rogue pinned at enrollment (the data port's certificate chains to it). */
  caPem: string;
  /** The newest fresh ticket (taken), or null when none came within `ms`. */
  ticket(ms: number): Promise<Uint8Array | null>;
}

/**
 * A case has a rogue to itself (its tunnels and data connections are the case's), so rogues are
 * made as cases need them, up to MAX_ROGUES; a case finding none free within a second is skipped.
 */
const MAX_ROGUES = 4;

interface Rogues {
  free: Rogue[];
  made: number;
  waiting: Set<(r: Rogue) => void>;
}

const pools = new WeakMap<World, Rogues>();

/** A rogue of `w` for one case (null: all busy), to be given back with {@link giveBack}. */
async function takeRogue(w: World): Promise<Rogue | null> {
  let pool = pools.get(w);
  if (!pool) {
    pool = { free: [], made: 0, waiting: new Set() };
    pools.set(w, pool);
  }
  const p = pool;
  const free = p.free.pop();
  if (free) return free;
  if (p.made < MAX_ROGUES) {
    p.made++;
    try {
      return await makeRogue(w, p.made);
    } catch (e) {
      p.made--;
      throw e;
    }
  }
  return await new Promise<Rogue | null>((resolve) => {
    const take = (r: Rogue) => {
      clearTimeout(timer);
      p.waiting.delete(take);
      resolve(r);
    };
    const timer = setTimeout(() => {
      p.waiting.delete(take);
      resolve(null);
    }, 1_000);
    p.waiting.add(take);
  });
}

function giveBack(w: World, r: Rogue): void {
  const p = pools.get(w)!;
  const [next] = p.waiting;
  if (next) next(r);
  else p.free.push(r);
}

async function makeRogue(w: World, n: number): Promise<Rogue> {
  // Port 9 (discard): the rogue never dials its device; the node only has to ask it to.
  const q = await w.stack.quickstart([9], "Gamma");
  const enrolled = await w.stack.enroll(q.enrollmentToken, `rogue-agent-${n}`);
  if (enrolled.code !== 0) throw new Error(`enrolling the rogue agent failed: ${enrolled.stderr}`);
  const state = await loadState(enrolled.state);
  if (!state) throw new Error("no rogue agent state");
  const client = new ControlClient(
    `127.0.0.1:${w.stack.ports.control}`,
    grpc.credentials.createSsl(
      Buffer.from(state.caPem),
      Buffer.from(state.keyPem),
      Buffer.from(state.certPem),
      { checkServerIdentity: () => undefined },
    ),
    { "grpc.ssl_target_name_override": "localhost", "grpc.enable_http_proxy": 0 },
  ) as unknown as grpc.Client & {
    Connect(): grpc.ClientDuplexStream<AgentMessage, CloudMessage>;
  };
  let call: grpc.ClientDuplexStream<AgentMessage, CloudMessage> | null = null;
  let tickets: { ticket: Uint8Array; at: number }[] = [];
  const arrived = new Set<() => void>();
  const connect = () => {
    const c = client.Connect();
    call = c;
    c.on("data", (m: CloudMessage) => {
      if (!m.openData?.ticket) return;
      tickets.push({ ticket: new Uint8Array(m.openData.ticket), at: Date.now() });
      for (const f of arrived) f();
    });
    const gone = () => {
      if (call === c) call = null;
    };
    c.on("error", gone);
    c.on("end", gone);
    c.write({
      hello: {
        agentId: state.agentId,
        version: "0.1.0",
        hostname: "rogue",
        os: "linux",
        protocol: PROTOCOL_VERSION,
        allowlistVersion: 0,
      },
    } as AgentMessage);
  };
  // Heartbeats keep its presence, as a real agent's do.
  const beat = setInterval(() => {
    call?.write({
      heartbeat: { activeStreams: 0, bytesUp: 0, bytesDown: 0, tunnelsOpened: 0, day: "" },
    } as AgentMessage);
  }, 5_000);
  w.stack.defer(() => {
    clearInterval(beat);
    call?.cancel();
    client.close();
    return Promise.resolve();
  });
  return {
    handle: q.device.handles[9],
    apiToken: q.apiToken,
    caPem: state.caPem,
    async ticket(ms) {
      if (!call) connect(); // the first case, or the node ended the stream
      const end = Date.now() + ms;
      for (;;) {
        tickets = tickets.filter((t) => Date.now() - t.at < TICKET_FRESH_MS);
        const t = tickets.pop();
        if (t) return t.ticket;
        const left = end - Date.now();
        if (left <= 0) return null;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            arrived.delete(done);
            resolve();
          };
          const timer = setTimeout(done, left);
          arrived.add(done);
        });
      }
    },
  };
}

/** A frame with an honest length (flags and reserved as given). */
function frame(
  type: number,
  stream: number,
  payload: Uint8Array = new Uint8Array(0),
  flags = 0,
): Uint8Array {
  const out = new Uint8Array(12 + payload.byteLength);
  const v = new DataView(out.buffer);
  out[0] = type;
  out[1] = flags;
  v.setUint32(4, stream >>> 0);
  v.setUint32(8, payload.byteLength);
  out.set(payload, 12);
  return out;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** One frame of an agent that speaks the framing but not the protocol. */
function randomFrame(rng: Rng, id: () => number): Uint8Array {
  switch (rng.int(10)) {
    case 0:
    case 1:
      return frame(FrameType.DATA, id(), rng.bytes(rng.size(MAX_PAYLOAD + 4)));
    case 2:
      return frame(FrameType.FIN, id());
    case 3:
      return frame(
        FrameType.CLOSE,
        id(),
        concat(u32(rng.int(256)).subarray(3), rng.bytes(rng.size(1100))),
      );
    case 4:
      return frame(
        FrameType.WINDOW,
        id(),
        u32(rng.pick([0, 1, 65536, 0x7fffffff, 0x80000000, 0xffffffff, rng.next()])),
      );
    case 5:
      return frame(
        FrameType.PING,
        rng.chance(0.8) ? 0 : id(),
        rng.bytes(rng.chance(0.8) ? 8 : rng.size(20)),
      );
    case 6:
      return frame(FrameType.PONG, 0, rng.bytes(8));
    case 7:
      return frame(FrameType.OPENED, id());
    case 8:
      return frame(FrameType.OPEN, id(), encodeOpen("127.0.0.1", 1 + rng.int(65535)));
    default:
      return frame(rng.pick([0, 9, 0x7f, 0xff]), id(), rng.bytes(rng.size(64)));
  }
}

/** A frame that fails `readHeader` whatever the connection's state: the node must close. */
function violation(rng: Rng, id: number): { bytes: Uint8Array; what: string } {
  switch (rng.int(8)) {
    case 0:
      return { bytes: frame(FrameType.DATA, id, rng.bytes(8), 1 + rng.int(255)), what: "flags" };
    case 1: {
      const f = frame(FrameType.WINDOW, id, u32(1));
      f[2 + rng.int(2)] = 1 + rng.int(255);
      return { bytes: f, what: "reserved bytes" };
    }
    case 2:
      return { bytes: frame(FrameType.DATA, id), what: "empty DATA" };
    case 3:
      return {
        bytes: frame(FrameType.DATA, id, rng.bytes(MAX_PAYLOAD + 1 + rng.int(4096))),
        what: "DATA over 64 KiB",
      };
    case 4:
      return { bytes: frame(FrameType.DATA, 0, rng.bytes(16)), what: "DATA on stream 0" };
    case 5:
      return {
        bytes: frame(FrameType.PING, 0, rng.bytes(rng.pick([0, 7, 9, 64]))),
        what: "PING length",
      };
    case 6:
      return {
        bytes: frame(FrameType.CLOSE, id, rng.bytes(1025 + rng.int(2000))),
        what: "CLOSE over 1 KiB",
      };
    default:
      return { bytes: frame(rng.pick([0, 9, 0x7f, 0xff]), id, rng.bytes(4)), what: "unknown type" };
  }
}

/** The stream ids of OPENs in what the node sent (frames parsed as they complete). */
class OpenReader {
  #buf: Uint8Array = new Uint8Array(0);
  readonly opens: number[] = [];
  push(b: Uint8Array): void {
    this.#buf = concat(this.#buf, b);
    for (;;) {
      if (this.#buf.byteLength < 12) return;
      const v = new DataView(this.#buf.buffer, this.#buf.byteOffset);
      const len = v.getUint32(8);
      if (this.#buf.byteLength < 12 + len) return;
      if (this.#buf[0] === FrameType.OPEN) this.opens.push(v.getUint32(4));
      this.#buf = this.#buf.slice(12 + len);
    }
  }
}

/** What an operator's WebSocket tunnel saw: its answer's head and whether it ended. */
interface Operator {
  head: () => string;
  ended: () => boolean;
  close(): void;
}

function operator(port: number, handle: string, token: string): Operator {
  const ws = new WsScanner();
  let ended = false;
  let conn: Deno.TcpConn | null = null;
  let closed = false;
  (async () => {
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
      if (closed) return conn.close();
      await writeAll(
        conn,
        new TextEncoder().encode(
          `GET /api/tunnel/${handle} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Authorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        ),
      );
      const buf = new Uint8Array(64 << 10);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        ws.push(buf.subarray(0, n));
        // The node's close frame ends the tunnel for its operator (its TCP waits for our echo).
        if (ws.closeFrame) break;
      }
    } catch { /* reset, or closed below */ }
    ended = true;
  })();
  return {
    head: () => ws.head,
    ended: () => ended,
    close() {
      closed = true;
      try {
        conn?.close();
      } catch { /* closed */ }
    },
  };
}

/** Reads a server's answer: the HTTP head, then WebSocket frames skipped until a close frame. */
class WsScanner {
  head = "";
  closeFrame = false;
  #pending: Uint8Array = new Uint8Array(0);
  #skip = 0;
  push(b: Uint8Array): void {
    let buf = concat(this.#pending, b);
    if (!this.head) {
      const text = new TextDecoder("latin1").decode(buf.subarray(0, 8192));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) {
        this.#pending = buf.byteLength < 8192 ? buf : new Uint8Array(0);
        return;
      }
      this.head = text.slice(0, end);
      buf = buf.subarray(end + 4);
      if (!this.head.startsWith("HTTP/1.1 101")) {
        this.#pending = new Uint8Array(0);
        return;
      }
    }
    for (;;) {
      const skipped = Math.min(this.#skip, buf.byteLength);
      this.#skip -= skipped;
      buf = buf.subarray(skipped);
      if (this.#skip > 0 || buf.byteLength < 2) break;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.byteLength < 4) break;
        len = (buf[2] << 8) | buf[3];
        at = 4;
      } else if (len === 127) {
        if (buf.byteLength < 10) break;
        len = new DataView(buf.buffer, buf.byteOffset).getUint32(6);
        at = 10;
      }
      if (buf[1] & 0x80) at += 4; // a mask (a server sends none)
      if (buf.byteLength < at) break;
      if ((buf[0] & 0x0f) === 0x8) this.closeFrame = true;
      buf = buf.subarray(at);
      this.#skip = len;
    }
    this.#pending = buf.slice();
  }
}

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Hex of the first bytes of each frame written (the input, for a finding's report). */
function show(parts: Uint8Array[]): string {
  return parts.slice(0, 40).map((p) =>
    [...p.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("") +
    (p.byteLength > 16 ? `…(${p.byteLength})` : "")
  ).join(" ");
}

/** Cases of a world that reached each check. */
const counts = new WeakMap<World, Record<string, number>>();

function count(w: World, check: string): void {
  let c = counts.get(w);
  if (!c) counts.set(w, c = {});
  c[check] = (c[check] ?? 0) + 1;
}

/** The `datamux` target. */
export const datamux: Target = {
  name: "datamux",
  checks: (w) => ({ ...counts.get(w) }),
  async run(w, rng) {
    const r = await takeRogue(w);
    if (!r) return [];
    try {
      return await oneCase(w, r, rng, (check) => count(w, check));
    } finally {
      giveBack(w, r);
    }
  },
};

async function oneCase(
  w: World,
  r: Rogue,
  rng: Rng,
  reached: (check: string) => void,
): Promise<Finding[]> {
  // An operator opens a tunnel to the rogue's device: the node asks the rogue for a data
  // connection (if it has none) and sends an OPEN on it.
  const op = operator(w.stack.ports.http, r.handle, r.apiToken);
  let conn: Deno.TlsConn | null = null;
  try {
    const ticket = await r.ticket(2_000);
    if (!ticket) return [];
    conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: w.stack.ports.data,
      caCerts: [r.caPem],
    }).catch(() => null);
    if (!conn) return [];
    const c = conn;
    let closed = false;
    const reader = new OpenReader();
    (async () => {
      const buf = new Uint8Array(64 << 10);
      try {
        for (;;) {
          const n = await c.read(buf);
          if (n === null) break;
          reader.push(buf.subarray(0, n));
        }
      } catch { /* reset */ }
      closed = true;
    })();
    // (A bad preface is the `frames` target's: here it would waste the ticket for 15 s.)
    await writeAll(c, encodeDataHeader(ticket)).catch(() => {});
    // An open its operator gave up on in an earlier case may come first (the node places an
    // unanswered open again when its connection dies): this case's own is the newest.
    if (await until(() => reader.opens.length > 0, 1_500)) {
      await new Promise((res) => setTimeout(res, 100));
    }
    const open = reader.opens.length ? Math.max(...reader.opens) : 1;
    // Written in up to four pieces cut anywhere, a header split across writes included.
    const send = async (input: Uint8Array) => {
      const cuts = Array.from({ length: rng.int(4) }, () => rng.int(input.byteLength + 1))
        .sort((a, b) => a - b);
      let from = 0;
      for (const cut of [...cuts, input.byteLength]) {
        if (closed) break;
        await writeAll(c, input.subarray(from, cut)).catch(() => {});
        from = cut;
        if (rng.chance(0.5)) await new Promise((res) => setTimeout(res, rng.int(30)));
      }
    };
    if (rng.chance(0.55)) {
      // Anything an agent could send, with no expectation but the process-wide ones.
      const id = () =>
        rng.pick([
          open,
          open,
          open,
          open + 1,
          open + 2,
          1,
          0xffffffff,
          rng.next(),
          ...reader.opens,
        ]);
      const parts: Uint8Array[] = [];
      if (rng.chance(0.7)) parts.push(frame(FrameType.OPENED, open));
      for (let i = rng.int(8); i > 0; i--) parts.push(randomFrame(rng, id));
      if (rng.chance(0.1)) {
        // A flood of small frames: PINGs (closer than a second: a violation), PONGs, windows,
        // FINs.
        const one = rng.pick([
          frame(FrameType.PING, 0, rng.bytes(8)),
          frame(FrameType.PONG, 0, rng.bytes(8)),
          frame(FrameType.WINDOW, open, u32(1)),
          frame(FrameType.FIN, open),
        ]);
        parts.push(...Array.from({ length: 200 + rng.int(2000) }, () => one));
      }
      if (rng.chance(0.05)) {
        // DATA past the stream's 256 KiB of credit.
        for (let i = 0; i < 5; i++) {
          parts.push(frame(FrameType.DATA, open, rng.bytes(MAX_PAYLOAD)));
        }
      }
      const input = concat(...parts);
      reached("chaos");
      await send(rng.chance(0.3) ? mutate(rng, input) : input);
      await until(() => closed, 200 + rng.int(300));
      return [];
    }
    // A well-behaved start (the device answered, bytes within credit, windows, maybe its end),
    // then one frame that breaks the framing: only that frame may end the connection.
    if (!reader.opens.length) return [];
    const parts = [...new Set(reader.opens)].map((id) => frame(FrameType.OPENED, id));
    let credit = 256 << 10, fin = false;
    for (let i = rng.int(6); i > 0; i--) {
      const k = rng.int(3);
      if (k === 0 && !fin && credit > 0) {
        const n = 1 + rng.int(Math.min(credit, MAX_PAYLOAD));
        credit -= n;
        parts.push(frame(FrameType.DATA, open, rng.bytes(n)));
      } else if (k === 1) parts.push(frame(FrameType.WINDOW, open, u32(1 + rng.int(65536))));
      else if (!fin) {
        fin = true;
        parts.push(frame(FrameType.FIN, open));
      }
    }
    await send(concat(...parts));
    if (rng.chance(0.5)) await until(() => op.head().startsWith("HTTP/1.1 101"), 1_000);
    await new Promise((res) => setTimeout(res, 50));
    reached("well-formed start");
    if (closed) {
      return [{
        kind: "well-formed frames closed the data connection",
        detail: "an agent's valid OPENED/DATA/WINDOW/FIN ended its connection",
        input: show(parts),
      }];
    }
    const bad = violation(rng, open);
    parts.push(bad.bytes);
    const answered = op.head().startsWith("HTTP/1.1 101");
    await send(bad.bytes);
    const deadline = Date.now() + CLOSE_WITHIN_MS;
    reached("violation");
    if (answered) reached("violation under an answered tunnel");
    if (!await until(() => closed, CLOSE_WITHIN_MS)) {
      return [{
        kind: `a framing violation (${bad.what}) did not close the data connection`,
        detail: `still open ${CLOSE_WITHIN_MS} ms after it was written`,
        input: show(parts),
      }];
    }
    // The tunnel the node had answered (101) was carried on that connection: it ends too.
    if (answered && !await until(op.ended, Math.max(0, deadline - Date.now()))) {
      return [{
        kind: "an operator's tunnel outlived its data connection",
        detail:
          `the WebSocket was still open ${CLOSE_WITHIN_MS} ms after the frame (${bad.what}), ` +
          "though the node had closed the data connection",
        input: show(parts),
      }];
    }
    return [];
  } finally {
    op.close();
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}
