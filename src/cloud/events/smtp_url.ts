/**
 * The mail server email alerts go through (`--smtp`, better `NC_SMTP_URL` when it holds a
 * password): one URL says where, how the connection is protected and who signs in. Read once at
 * start, so a typo stops the node with the reason instead of failing every alert later. The
 * password never leaves this value: logs, the node list and error messages show `display`.
 *
 * - `smtps://host[:465]`: TLS from the first byte.
 * - `smtp://host[:587]`: STARTTLS, required: a server that does not offer it is refused rather
 *   than sent the password and the alerts in the clear. Only a relay on this machine's loopback
 *   (a local Postfix on `smtp://localhost:25`) may answer without it; STARTTLS is still used
 *   when it offers it.
 * @module
 */
import { isLoopbackHost } from "../../shared/loopback.ts";

/** A mail server, from `--smtp`. */
export interface SmtpConfig {
  host: string;
  port: number;
  /** TLS from the first byte (`smtps://`). */
  implicitTls: boolean;
  /** STARTTLS is required (`smtp://` to anything but loopback). */
  requireTls: boolean;
  user?: string;
  password?: string;
  /** The URL without credentials, for logs and messages. */
  display: string;
}

/** A `--smtp` value that cannot be used, with the reason. */
export class SmtpUrlError extends Error {
  override name = "SmtpUrlError";
}

/** The `--smtp` value: a mail server; null when unset, empty or `off` (no email alerts). */
export function parseSmtpUrl(text: string | undefined): SmtpConfig | null {
  const t = text?.trim() ?? "";
  if (t === "" || t === "off") return null;
  let url: URL;
  try {
    url = new URL(t);
  } catch {
    throw new SmtpUrlError(
      "expected smtp://[user:password@]host[:port] (STARTTLS) or smtps://… (TLS)",
    );
  }
  const implicitTls = url.protocol === "smtps:";
  if (!implicitTls && url.protocol !== "smtp:") {
    throw new SmtpUrlError(`expected smtp:// or smtps://, got ${url.protocol}//`);
  }
  if (!url.hostname) throw new SmtpUrlError("the URL names no mail server");
  if ((url.pathname && url.pathname !== "/") || url.search || url.hash) {
    throw new SmtpUrlError("expected smtp://host[:port] with no path or query");
  }
  if (url.password && !url.username) {
    throw new SmtpUrlError("a password without a user name");
  }
  const port = url.port ? Number(url.port) : implicitTls ? 465 : 587;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let user: string | undefined, password: string | undefined;
  try {
    user = url.username ? decodeURIComponent(url.username) : undefined;
    password = url.password ? decodeURIComponent(url.password) : undefined;
  } catch {
    throw new SmtpUrlError("the user name or password is not valid percent-encoding");
  }
  return {
    host,
    port,
    implicitTls,
    requireTls: !implicitTls && !isLoopbackHost(host),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    display: `${url.protocol}//${url.username ? `${url.username}@` : ""}${url.hostname}:${port}`,
  };
}
