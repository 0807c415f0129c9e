/**
 * The cloud as the SSH client of a device: `ssh2` (pure JavaScript under Deno — its optional
 * native add-ons are not needed) speaking over the agent's tunnel, with the device's host key
 * checked by the caller before any credential is sent, then an interactive shell with a PTY
 * (xterm-256color). Credentials come from the cloud (held, sealed) or from the operator's one
 * login prompt; either way they live only as long as this function's login.
 * @module
 */
import type { ByteStream } from "../../../shared/transport/byte_stream.ts";
import type { Buffer } from "node:buffer";
import ssh2 from "ssh2";
import { AppError } from "../../../shared/errors.ts";
import { duplexOf } from "../../../shared/transport/conn_duplex.ts";

/**
 * The part of ssh2's API used here. (@types/ssh2 is not used: it pulls in @types/node 18, which
 * hides Deno's own `node:` types from the whole program.)
 */
interface Ssh2Client {
  on(event: "ready", f: () => void): this;
  on(event: "handshake", f: () => void): this;
  on(event: "close", f: () => void): this;
  on(event: "error", f: (e: Error & { level?: string }) => void): this;
  connect(config: Record<string, unknown>): void;
  shell(
    window: { term: string; cols: number; rows: number },
    options: { env: Record<string, string> },
    cb: (err: Error | undefined, channel: ClientChannel) => void,
  ): void;
  end(): void;
}

/** An ssh2 session channel (a node Duplex with a window and stderr). */
export interface ClientChannel {
  on(event: "data", f: (chunk: Buffer) => void): this;
  on(event: "close", f: () => void): this;
  on(event: "error", f: (e: Error) => void): this;
  stderr: { on(event: "data", f: (chunk: Buffer) => void): unknown };
  write(data: string | Uint8Array): boolean;
  setWindow(rows: number, cols: number, height: number, width: number): void;
  pause(): void;
  resume(): void;
}

const Client = (ssh2 as unknown as { Client: new () => Ssh2Client }).Client;

/** One keyboard-interactive round the device asks (prompts with whether to echo the answer). */
export interface KeyboardQuestion {
  name: string;
  instructions: string;
  prompts: { prompt: string; echo: boolean }[];
}

/** How to log in. */
export interface SshLogin {
  username: string;
  /** Also answers a keyboard-interactive round that asks only for one hidden answer. */
  password?: string;
  privateKey?: string;
  /** Answers the other keyboard-interactive rounds (one-time codes, …) — the operator's. */
  ask?: (q: KeyboardQuestion) => Promise<string[]>;
}

/** A logged-in interactive shell. */
export interface SshShell {
  channel: ClientChannel;
  /** Ends the shell and the SSH connection. */
  close(): void;
}

/** What the connection needs. */
export interface SshConnectOptions {
  login: SshLogin;
  cols: number;
  rows: number;
  /**
   * Checks the device's host key blob before the key exchange proves the device holds it (ssh2
   * asks about the key before it checks the exchange's signature): resolves to go on — with the
   * error to end the connection with once the key is proven (a changed key), before any login —
   * or throws to refuse it at once.
   */
  verifyHostKey: (blob: Uint8Array) => Promise<{ refuseOnceProven?: AppError } | void>;
  /**
   * The key exchange is done: the device signed it with the key `verifyHostKey` saw (pins a first
   * key, records a changed one). Throws to end the connection.
   */
  hostKeyProven?: () => Promise<void>;
  /** Bound on the handshake and login, not counting time spent waiting for the operator. */
  readyTimeoutMs: number;
}

/** ssh2's authHandler list; `waiting` brackets the time an answer is the operator's to give. */
function authMethods(l: SshLogin, waiting: (on: boolean) => void) {
  const methods: unknown[] = [];
  if (l.privateKey) {
    methods.push({ type: "publickey", username: l.username, key: l.privateKey.trim() + "\n" });
  }
  if (l.password) methods.push({ type: "password", username: l.username, password: l.password });
  if (l.password || l.ask) {
    let passwordUsed = false;
    methods.push({
      type: "keyboard-interactive",
      username: l.username,
      prompt: (
        name: string,
        instructions: string,
        _lang: string,
        prompts: { prompt: string; echo?: boolean }[],
        finish: (answers: string[]) => void,
      ) => {
        const ps = prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true }));
        if (!ps.length) return finish([]);
        if (l.password && !passwordUsed && ps.length === 1 && !ps[0].echo) {
          passwordUsed = true;
          return finish([l.password]);
        }
        if (!l.ask) return finish(ps.map(() => l.password ?? ""));
        waiting(true);
        l.ask({ name, instructions, prompts: ps }).then(
          (answers) => finish(ps.map((_, i) => answers[i] ?? "")),
          () => finish(ps.map(() => "")),
        ).finally(() => waiting(false));
      },
    });
  }
  if (!methods.length) methods.push({ type: "none", username: l.username });
  return methods;
}

/** Connects over `conn` (the tunnel to the device), logs in and opens a shell. */
export function openSshShell(conn: ByteStream, o: SshConnectOptions): Promise<SshShell> {
  const client = new Client();
  let refusal: unknown = null;
  return new Promise<SshShell>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(e);
    };
    client.on("error", (e: Error & { level?: string }) => {
      if (refusal) return fail(refusal);
      if (e.level === "client-authentication") return fail(new AppError("ssh_auth_failed"));
      if (e.level === "client-timeout") {
        return fail(new AppError("device_timeout", "the device did not complete the SSH login"));
      }
      fail(new AppError("device_unreachable", `SSH failed: ${e.message}`));
    });
    // What the handshake's proof runs (a pin, an offer's record): a refusal waits for it.
    let proving: Promise<unknown> = Promise.resolve();
    client.on("close", () => {
      void proving.finally(() =>
        fail(refusal ?? new AppError("device_unreachable", "the device closed the SSH connection"))
      );
    });
    client.on("ready", () => {
      client.shell(
        { term: "xterm-256color", cols: o.cols, rows: o.rows },
        { env: { LANG: "C.UTF-8" } },
        (err, channel) => {
          if (err) return fail(new AppError("device_unreachable", `no shell: ${err.message}`));
          settled = true;
          resolve({ channel, close: () => client.end() });
        },
      );
    });
    // Our own login deadline, paused while the operator answers a prompt (ssh2's readyTimeout
    // would count that time too; it is only the backstop here).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (on: boolean) => {
      clearTimeout(timer);
      if (on && !settled) {
        timer = setTimeout(
          () => fail(new AppError("device_timeout", "the device did not complete the SSH login")),
          o.readyTimeoutMs,
        );
      }
    };
    arm(true);
    client.on("ready", () => clearTimeout(timer));
    let refuseOnceProven: AppError | undefined;
    client.on("handshake", () => {
      if (refuseOnceProven) {
        // Ended here, synchronously: ssh2 asks for the login service right after this event, and
        // no credential may go to a key that is not the pinned one.
        refusal = refuseOnceProven;
        client.end();
      }
      proving = (o.hostKeyProven?.() ?? Promise.resolve()).catch(fail);
    });
    client.on("close", () => clearTimeout(timer));
    client.connect({
      sock: duplexOf(conn),
      username: o.login.username,
      readyTimeout: o.readyTimeoutMs + 30 * 60_000,
      keepaliveInterval: 30_000,
      authHandler: authMethods(o.login, (waiting) => arm(!waiting)),
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        o.verifyHostKey(new Uint8Array(key)).then((v) => {
          refuseOnceProven = v?.refuseOnceProven;
          verify(true);
        }, (e) => {
          refusal = e;
          verify(false);
        });
      },
    });
  });
}
