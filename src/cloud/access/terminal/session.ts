/**
 * One browser terminal session, from the upgraded WebSocket to the end: take a slot under the
 * tenant's limits, find credentials (held by the cloud, or asked once from the operator), open
 * the tunnel through the agent, log in over SSH with the host key checked against its pin, then
 * carry keystrokes, resizes and output until the shell exits, the operator leaves, the idle
 * timeout or the maximum length passes, or the operator's credential is revoked. Everything the
 * device printed is recorded (asciicast v2) and the session's audit entry names the recording.
 * @module
 */
// @ts-types="@types/ws"
import type { WebSocket as WsSocket } from "ws";
import type { Buffer } from "node:buffer";
import { AppError } from "../../../shared/errors.ts";
import { newId } from "../../../shared/ids.ts";
import type { Principal } from "../../tenancy/auth.ts";
import { type DeviceSecrets, useDeviceCredentials } from "../../tenancy/device_secrets.ts";
import { type Authorized, openTunnel, type RouteDeps } from "../route.ts";
import {
  type ClientMessage,
  MAX_PROMPTS,
  parseClientMessage,
  type ServerMessage,
} from "../../../shared/protocol/terminal.ts";
import {
  describeHostKey,
  type HostKeyVerdict,
  pinHostKey,
  type PresentedKey,
  recordOfferedKey,
  verifyHostKey,
} from "./host_key.ts";
import { terminalPolicy } from "./policy.ts";
import { Inbox } from "./inbox.ts";
import { SessionTimers } from "./session_timers.ts";
import { type KeyboardQuestion, openSshShell, type SshLogin, type SshShell } from "./ssh_client.ts";
import { AsciicastRecorder } from "./recorder.ts";
import type { TerminalSlots } from "./slots.ts";

/** What a terminal session needs besides the route. */
export interface TerminalDeps extends RouteDeps {
  secrets: DeviceSecrets;
  slots: TerminalSlots;
  /** Bound on the SSH handshake and login (default 30 s). */
  sshReadyTimeoutMs?: number;
}

/** How many times an operator may retype a refused login. */
const LOGIN_TRIES = 3;
/** How long the browser has to say its size, and to answer a login prompt. */
const HELLO_MS = 15_000;
const LOGIN_MS = 5 * 60_000;
/** Browser messages held before the shell is up (typing ahead, a paste). */
const MAX_QUEUED = 1024;
/** Output messages in flight to the browser before the device's channel is paused. */
const MAX_PENDING_SENDS = 64;

/** WebSocket close reasons are at most 123 bytes. */
function closeReason(s: string): string {
  const b = new TextEncoder().encode(s);
  return b.length <= 123
    ? s
    : new TextDecoder().decode(b.subarray(0, 120)).replace(/\uFFFD$/, "") + "…";
}

