/**
 * The `terminal` fuzz target: a hostile SSH server where a device's SSH port should be. The browser
 * terminal makes the cloud an SSH client (`ssh2`, pure JavaScript in the process every tenant
 * shares) of whatever answers at the port, with the device's held credentials; what answers must
 * never take the node down, log an ERROR, pin or offer a host key it did not prove, or give the
 * operator a message outside the terminal protocol or with internals in it.
 *
 * The device (its own loopback address, credentials held, its SSH host key pinned by a first
 * well-formed session) answers each case's connection in one of three ways, cases taking turns:
 * - by hand, the unencrypted opening (tests/_fixtures/hand_ssh_server.ts): identification lines of
 *   every kind, KEXINIT and key exchange replies built and then mutated — lying lengths, odd
 *   name-lists, host key blobs of any type and size, signatures of nothing, messages out of turn,
 *   DISCONNECT and DEBUG with hostile texts — or garbage, a hang-up, a short hang;
 * - as `ssh2`'s own server (real crypto) with hostile manners after the key exchange: logins
 *   refused, partly accepted, keyboard-interactive prompts many, empty, long or full of control
 *   characters; sessions, PTYs or shells refused; a shell that floods, writes binary and escape
 *   sequences, sends stderr, exits with odd codes and signals, or ends the connection;
 * - every eighth case, as a well-formed device whose shell echoes: the operator's input comes back.
 * The operator's side is a plain WebSocket client that also sends malformed and odd messages.
 * @module
 */
import ssh2 from "ssh2";
// @ts-types="@types/ws"
import WebSocket from "ws";
import { CATALOGUE } from "../../src/shared/errors.ts";
import { concatBytes } from "../_fixtures/bytes.ts";
import {
  ecdhReply,
  ed25519Blob,
  type HandSshServer,
  handSshServer,
  kexInit,
  SERVER_LISTS,
  SSH_MSG,
  sshPacket,
  type SshReader,
  sshString,
  writeAllTo,
} from "../_fixtures/hand_ssh_server.ts";
import { mutate, NASTY, type Rng } from "./rng.ts";
import type { Finding, Target } from "./targets.ts";
import { LEAK } from "./oracle.ts";
import { freshHostKey } from "../_fixtures/ssh_mfa_server.ts";
import type { World } from "./world.ts";
import { Turns } from "./turns.ts";

/** Where the hostile SSH device listens (a loopback address of its own). */
export const TERMINAL_HOST = "127.0.0.4";
/** The credentials the cloud holds for it (what the well-formed device accepts). */
const USER = "fz";
const PASSWORD = `fz-${crypto.randomUUID()}`;

const enc = new TextEncoder();

/** How one case's device answers a connection. */
type Script =
  | { kind: "hand"; serve: (conn: Deno.Conn, reader: SshReader) => Promise<void> }
  | { kind: "ssh2"; manners: Manners };

/** The ssh2 server's behaviour after the key exchange. */
interface Manners {
  tame: boolean;
  auth: "accept" | "reject" | "partial" | "prompts" | "none-first";
  prompts: { prompt: string; echo: boolean }[];
  title: string;
  session: "accept" | "reject";
  pty: boolean;
  shell: "accept" | "reject" | "end-now";
  output: Uint8Array[];
  stderr: Uint8Array;
  exit: { code?: number; signal?: string } | null;
  hangUp: boolean;
}

interface Device {
  port: number;
  handle: string;
  /** The API path of its port's host key (pinned, and a changed one offered). */
  keyPath: string;
  /** The fingerprint of its real key, pinned by the first well-formed session. */
  pinned: string;
  script(s: Script | null): void;
  close(): Promise<void>;
}

interface TerminalState {
  device: Promise<Device>;
  /** One connection, one script: the cases take turns. */
  turns: Turns;
  counts: { opened: number; tame: number; ended: number; skipped: number; prompts: number };
}

const states = new WeakMap<World, TerminalState>();

function stateOf(w: World): TerminalState {
  let s = states.get(w);
  if (!s) {
    s = {
      device: startDevice(w),
      turns: new Turns(),
      counts: { opened: 0, tame: 0, ended: 0, skipped: 0, prompts: 0 },
    };
    states.set(w, s);
  }
  return s;
}

/** ssh2's server API, as used here (ssh2 ships no types). */
// deno-lint-ignore no-explicit-any
type Any = any;

