/**
 * Sends email alerts through the operator's mail server (`--smtp`, smtp_url.ts) with nodemailer,
 * the well-kept SMTP client, one connection per message (alerts are rare; a pooled connection
 * would sit open to a server that closes idle ones). What an admin reads when it fails is the
 * reason in this product's words with the server's own reply beside it — "the mail server refused
 * the sign-in (535 …)", "cannot reach the mail server smtp://mail.example.com:587: connection
 * refused" — never a stack. The server's certificate may chain to the runtime's authorities or to
 * the machine's store, as for webhooks (trust_roots.ts). Given the company's outbound proxy
 * (`--webhook-proxy`, see {@linkcode mailProxyFor}) it asks the proxy to CONNECT to the server's
 * name and port, and runs SMTP — STARTTLS or TLS from the first byte, verified against the name —
 * through that tunnel, as a webhook's HTTPS does.
 * @module
 */
import { Buffer } from "node:buffer";
import { rootCertificates } from "node:tls";
import nodemailer from "nodemailer";
import { systemCaCerts } from "../../shared/crypto/trust_roots.ts";
import { VERSION } from "../../shared/version.ts";
import type { SmtpConfig } from "./smtp_url.ts";
import type { Logger } from "../../shared/log.ts";
import { bypassesProxy, type ProxyConfig } from "../../shared/transport/proxy.ts";
import { isLoopbackHost } from "../../shared/loopback.ts";

/** How long the server has for the connection, its greeting and each reply. */
export const SMTP_TIMEOUT_MS = 10_000;

/** One message, before the mail server's addresses. */
export interface MailMessage {
  subject: string;
  text: string;
  html: string;
  /** A JPEG picture, attached and shown in the HTML by its content id `picture`. */
  picture?: Uint8Array;
}

/** What the server answered a message it accepted. */
export interface MailSent {
  /** The SMTP reply code (250). */
  code: number;
  response: string;
  /**
   * The recipients the server refused while it took the message for the others, each with its
   * reply (`b@example.com (550 5.1.1 User unknown)`): the message went out, not to them.
   */
  refused: string[];
}

/** A message the server did not take, with the reason and its reply code (null: no reply). */
export class MailError extends Error {
  override name = "MailError";
  /** The server's reply code, when it answered. */
  readonly code: number | null;
  /**
   * Whether sending the same message again cannot help: the server refused its recipients or
   * the message itself with a 5xx reply, which RFC 5321 makes final. A refused sign-in, sender
   * or connection is the cloud's own setting and may be fixed while the alert waits, so it is
   * not final.
   */
  readonly permanent: boolean;

  /** A failure with the words an admin reads, the server's reply code and whether it is final. */
  constructor(message: string, code: number | null, permanent = false) {
    super(message);
    this.code = code;
    this.permanent = permanent;
  }
}

/** The shape of nodemailer's errors that this module reads. */
interface SmtpFailure {
  code?: string;
  /** The command the reply answered (`RCPT TO`, `DATA`, `MAIL FROM`, `AUTH PLAIN`…). */
  command?: string;
  responseCode?: number;
  response?: string;
  message?: string;
  rejected?: string[];
}

/** What nodemailer answers a message it sent. */
interface SmtpInfo {
  response?: string;
  rejected?: unknown[];
  rejectedErrors?: SmtpFailure[];
}

/** Sends messages through one mail server. */
export class Mailer {
  readonly #smtp: SmtpConfig;
  readonly #from: string | (() => string);
  readonly #timeoutMs: number;
  readonly #proxy: ProxyConfig | null;

  /**
   * A mailer through `smtp`, with `from` as the sender (a function: read at each message, for a
   * default that names the public URL known once the cloud listens), reaching the server through
   * `proxy` when one is given (HTTP CONNECT).
   */
  constructor(
    smtp: SmtpConfig,
    from: string | (() => string),
    o: { timeoutMs?: number; proxy?: ProxyConfig | null } = {},
  ) {
    this.#smtp = smtp;
    this.#from = from;
    this.#timeoutMs = o.timeoutMs ?? SMTP_TIMEOUT_MS;
    this.#proxy = o.proxy ?? null;
  }

