/**
 * A real mail server for the email alert tests: `smtp_server.py` (aiosmtpd) in its own process on
 * 127.0.0.1, each message it accepts read back as Python's email parser saw it.
 * @module
 */
import { Buffer } from "node:buffer";

/** One message as the server received and parsed it. */
export interface ReceivedMail {
  from: string;
  to: string[];
  /** Whether the session ran TLS (STARTTLS or from the first byte). */
  tls: boolean;
  /** The user that signed in, if any. */
  login: string | null;
  /** Headers, names lower-cased, values decoded. */
  headers: Record<string, string>;
  text: string | null;
  html: string | null;
  attachments: { type: string; cid: string | null; filename: string | null; base64: string }[];
}

/** What the server is started with. */
export interface MailServerOptions {
  /** A certificate and key: STARTTLS offered and required, or TLS from the start (`implicit`). */
  tls?: { cert: string; key: string; implicit?: boolean };
  /** Sign-in required. */
  auth?: { user: string; password: string };
  /** A recipient the server refuses for good (550). */
  reject?: string;
  /** A recipient the server defers (450, greylisting: try again later). */
  defer?: string;
}

/** A running mail server. */
export class MailServer {
  /** The messages accepted so far, oldest first. */
  readonly got: ReceivedMail[];
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #dir: string;
  readonly #done: Promise<unknown>;

  private constructor(
    child: Deno.ChildProcess,
    port: number,
    dir: string,
    done: Promise<unknown>,
    got: ReceivedMail[],
  ) {
    this.got = got;
    this.#child = child;
    this.port = port;
    this.#dir = dir;
    this.#done = done;
  }

  /** Starts one; resolves once it listens. */
  static async start(o: MailServerOptions = {}): Promise<MailServer> {
    const dir = await Deno.makeTempDir({ prefix: "nc-smtp-" });
    const env: Record<string, string> = {};
    if (o.tls) {
      await Deno.writeTextFile(`${dir}/cert.pem`, o.tls.cert);
      await Deno.writeTextFile(`${dir}/key.pem`, o.tls.key, { mode: 0o600 });
      env.SMTP_TLS_CERT = `${dir}/cert.pem`;
      env.SMTP_TLS_KEY = `${dir}/key.pem`;
      if (o.tls.implicit) env.SMTP_IMPLICIT_TLS = "1";
    }
    if (o.auth) Object.assign(env, { SMTP_USER: o.auth.user, SMTP_PASSWORD: o.auth.password });
    if (o.reject) env.SMTP_REJECT = o.reject;
    if (o.defer) env.SMTP_DEFER = o.defer;
    const child = new Deno.Command("/usr/bin/python3", {
      args: [new URL("./smtp_server.py", import.meta.url).pathname],
      env,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    let resolvePort!: (p: number) => void;
    const ready = new Promise<number>((r) => resolvePort = r);
    const got: ReceivedMail[] = [];
    const done = (async () => {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        buffered += value;
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          if ("ready" in line) resolvePort(line.ready);
          else got.push(line);
        }
      }
      resolvePort(0);
    })();
    const port = await ready;
    if (!port) throw new Error("smtp_server.py did not start (python3-aiosmtpd missing?)");
    return new MailServer(child, port, dir, done, got);
  }

  /** `smtp://` (or `smtps://`) to this server, with `user:password@` when given. */
  url(auth?: { user: string; password: string }, scheme = "smtp"): string {
    const who = auth
      ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@`
      : "";
    return `${scheme}://${who}127.0.0.1:${this.port}`;
  }

  /**
   * The messages accepted so far once there are at least `n`: the server's line about a message
   * can reach this process a moment after the sender read its 250.
   */
  async received(n: number, ms = 10_000): Promise<ReceivedMail[]> {
    const end = Date.now() + ms;
    while (this.got.length < n) {
      if (Date.now() > end) {
        throw new Error(`the mail server got ${this.got.length} messages in ${ms} ms, not ${n}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.got;
  }

  /** The messages whose subject includes `text`, else null (for `until`). */
  withSubject(text: string): ReceivedMail[] | null {
    const found = this.got.filter((m) => (m.headers.subject ?? "").includes(text));
    return found.length ? found : null;
  }

  /** An attachment's bytes. */
  static bytes(a: { base64: string }): Uint8Array {
    return new Uint8Array(Buffer.from(a.base64, "base64"));
  }

  /** Stops the server and removes its files. */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
    await this.#done.catch(() => {});
    await Deno.remove(this.#dir, { recursive: true });
  }
}
