/**
 * The `gateway` fuzz target: a hostile camera behind the RTSP gateway (`:9554`). A player's
 * requests pass through the gateway to the camera and the camera's answers come back through it:
 * the gateway parses them (status lines, headers, bodies by Content-Length, interleaved frames),
 * rewrites the URLs in them and in the SDP, and keeps each request's deadline (`--proxy-timeout`,
 * 4 s in the fuzz world), in the node every tenant shares. The `camera` target's cameras answer
 * the live view; this one's answer a player: the same scripts (camera_target.ts) — answers
 * missing, garbage, wrong statuses and CSeqs, lying lengths, hostile Session, Transport, RTP-Info
 * and Content-Base values, mutated SDP, then interleaved frames mutated at every level with
 * requests of the camera's own between them — served by the same camera (127.0.0.3) on the path
 * `/fz/{case key}`.
 *
 * Each case is a well-behaved player (ffprobe's order: OPTIONS, DESCRIBE, SETUP per track over
 * TCP, PLAY, then watching a while, and now and then TEARDOWN) through the gateway with tenant
 * A's token. The oracle: every request is answered (or the connection closed) within 11 s; the
 * gateway never answers 500 `internal error` nor shows internals; what it sends is RTSP messages
 * and interleaved frames only; and the camera's connection is closed within 45 s of the player
 * leaving (its tunnel with it). Every eighth case is a well-formed camera whose PLAY must bring
 * frames.
 * @module
 */
import type { Rng } from "./rng.ts";
import type { Target } from "./targets.ts";
import { leakFinding } from "./oracle.ts";
import { type World, writeAll } from "./world.ts";
import { cameraScript, type Left, outlived, TameRng } from "./camera_target.ts";

const enc = new TextEncoder();
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

/** An answer later than this (the fuzz world's `--proxy-timeout` is 4 s) is a finding. */
const ANSWER_MS = 11_000;
/** The gateway's own refusal for a fault of its own: never expected. */
const INTERNAL = /^RTSP\/1\.0 500 internal error\r?$/m;

/** A status line, or a request line of the camera's own (a method token, a URI, the version). */
const START = /^RTSP\/1\.0 \d{3}(?: [^\r\n]*)?$|^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ RTSP\/1\.0$/;

/** One RTSP message the gateway sent the player. */
interface Message {
  start: string;
  head: string;
  body: string;
  cseq: string | null;
}

/** The player's side of one connection: what the gateway sent, parsed as it arrives. */
class Player {
  readonly messages: Message[] = [];
  frames = 0;
  closed = false;
  /** Set when the gateway sent something that is neither a message nor a frame. */
  garbage: string | null = null;
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #wake: (() => void) | null = null;
  readonly done: Promise<void>;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.done = this.#pump();
  }

  send(text: string): Promise<void> {
    return writeAll(this.#conn, enc.encode(text)).catch(() => {});
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }

  /** The answer to `cseq`, or "closed", or "late" after `ms`. */
  async answer(cseq: string, ms: number): Promise<Message | "closed" | "late"> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.messages.find((x) => x.cseq === cseq && x.start.startsWith("RTSP/"));
      if (m) return m;
      if (this.closed || this.garbage) return "closed";
      const left = deadline - Date.now();
      if (left <= 0) return "late";
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  async #pump(): Promise<void> {
    const chunk = new Uint8Array(64 << 10);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        const next = new Uint8Array(this.#buf.length + n);
        next.set(this.#buf);
        next.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = next;
        this.#parse();
        this.#wake?.();
        if (this.garbage) break;
      }
    } catch { /* reset */ }
    this.closed = true;
    this.#wake?.();
    this.close();
  }

  #parse(): void {
    for (;;) {
      const b = this.#buf;
      if (b.length === 0) return;
      if (b[0] === 0x24) {
        if (b.length < 4) return;
        const len = (b[2] << 8) | b[3];
        if (b.length < 4 + len) return;
        this.frames++;
        this.#buf = b.subarray(4 + len);
        continue;
      }
      const text = latin1(b.subarray(0, Math.min(b.length, 128 << 10)));
      const line = text.indexOf("\r\n");
      if (line >= 0 && !START.test(text.slice(0, line))) {
        this.garbage = `a start line that is none: ${JSON.stringify(text.slice(0, 200))}`;
        return;
      }
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) {
        if (b.length > 128 << 10) this.garbage = `a head past 128 KiB: ${text.slice(0, 200)}`;
        return;
      }
      const head = text.slice(0, end);
      const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      if (b.length < end + 4 + length) return;
      this.messages.push({
        start: head.split("\r\n")[0],
        head,
        body: text.slice(end + 4, end + 4 + length),
        cseq: /^cseq:\s*(\S+)/im.exec(head)?.[1] ?? null,
      });
      this.#buf = b.subarray(end + 4 + length);
    }
  }
}