function minutes(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** Runs the session on an upgraded WebSocket; resolves when it has ended and been recorded. */
export async function runTerminal(
  d: TerminalDeps,
  ws: WsSocket,
  principal: Principal,
  target: Authorized,
): Promise<void> {
  const { handle, device } = target;
  const started = d.clock.now();
  const send = (m: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };
  const inbox = new Inbox<ClientMessage>(MAX_QUEUED, () => d.clock.now());
  let ended = false;
  let endReason = "closed by the operator";
  const onEnd: (() => void)[] = [];
  let endResolve!: () => void;
  const endedP = new Promise<void>((r) => (endResolve = r));
  /** Ends the session once: the message to the browser, then the close. */
  const end = (reason: string, code = 1000, error: string | null = null) => {
    if (ended) return;
    ended = true;
    endReason = reason;
    send({ type: "end", message: reason, error });
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(code, closeReason(reason));
    }
    for (const f of onEnd.splice(0)) {
      try {
        f();
      } catch { /* already gone */ }
    }
    inbox.close();
    endResolve();
  };
  const audit = (action: string, detail: Record<string, unknown>) =>
    d.store.appendAudit({
      tenantId: handle.tenantId,
      actor: principal.actor,
      action,
      target: device.id,
      detail: { handle: handle.id, port: handle.port, ...detail },
    });
  const fail = (e: unknown) => {
    if (e instanceof AppError && !ended) {
      audit("terminal.refused", { reason: e.code, message: e.message }).catch(() => {});
    }
    if (e instanceof AppError) {
      const code = e.httpStatus === 401 || e.httpStatus === 403 || e.httpStatus === 409 ||
          e.httpStatus === 429
        ? 1008
        : 1011;
      end(e.message, code, e.code);
    } else {
      d.log.error({ err: (e as Error).message }, "terminal session failed");
      end("internal error", 1011, "internal");
    }
  };
  ws.on("close", () => end(endReason));
  ws.on("error", () => end("connection error"));
  // Input before the shell is up is queued; after, it goes straight to the channel.
  let onInput: ((m: ClientMessage) => void) | null = null;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    const m = isBinary ? null : parseClientMessage(data.toString("utf8"));
    if (!m) return end("invalid terminal message", 1008, "bad_request");
    if (onInput) return onInput(m);
    if (!inbox.push(m)) end("too many terminal messages", 1008, "bad_request");
  });

  /** Registers what to undo at the end — at once when the session already ended meanwhile. */
  const atEnd = (f: () => void) => {
    if (!ended) return void onEnd.push(f);
    try {
      f();
    } catch { /* already gone */ }
  };
  const unlive = d.live?.add(principal, (reason) => end(reason, 1008, "revoked"));
  if (unlive) atEnd(unlive);
  let recorder: AsciicastRecorder | null = null;
  let shell: SshShell | null = null;
  try {
    const hello = await inbox.next("hello", HELLO_MS);
    if (!hello) {
      if (!ended) end("the browser did not start the terminal", 1008, "bad_request");
      return await endedP;
    }
    let size = { cols: hello.cols, rows: hello.rows };
    const policy = await terminalPolicy(d.store, handle.tenantId);
    atEnd(
      await d.slots.take(handle.tenantId, principal.userId ?? principal.actor, device.id, policy),
    );
    send({ type: "status", message: `connecting to ${device.host}:${handle.port}…` });

    // Further keyboard-interactive rounds (one-time codes) are the operator's to answer; the
    // answers go to the device and nowhere else.
    const ask = async (q: KeyboardQuestion): Promise<string[]> => {
      if (q.prompts.length > MAX_PROMPTS) {
        end(
          `the device asked ${q.prompts.length} questions at once; ` +
            `the terminal answers at most ${MAX_PROMPTS}`,
          1008,
          "ssh_auth_failed",
        );
        throw new AppError("ssh_auth_failed");
      }
      send({ type: "prompt", ...q });
      const m = await inbox.next("answers", LOGIN_MS);
      if (!m) throw new AppError("ssh_auth_failed");
      return m.answers;
    };
    let held: SshLogin | null = null;
    let username = "";
    try {
      const c = await useDeviceCredentials(d.store, d.secrets, {
        tenantId: handle.tenantId,
        deviceId: device.id,
        actor: principal.actor,
        via: "terminal",
        handle: handle.id,
      });
      if (c) held = { username: c.username, password: c.password, privateKey: c.privateKey };
    } catch (e) {
      d.log.warn(
        { device: device.id, err: (e as Error).message },
        "device credentials do not open",
      );
    }
    for (let attempt = 1; !shell && !ended; attempt++) {
      let login = held;
      if (!login) {
        send({
          type: "login",
          message: attempt === 1
            ? "The cloud holds no credentials for this device. Log in:"
            : "The device refused the login. Try again:",
        });
        const m = await inbox.next("login", LOGIN_MS);
        if (!m) {
          if (!ended) end("no login given", 1008, "ssh_auth_failed");
          break;
        }
        login = { username: m.username, password: m.password };
      }
      login = { ...login, ask };
      username = login.username;
      const t = await openTunnel(d, target, "terminal");
      atEnd(() => {
        t.done();
        const s = d.registry.get(t.agentId);
        if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
        t.socket.close(); // may already be closed by the SSH client: end() catches that
      });
      // The key the device presented and what the pin made of it, acted on once it is proven.
      let presented: { key: PresentedKey; verdict: HostKeyVerdict } | null = null;
      const keyContext = () => ({
        tenantId: handle.tenantId,
        deviceId: device.id,
        port: handle.port,
        actor: principal.actor,
        handle: handle.id,
        now: d.clock.now(),
      });
      try {
        shell = await openSshShell(t.socket, {
          login,
          cols: size.cols,
          rows: size.rows,
          readyTimeoutMs: d.sshReadyTimeoutMs ?? 30_000,
          verifyHostKey: async (blob) => {
            const key = describeHostKey(blob);
            const verdict = await verifyHostKey(d.store, keyContext(), key);
            presented = { key, verdict };
            if (verdict.kind === "changed") return { refuseOnceProven: verdict.error };
          },
          // A device's first key is pinned, and a changed one offered to the admins, once the
          // device has signed the key exchange with it.
          hostKeyProven: async () => {
            if (presented?.verdict.kind === "first") {
              await pinHostKey(d.store, keyContext(), presented.key);
            } else if (presented?.verdict.kind === "changed") {
              await recordOfferedKey(d.store, keyContext(), presented.key);
            }
          },
        });
      } catch (e) {
        const retry = e instanceof AppError && e.code === "ssh_auth_failed" && !held &&
          attempt < LOGIN_TRIES;
        if (!retry) throw e;
      }
      login = null; // the typed password is not kept past the login
    }
    if (!shell || ended) return await endedP;
    const sh = shell;
    atEnd(() => sh.close());
    const rec = new AsciicastRecorder({
      now: () => d.clock.now(),
      cols: size.cols,
      rows: size.rows,
      recordInput: policy.recordInput,
      title: `${device.label || device.host}:${handle.port}`,
    });
    recorder = rec;
    const credentials = held ? "held" : "typed";
    held = null; // neither held nor typed secrets outlive the login
    await audit("terminal.open", { credentials, username });
    send({ type: "status", message: `connected to ${device.host}:${handle.port}` });

    // Output: device → recording → browser, pausing the channel while the browser lags.
    let pending = 0;
    sh.channel.on("data", (chunk: Buffer) => {
      const bytes = new Uint8Array(chunk);
      rec.output(bytes);
      if (ws.readyState !== ws.OPEN) return;
      pending++;
      if (pending >= MAX_PENDING_SENDS) sh.channel.pause();
      ws.send(bytes, { binary: true }, () => {
        pending--;
        if (pending < MAX_PENDING_SENDS / 2) sh.channel.resume();
      });
    });
    sh.channel.stderr.on("data", (chunk: Buffer) => {
      rec.output(new Uint8Array(chunk));
      if (ws.readyState === ws.OPEN) ws.send(new Uint8Array(chunk), { binary: true });
    });
    sh.channel.on("close", () => end("the shell ended"));
    sh.channel.on(
      "error",
      (e) => end(`the shell failed: ${e.message}`, 1011, "device_unreachable"),
    );

    // Limits on time: idle (warned first) and maximum length.
    const timers = new SessionTimers(policy, {
      warn: (left) =>
        send({
          type: "warning",
          message: `No input for a while: this session closes in ${minutes(left)} unless you type.`,
        }),
      idle: () => end(`idle timeout: closed after ${minutes(policy.idleTimeoutMs)} without input`),
      max: () => end(`maximum session length reached (${minutes(policy.maxSessionMs)})`),
    });
    atEnd(() => timers.stop());

    const apply = (m: ClientMessage) => {
      if (ended) return;
      if (m.type === "input") {
        timers.activity();
        rec.input(m.data);
        sh.channel.write(m.data);
      } else if (m.type === "resize") {
        timers.activity();
        size = { cols: m.cols, rows: m.rows };
        rec.resize(m.cols, m.rows);
        sh.channel.setWindow(m.rows, m.cols, 0, 0);
      }
    };
    onInput = apply;
    for (const m of inbox.drain()) apply(m);
  } catch (e) {
    fail(e);
  }
  await endedP;
  if (recorder) await saveRecording(d, recorder, principal, target, started, endReason, audit);
}

async function saveRecording(
  d: TerminalDeps,
  rec: AsciicastRecorder,
  principal: Principal,
  { handle, device }: Authorized,
  startedAt: number,
  endReason: string,
  audit: (action: string, detail: Record<string, unknown>) => Promise<unknown>,
): Promise<void> {
  const endedAt = d.clock.now();
  const id = newId("rec");
  try {
    const policy = await terminalPolicy(d.store, handle.tenantId);
    await d.store.putRecording({
      id,
      tenantId: handle.tenantId,
      deviceId: device.id,
      port: handle.port,
      handle: handle.id,
      actor: principal.actor,
      startedAt,
      endedAt,
      endReason,
      cast: rec.text(),
    });
    await d.store.deleteRecordingsBefore(handle.tenantId, endedAt - policy.retentionMs);
    await audit("terminal.session", {
      recordingId: id,
      durationMs: endedAt - startedAt,
      reason: endReason,
      inputRecorded: rec.recordInput,
    });
  } catch (e) {
    d.log.error({ err: (e as Error).message }, "terminal recording not saved");
  }
}