/** The ssh2 server whose manners the current script sets. */
async function startSsh2(current: () => Manners | null): Promise<{ port: number; stop(): void }> {
  const hostKey = await freshHostKey();
  const { Server } = ssh2 as Any;
  const server = new Server({ hostKeys: [hostKey] }, (client: Any) => {
    const m = current();
    client.on("error", () => {});
    if (!m) return client.end();
    client.on("authentication", (ctx: Any) => {
      const ok = ctx.username === USER;
      if (m.auth === "reject") return ctx.reject(["password", "keyboard-interactive"]);
      if (m.auth === "partial") return ctx.reject(["keyboard-interactive"], true);
      if (m.auth === "none-first" && ctx.method === "none") return ctx.reject(["password"]);
      if (m.auth === "prompts" && ctx.method === "keyboard-interactive") {
        return ctx.prompt(m.prompts, m.title, "fuzz", () => ctx.accept());
      }
      if (m.auth === "prompts" && ctx.method !== "keyboard-interactive") {
        return ctx.reject(["keyboard-interactive"]);
      }
      if (ctx.method === "password" && ok && ctx.password === PASSWORD) return ctx.accept();
      if (m.tame) return ctx.reject(["password"]);
      return ctx.accept();
    });
    client.on("ready", () => {
      client.on("session", (accept: () => Any, reject: () => void) => {
        if (m.session === "reject") return reject();
        const session = accept();
        session.on("pty", (ok?: () => void, no?: () => void) => (m.pty ? ok?.() : no?.()));
        session.on("env", (ok?: () => void) => ok?.());
        session.on("window-change", () => {});
        session.on("shell", (ok: () => Any, no: () => void) => {
          if (m.shell === "reject") return no();
          const stream = ok();
          if (m.shell === "end-now") return client.end();
          if (m.tame) {
            stream.write("fuzz-ready\r\n");
            stream.on("data", (d: Uint8Array) => stream.write(d));
            return;
          }
          for (const chunk of m.output) stream.write(chunk);
          if (m.stderr.length) stream.stderr.write(m.stderr);
          if (m.exit?.code !== undefined) stream.exit(m.exit.code);
          else if (m.exit?.signal) stream.exit(m.exit.signal, false, "fuzz");
          if (m.exit) stream.end();
          if (m.hangUp) setTimeout(() => client.end(), 50);
        });
      });
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, TERMINAL_HOST, () => resolve(server.address().port))
  );
  return { port, stop: () => server.close() };
}

/** Starts the device, adds it to tenant A, holds its credentials and pins its real key. */
async function startDevice(w: World): Promise<Device> {
  let current: Script | null = null;
  const ssh = await startSsh2(() => current?.kind === "ssh2" ? current.manners : null);
  const front: HandSshServer = handSshServer(TERMINAL_HOST, async (conn, reader) => {
    const script = current;
    if (!script) return;
    if (script.kind === "hand") return await script.serve(conn, reader);
    const up = await Deno.connect({ hostname: TERMINAL_HOST, port: ssh.port });
    try {
      await Promise.all([
        conn.readable.pipeTo(up.writable).catch(() => {}),
        up.readable.pipeTo(conn.writable).catch(() => {}),
      ]);
    } finally {
      try {
        up.close();
      } catch { /* closed */ }
    }
  });
  w.stack.defer(async () => {
    ssh.stop();
    await front.close();
  });
  const { stack, a } = w;
  const added = await stack.api("POST", `/api/sites/${a.siteId}/devices`, a.apiToken, {
    host: TERMINAL_HOST,
    ports: [front.port],
    protocols: { [front.port]: "ssh" },
  });
  if (added.status !== 201) throw new Error(`adding the SSH device: ${added.status}`);
  const id = added.json.id as string;
  const handle = (added.json.handles as Record<string, string>)[String(front.port)];
  for (
    const [method, path, body] of [
      ["PUT", `/api/sites/${a.siteId}/devices/${id}/credentials`, {
        username: USER,
        password: PASSWORD,
      }],
      // Cases that hang keep their slot until the cloud gives up: enough for every job.
      ["PUT", "/api/terminal/policy", { maxPerUser: 100, maxPerDevice: 100 }],
    ] as const
  ) {
    const r = await stack.api(method, path, a.apiToken, body);
    if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status}`);
  }
  const device: Device = {
    port: front.port,
    handle,
    keyPath: `/api/devices/${id}/ports/${front.port}/host-key`,
    pinned: "",
    script: (s) => void (current = s),
    close: () => front.close(),
  };
  // The first well-formed session pins the device's real key (the allowlist may take a moment).
  for (let tries = 0;; tries++) {
    device.script({ kind: "ssh2", manners: tameManners() });
    const r = await session(w, handle, { input: "pin\r", wantEcho: "pin", ms: 10_000 });
    device.script(null);
    if (r.echoed) {
      device.pinned = (await keyState(w, device)).pinned;
      break;
    }
    if (tries >= 10) throw new Error(`the SSH device's first session failed: ${r.texts}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return device;
}

/** The device port's pinned key and the one offered in its place, by fingerprint. */
async function keyState(w: World, d: Device): Promise<{ pinned: string; offered: string | null }> {
  const r = await w.stack.api("GET", d.keyPath, w.a.apiToken);
  const j = r.json as {
    pinned?: { fingerprint: string } | null;
    offered?: { fingerprint: string } | null;
  };
  return { pinned: j.pinned?.fingerprint ?? "", offered: j.offered?.fingerprint ?? null };
}

function tameManners(): Manners {
  return {
    tame: true,
    auth: "accept",
    prompts: [],
    title: "",
    session: "accept",
    pty: true,
    shell: "accept",
    output: [],
    stderr: new Uint8Array(0),
    exit: null,
    hangUp: false,
  };
}

const TEXTS = [
  ...NASTY,
  "\x1b]0;title\x07\x1b[2J\x1b[31m",
  "Password: ",
  "\u0000",
  "x".repeat(70_000),
  "漢字".repeat(500),
  '{"type":"end"}',
  "</script><script>alert(1)</script>",
];

function hostileManners(rng: Rng): Manners {
  const text = () => rng.pick(TEXTS);
  return {
    tame: false,
    auth: rng.pick(["accept", "reject", "partial", "prompts", "prompts", "none-first"] as const),
    prompts: Array.from(
      { length: rng.pick([0, 1, 2, 5, 40]) },
      () => ({ prompt: text(), echo: rng.chance(0.5) }),
    ),
    title: text(),
    session: rng.chance(0.85) ? "accept" : "reject",
    pty: rng.chance(0.85),
    shell: rng.pick(["accept", "accept", "accept", "reject", "end-now"] as const),
    output: Array.from(
      { length: rng.int(6) },
      () =>
        rng.chance(0.5)
          ? enc.encode(text())
          : rng.bytes(rng.size(rng.chance(0.1) ? 1 << 20 : 4096)),
    ),
    stderr: rng.chance(0.3) ? enc.encode(text()) : new Uint8Array(0),
    exit: rng.chance(0.5)
      ? (rng.chance(0.5)
        ? { code: rng.pick([0, 1, 255, 256, -1, 2 ** 32 - 1]) }
        : { signal: rng.pick(["KILL", "SEGV", "", "X".repeat(300), "\u0000"]) })
      : null,
    hangUp: rng.chance(0.3),
  };
}

/** The opening a real server sends, made hostile at one step. */
function handScript(rng: Rng): Script {
  const random = (n: number) => rng.bytes(n);
  const idLine = () =>
    rng.chance(0.7) ? enc.encode("SSH-2.0-FuzzSSH\r\n") : enc.encode(
      rng.pick([
        "SSH-1.5-old\r\n",
        "SSH-1.99-either\r\n",
        `${"pre-banner line\r\n".repeat(rng.int(300))}SSH-2.0-x\r\n`,
        `SSH-2.0-${"A".repeat(rng.pick([200, 253, 300, 9000]))}\r\n`,
        "SSH-2.0-nul\u0000\r\n",
        "SSH-2.0-no-crlf",
        "\r\n\r\nSSH-2.0-x\n",
        `SSH-2.0-${rng.pick(NASTY)}\r\n`,
        "HTTP/1.1 400 Bad Request\r\n\r\n",
      ]),
    );
  const lists = () => {
    const l = { ...SERVER_LISTS };
    const key = rng.pick(Object.keys(l) as (keyof typeof l)[]);
    l[key] = rng.pick([
      "",
      ",",
      "x".repeat(40_000),
      rng.pick(NASTY),
      "none",
      `${l[key]},${l[key]}`,
    ]);
    return l;
  };
  const oddMessage = () =>
    sshPacket(rng.pick([
      concatBytes(
        new Uint8Array([SSH_MSG.DISCONNECT, 0, 0, 0, rng.int(20)]),
        sshString(rng.pick(TEXTS)),
        sshString(""),
      ),
      concatBytes(new Uint8Array([SSH_MSG.DEBUG, 1]), sshString(rng.pick(TEXTS)), sshString("en")),
      concatBytes(new Uint8Array([SSH_MSG.IGNORE]), sshString(random(rng.size(2000)))),
      new Uint8Array([SSH_MSG.UNIMPLEMENTED, 0, 0, 0, 7]),
      new Uint8Array([rng.int(256)]),
      new Uint8Array(0),
    ]));
  const hostKey = () =>
    rng.pick([
      ed25519Blob(random(32)),
      ed25519Blob(random(rng.pick([0, 31, 33, 64]))),
      concatBytes(
        sshString(rng.pick(["ssh-rsa", "ecdsa-sha2-nistp256", "", "ssh-ed25519\u0000"])),
        random(rng.size(600)),
      ),
      random(rng.size(300)),
      new Uint8Array([0xff, 0xff, 0xff, 0xff]),
    ]);
  const step = rng.int(5);
  return {
    kind: "hand",
    serve: async (conn, reader) => {
      const send = (b: Uint8Array) => writeAllTo(conn, rng.chance(0.2) ? mutate(rng, b) : b);
      if (step === 0) { // only an identification (or garbage), then hang a little or go
        await send(rng.chance(0.8) ? idLine() : random(rng.size(2000)));
        if (rng.chance(0.5)) await new Promise((r) => setTimeout(r, rng.int(1500)));
        return;
      }
      if (!(await send(idLine()))) return;
      if ((await reader.line()) === null) return;
      if (step === 1) { // odd messages instead of (or before) KEXINIT
        for (let i = 1 + rng.int(5); i > 0; i--) await send(oddMessage());
        if (rng.chance(0.5)) await send(sshPacket(kexInit()));
        await reader.packet();
        return;
      }
      if (step === 2) { // a KEXINIT that lies or lists oddly
        const payload = kexInit(lists(), random(16));
        await send(
          rng.chance(0.5) ? sshPacket(payload) : sshPacket(payload, {
            packetLength: rng.pick([0, 1, 5, 35_001, 2 ** 32 - 1, payload.length]),
            paddingLength: rng.pick([0, 3, 255, payload.length + 10]),
          }),
        );
        await reader.packet();
        await reader.packet();
        return;
      }
      // A real opening, then a key exchange reply for a key it cannot sign with.
      await send(sshPacket(kexInit()));
      if (!(await reader.packet())) return;
      const init = await reader.packet();
      if (init?.[0] !== SSH_MSG.KEX_ECDH_INIT) return;
      const sig = rng.chance(0.5)
        ? concatBytes(sshString("ssh-ed25519"), sshString(random(64)))
        : random(rng.size(300));
      const ephemeral = random(rng.pick([32, 32, 0, 31, 65, 1000]));
      const reply = ecdhReply(step === 3 ? ed25519Blob(random(32)) : hostKey(), ephemeral, sig);
      await send(sshPacket(reply));
      if (rng.chance(0.7)) await send(sshPacket(new Uint8Array([SSH_MSG.NEWKEYS])));
      if (rng.chance(0.3)) await send(oddMessage());
      await reader.packet();
    },
  };
}

/** What the operator saw of one session. */
interface Seen {
  opened: boolean;
  status: number;
  texts: string[];
  output: string;
  echoed: boolean;
  closed: boolean;
}

/**
 * One terminal session as an operator's client: opens it with the nt_ token, says hello, types
 * `input` (and `extra` messages), and leaves after `ms` or once `wantEcho` came back.
 */
function session(
  w: World,
  handle: string,
  o: { input?: string; wantEcho?: string; extra?: (string | Uint8Array)[]; ms: number },
): Promise<Seen> {
  const seen: Seen = {
    opened: false,
    status: 0,
    texts: [],
    output: "",
    echoed: false,
    closed: false,
  };
  let typed = false;
  return new Promise<Seen>((resolve) => {
    const ws = new WebSocket(
      `ws://127.0.0.1:${w.stack.ports.http}/api/terminal/${handle}`,
      ["nc-terminal"],
      { headers: { authorization: `Bearer ${w.a.apiToken}` }, perMessageDeflate: false },
    );
    const done = () => {
      clearTimeout(timer);
      try {
        ws.terminate();
      } catch { /* closed */ }
      resolve(seen);
    };
    const timer = setTimeout(done, o.ms);
    ws.on("unexpected-response", (_req: unknown, res: { statusCode: number; resume(): void }) => {
      seen.status = res.statusCode;
      res.resume();
      done();
    });
    ws.on("error", () => done());
    ws.on("open", () => {
      seen.opened = true;
      ws.send(JSON.stringify({ type: "hello", cols: 80, rows: 24 }));
      for (const m of o.extra ?? []) ws.send(m);
    });
    ws.on("message", (data: Uint8Array, binary: boolean) => {
      if (binary) {
        seen.output += new TextDecoder().decode(data);
        if (seen.output.length > 1 << 20) seen.output = seen.output.slice(-4096);
        if (o.input && !typed && seen.output.includes("fuzz-ready")) {
          typed = true;
          ws.send(JSON.stringify({ type: "input", data: o.input }));
        }
        if (o.wantEcho && seen.output.includes(o.wantEcho)) {
          seen.echoed = true;
          done();
        }
      } else seen.texts.push(new TextDecoder().decode(data));
    });
    ws.on("close", () => {
      seen.closed = true;
      done();
    });
  });
}

/** What is wrong with one text message of the cloud ("" when nothing). */
function textFault(text: string): string {
  let m: { type?: unknown; message?: unknown; error?: unknown };
  try {
    m = JSON.parse(text);
  } catch {
    return "a text message that is not JSON";
  }
  if (!["status", "login", "prompt", "warning", "end"].includes(String(m.type))) {
    return `a message of type ${String(m.type)}`;
  }
  if (m.type === "end" && m.error !== null && !(String(m.error) in CATALOGUE)) {
    return `an end with the unknown code ${String(m.error)}`;
  }
  const leak = LEAK.exec(text);
  return leak ? `internals: ${text.slice(Math.max(0, leak.index - 100), leak.index + 100)}` : "";
}

/** The operator's own odd messages. */
function oddClientMessages(rng: Rng): (string | Uint8Array)[] {
  return Array.from({ length: rng.int(4) }, () =>
    rng.pick<string | Uint8Array>([
      JSON.stringify({ type: "resize", cols: rng.pick([0, 2, 1000, 1001, -1]), rows: 1 }),
      JSON.stringify({ type: "input", data: rng.pick(TEXTS) }),
      JSON.stringify({ type: "login", username: "x", password: "y" }),
      JSON.stringify({ type: "answers", answers: Array(rng.pick([0, 1, 17, 65])).fill("1") }),
      JSON.stringify({ type: rng.pick(NASTY) }),
      rng.pick(NASTY),
      rng.bytes(rng.size(100)),
    ]));
}

/** How long a case waits for its turn before it is skipped (a case has 15 s in all). */
const TURN_WAIT_MS = 6_000;

/** The terminal target. */
export const terminal: Target = {
  name: "terminal",
  async run(w, rng, n) {
    const st = stateOf(w);
    const device = await st.device;
    const release = await st.turns.take(TURN_WAIT_MS);
    if (!release) {
      st.counts.skipped++;
      return [];
    }
    const tame = n % 8 === 0;
    const script: Script = tame
      ? { kind: "ssh2", manners: tameManners() }
      : rng.chance(0.5)
      ? handScript(rng)
      : { kind: "ssh2", manners: hostileManners(rng) };
    const input = `terminal case ${n}: ${
      tame
        ? "a well-formed device"
        : script.kind === "hand"
        ? "a hand-spoken opening"
        : "an ssh2 device with hostile manners"
    }`;
    const findings: Finding[] = [];
    try {
      device.script(script);
      const word = `echo-${n}`;
      const seen = await session(w, device.handle, {
        input: tame ? `${word}\r` : undefined,
        wantEcho: tame ? word : undefined,
        // Odd messages end the session at once (400 "invalid terminal message"): only now and then.
        extra: !tame && rng.chance(0.15) ? oddClientMessages(rng) : [],
        ms: tame ? 6_000 : 3_000,
      });
      if (seen.status && seen.status !== 429) {
        findings.push({ kind: `terminal refused with ${seen.status}`, detail: "", input });
      }
      if (seen.opened) st.counts.opened++;
      if (seen.texts.some((t) => t.includes('"type":"end"'))) st.counts.ended++;
      if (seen.texts.some((t) => t.includes('"type":"prompt"'))) st.counts.prompts++;
      for (const t of seen.texts) {
        const fault = textFault(t);
        if (fault) {
          findings.push({
            kind: "a terminal message out of protocol",
            detail: fault.slice(0, 300),
            input,
          });
          break;
        }
      }
      // Only the device's real key may be pinned or offered: every other key this target
      // presents (by hand) is one nobody can sign with.
      const key = await keyState(w, device);
      if (key.pinned !== device.pinned || key.offered !== null) {
        findings.push({
          kind: "a host key pinned or offered that the device did not prove",
          detail: `pinned ${key.pinned} (was ${device.pinned}), offered ${key.offered}`,
          input,
        });
      }
      if (tame) {
        if (seen.echoed) st.counts.tame++;
        else {
          findings.push({
            kind: "a well-formed device's shell did not echo",
            detail: `${seen.texts.join(" ").slice(0, 300)} / ${seen.output.slice(-200)}`,
            input,
          });
        }
      }
    } finally {
      device.script(null);
      release();
    }
    return findings;
  },
  checks: (w) => ({ ...stateOf(w).counts }),
};