  /** The server, without credentials. */
  get display(): string {
    return this.#smtp.display;
  }

  /** The proxy the server is reached through, without credentials; null: direct. */
  get proxy(): string | null {
    return this.#proxy?.display ?? null;
  }

  /** The sender. */
  get from(): string {
    return typeof this.#from === "string" ? this.#from : this.#from();
  }

  #transport() {
    const s = this.#smtp;
    const extra = systemCaCerts();
    return nodemailer.createTransport({
      host: s.host,
      port: s.port,
      secure: s.implicitTls,
      requireTLS: s.requireTls,
      ...(s.user !== undefined ? { auth: { user: s.user, pass: s.password ?? "" } } : {}),
      connectionTimeout: this.#timeoutMs,
      greetingTimeout: this.#timeoutMs,
      socketTimeout: this.#timeoutMs,
      dnsTimeout: this.#timeoutMs,
      tls: {
        minVersion: "TLSv1.2",
        ...(extra.length ? { ca: [...rootCertificates, ...extra] } : {}),
      },
      disableFileAccess: true,
      disableUrlAccess: true,
      ...(this.#proxy ? { proxy: proxyUrl(this.#proxy) } : {}),
    });
  }

  /** Sends `mail` to `to`; rejects with a {@linkcode MailError} that says why. */
  async send(
    to: string[],
    mail: MailMessage,
    headers: Record<string, string> = {},
  ): Promise<MailSent> {
    const transport = this.#transport();
    try {
      const info = await transport.sendMail({
        from: this.from,
        to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: {
          // RFC 3834: out-of-office replies and the like are not sent back to the cloud.
          "Auto-Submitted": "auto-generated",
          "X-Mailer": `nanodems-connector/${VERSION}`,
          ...headers,
        },
        ...(mail.picture
          ? {
            attachments: [{
              filename: "camera.jpg",
              content: Buffer.from(mail.picture),
              contentType: "image/jpeg",
              cid: "picture",
            }],
          }
          : {}),
      });
      const response = String(info.response ?? "");
      return {
        code: Number(/^(\d{3})/.exec(response)?.[1] ?? 250),
        response,
        refused: refusedRecipients(info as SmtpInfo),
      };
    } catch (e) {
      throw this.#explain(e as SmtpFailure);
    } finally {
      transport.close();
    }
  }

  /** Connects and signs in without sending, to say at start whether mail will go out. */
  async check(): Promise<void> {
    const transport = this.#transport();
    try {
      await transport.verify();
    } catch (e) {
      throw this.#explain(e as SmtpFailure);
    } finally {
      transport.close();
    }
  }

  #explain(e: SmtpFailure): MailError {
    const where = this.#smtp.display;
    const reply = oneLine(e.response ?? "");
    const said = reply ? ` (${reply})` : "";
    const code = e.responseCode ?? null;
    const raw = oneLine(e.message ?? String(e));
    switch (e.code) {
      case "EAUTH":
        return new MailError(
          e.responseCode
            ? `the mail server ${where} refused the sign-in${said}`
            : `the mail server ${where} does not offer sign-in, or the user name or password is missing: ${raw}`,
          code,
        );
      case "EENVELOPE":
        return new MailError(
          `the mail server ${where} refused ${
            e.rejected?.length
              ? e.rejected.join(", ")
              : e.command === "MAIL FROM"
              ? `the sender ${this.from}`
              : e.command === "DATA"
              ? "the message"
              : "the sender or the recipients"
          }${said}`,
          code,
          final(e),
        );
      case "EMESSAGE":
        return new MailError(`the mail server ${where} refused the message${said}`, code, final(e));
      case "ETLS":
        return new MailError(
          /STARTTLS/i.test(raw) || /not.*support/i.test(raw)
            ? `the mail server ${where} does not offer STARTTLS, and alerts are not sent in the clear: use smtps:// if it speaks TLS on connect, or a server that offers STARTTLS`
            : `TLS with the mail server ${where} failed: ${raw}`,
          code,
        );
      case "EDNS":
        return new MailError(
          `cannot reach the mail server ${where}: its name does not resolve`,
          null,
        );
      case "ETIMEDOUT":
        return new MailError(
          `the mail server ${where} did not answer within ${this.#timeoutMs / 1000} s${
            this.#proxy ? ` through the proxy ${this.#proxy.display}` : ""
          }`,
          null,
        );
      case "EPROXY": {
        const status = /proxy: (\d{3})/.exec(raw)?.[1];
        return new MailError(
          `the proxy ${this.#proxy?.display} did not open a way to the mail server ${where}: ${
            status === "407"
              ? "it wants other credentials (407)"
              : status
              ? `it answered ${status}`
              : raw
          }`,
          null,
        );
      }
    }
    if (/certificate|self[- ]signed|issuer/i.test(raw)) {
      return new MailError(`the mail server ${where}'s certificate is not trusted: ${raw}`, null);
    }
    if (/ECONNREFUSED|refused/i.test(raw) && !e.responseCode) {
      return new MailError(
        this.#proxy
          ? `cannot reach the proxy ${this.#proxy.display} for the mail server ${where}: connection refused`
          : `cannot reach the mail server ${where}: connection refused`,
        null,
      );
    }
    return new MailError(
      code ? `the mail server ${where} answered${said}` : `mail to ${where} failed: ${raw}`,
      code,
    );
  }
}