/** Cases whose player left, and how many reached each check. */
interface RunState {
  left: Left[];
  counts: { answered: number; played: number; tame: number; closed: number; frames: number };
}

const runs = new WeakMap<World, RunState>();

function stateOf(w: World): RunState {
  let st = runs.get(w);
  if (!st) {
    st = { left: [], counts: { answered: 0, played: 0, tame: 0, closed: 0, frames: 0 } };
    runs.set(w, st);
  }
  return st;
}

/** The target. */
export const gateway: Target = {
  name: "gateway",
  async run(w, rng, n) {
    const { left, counts } = stateOf(w);
    const findings = outlived(w, left, () => counts.closed++, "gateway");
    const key = `g${n.toString(36)}-${rng.next().toString(36)}`;
    const tame = n % 8 === 0;
    const r: Rng = tame ? new TameRng(rng.next()) : rng;
    w.camera.script(key, cameraScript(r, tame));
    const base = `rtsp://127.0.0.1:${w.stack.ports.rtsp}/${w.handles.camera}/fz/${key}`;
    const auth = `Authorization: Basic ${btoa(`op:${w.a.apiToken}`)}\r\n`;
    const player = new Player(
      await Deno.connect({ hostname: "127.0.0.1", port: w.stack.ports.rtsp }),
    );
    const input = `gateway case ${n}: ${tame ? "a well-formed camera" : "a hostile camera"}`;
    let cseq = 0;
    let session = "";
    const ask = async (method: string, uri: string, extra = ""): Promise<Message | null> => {
      const c = String(++cseq);
      await player.send(
        `${method} ${uri} RTSP/1.0\r\nCSeq: ${c}\r\n${auth}` +
          (session ? `Session: ${session}\r\n` : "") + extra +
          "User-Agent: fuzz player\r\n\r\n",
      );
      const got = await player.answer(c, ANSWER_MS);
      if (got === "late") {
        findings.push({
          kind: "no answer from the gateway",
          detail: `${method} unanswered after ${ANSWER_MS / 1000} s, the connection still open`,
          input,
        });
        return null;
      }
      if (got === "closed") return null;
      counts.answered++;
      return got;
    };
    try {
      const steps = async () => {
        if (!(await ask("OPTIONS", base))) return;
        const described = await ask("DESCRIBE", base, "Accept: application/sdp\r\n");
        if (!described) return;
        const tracks = ["track1", ...(/^m=audio/m.test(described.body) ? ["track2"] : [])];
        for (const [i, t] of tracks.entries()) {
          const setup = await ask(
            "SETUP",
            `${base}/${t}`,
            `Transport: RTP/AVP/TCP;unicast;interleaved=${2 * i}-${2 * i + 1}\r\n`,
          );
          if (!setup) return;
          session ||= /^session:\s*([^;\r\n]*)/im.exec(setup.head)?.[1].trim() ?? "";
        }
        const play = await ask("PLAY", base, "Range: npt=0.000-\r\n");
        if (!play) return;
        if (/^RTSP\/1\.0 200/.test(play.start)) counts.played++;
        // Watching a while, as a player does; then maybe a TEARDOWN, then away.
        const watch = tame ? 2_000 : 200 + rng.int(2_000);
        const before = player.frames;
        await Promise.race([player.done, new Promise((res) => setTimeout(res, watch))]);
        if (player.frames > before) counts.frames++;
        if (tame && /^RTSP\/1\.0 200/.test(play.start) && player.frames > 0) counts.tame++;
        if (!player.closed && rng.chance(0.5)) await ask("TEARDOWN", base);
      };
      await steps();
    } finally {
      player.close();
      await player.done;
      left.push({ key, caseNo: n, at: Date.now() });
    }
    if (player.garbage !== null) {
      findings.push({
        kind: "the gateway sent what is neither RTSP nor an interleaved frame",
        detail: player.garbage,
        input,
      });
    }
    const said = player.messages.map((m) => m.head).join("\n");
    if (INTERNAL.test(said)) {
      findings.push({ kind: "RTSP 500 internal error", detail: said.slice(0, 500), input });
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
