/**
 * The cloud as the SSH client of a device: `ssh2` (pure JavaScript under Deno — its optional
 * native add-ons are not needed) speaking over the agent's tunnel, with the device's host key
 * checked by the caller before any credential is sent, then an interactive shell with a PTY
 * (xterm-256color). Credentials come from the cloud (held, sealed) or from the operator's one
 * login prompt; either way they live only as long as this function's login.
 * @module
 */
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

/** How to log in. */
export interface SshLogin {
  username: string;
  /** Also answers keyboard-interactive prompts. */
  password?: string;
  privateKey?: string;
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
  /** Throws (e.g. `host_key_changed`) to refuse the device's host key blob. */
  verifyHostKey: (blob: Uint8Array) => Promise<void>;
  /** Handshake + login bound. */
  readyTimeoutMs: number;
}

function authMethods(l: SshLogin) {
  const methods: unknown[] = [];
  if (l.privateKey) {
    methods.push({ type: "publickey", username: l.username, key: l.privateKey.trim() + "\n" });
  }
  if (l.password) {
    methods.push({ type: "password", username: l.username, password: l.password });
    const password = l.password;
    methods.push({
      type: "keyboard-interactive",
      username: l.username,
      prompt: (
        _name: string,
        _instructions: string,
        _lang: string,
        prompts: unknown[],
        finish: (answers: string[]) => void,
      ) => finish(prompts.map(() => password)),
    });
  }
  if (!methods.length) methods.push({ type: "none", username: l.username });
  return methods;
}

/** Connects over `conn` (the tunnel to the device), logs in and opens a shell. */
export function openSshShell(conn: Deno.Conn, o: SshConnectOptions): Promise<SshShell> {
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
    client.on("close", () => {
      fail(refusal ?? new AppError("device_unreachable", "the device closed the SSH connection"));
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
    client.connect({
      sock: duplexOf(conn),
      username: o.login.username,
      readyTimeout: o.readyTimeoutMs,
      keepaliveInterval: 30_000,
      authHandler: authMethods(o.login),
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        o.verifyHostKey(new Uint8Array(key)).then(() => verify(true), (e) => {
          refusal = e;
          verify(false);
        });
      },
    });
  });
}