/**
 * The sender when `--mail-from` is not given: alerts@ the public URL's host name (an address
 * literal for an IP address, as RFC 5321 writes it).
 */
export function defaultMailFrom(publicUrl: string): string {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, "");
  const domain = /^[0-9.]+$/.test(host)
    ? `[${host}]`
    : host.includes(":")
    ? `[IPv6:${host}]`
    : host;
  return `Nanodems Connector <alerts@${domain}>`;
}

/**
 * Says at start where email alerts go, then (without holding the start) whether the mail server
 * takes this cloud's connection and sign-in: a wrong password is read in the log at once, not
 * on the first alert's failed delivery.
 */
export function checkMailServer(mailer: Mailer, log: Logger): void {
  log.info(
    { smtp: mailer.display, from: mailer.from, ...(mailer.proxy ? { proxy: mailer.proxy } : {}) },
    "email alerts go through this mail server",
  );
  mailer.check().then(
    () => log.info({ smtp: mailer.display }, "the mail server is ready for email alerts"),
    (e) =>
      log.warn(
        { smtp: mailer.display, err: (e as Error).message },
        "the mail server cannot be used yet: email alerts fail until it can",
      ),
  );
}

/** The proxy as the URL nodemailer takes: `http://user:password@host:port`, each part encoded. */
function proxyUrl(p: ProxyConfig): string {
  const who = p.auth
    ? `${encodeURIComponent(p.auth.username)}:${encodeURIComponent(p.auth.password)}@`
    : "";
  const host = p.host.includes(":") ? `[${p.host}]` : p.host;
  return `http://${who}${host}:${p.port}`;
}

/**
 * The proxy the mail server is reached through: the webhooks' (`--webhook-proxy`) unless the
 * server is on this machine's loopback (a local relay) or `NO_PROXY` names it — a relay on the
 * cloud's own network.
 */
export function mailProxyFor(
  proxy: ProxyConfig | null | undefined,
  smtp: SmtpConfig,
  noProxy: string | undefined,
): ProxyConfig | null {
  if (!proxy || isLoopbackHost(smtp.host) || bypassesProxy(smtp.host, noProxy)) return null;
  return proxy;
}

/** Whether a failure is the server's final word on this message (a 5xx to RCPT TO or DATA). */
function final(e: SmtpFailure): boolean {
  const code = e.responseCode ?? 0;
  return code >= 500 && code < 600 && (e.command === "RCPT TO" || e.command === "DATA");
}

/** The recipients refused in a message that went out to the others, each with its reply. */
function refusedRecipients(info: SmtpInfo): string[] {
  const errors = info.rejectedErrors ?? [];
  return (info.rejected ?? []).map((r, i) => {
    const reply = oneLine(errors[i]?.response ?? "");
    return `${String(r)}${reply ? ` (${reply})` : ""}`;
  });
}

/** A reply or message as one bounded line. */
function oneLine(s: string): string {
  const line = s.replace(/\s+/g, " ").trim();
  return line.length > 240 ? `${line.slice(0, 239)}…` : line;
}
