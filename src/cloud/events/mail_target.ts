/**
 * Email alerts are webhooks whose URL is `mailto:`: one list of receivers per tenant, and one
 * queue that gives both the same retries, health, breaker, delivery log and "Send test". This
 * module reads such a URL: the addresses it names, each checked to be one plain address, so a
 * tenant cannot add headers through one (a line break, a comma inside quotes) or send to more
 * than {@linkcode MAX_MAIL_RECIPIENTS} at once. `?subject=` and other fields are refused: the
 * cloud writes the subject.
 * @module
 */

/** Addresses one email alert may go to. */
export const MAX_MAIL_RECIPIENTS = 10;

/** A `mailto:` URL that cannot be used, with the reason. */
export class MailTargetError extends Error {
  override name = "MailTargetError";
}

/** Whether `url` is an email alert's (`mailto:`, any case). */
export function isMailTarget(url: string): boolean {
  return /^mailto:/i.test(url);
}

// RFC 5321's dot-atom local part and a host name of at least two labels; no quoted local parts,
// comments or address literals: what a person types for a mailbox, nothing a header could hide in.
const ADDRESS =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * The addresses of a `mailto:` URL, lower-cased domains, in order and without repeats; throws
 * {@linkcode MailTargetError} naming what is wrong.
 */
export function mailRecipients(url: string): string[] {
  if (!isMailTarget(url)) throw new MailTargetError("not a mailto: URL");
  const rest = url.slice("mailto:".length);
  if (/[?#]/.test(rest)) {
    throw new MailTargetError(
      "a mailto: URL takes addresses only (no ?subject= or other fields): the cloud writes the subject",
    );
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    throw new MailTargetError("the mailto: URL is not valid percent-encoding");
  }
  const list = decoded.split(",").map((a) => a.trim()).filter(Boolean);
  if (!list.length) throw new MailTargetError("mailto: names no address (mailto:ops@example.com)");
  if (list.length > MAX_MAIL_RECIPIENTS) {
    throw new MailTargetError(
      `at most ${MAX_MAIL_RECIPIENTS} addresses per email alert (got ${list.length}): use a mailing list's address`,
    );
  }
  const out: string[] = [];
  for (const a of list) {
    if (a.length > 254 || !ADDRESS.test(a)) {
      throw new MailTargetError(
        `"${a.slice(0, 80).replace(/[^\x20-\x7e]/g, "?")}" is not an email address`,
      );
    }
    const at = a.lastIndexOf("@");
    const norm = `${a.slice(0, at)}@${a.slice(at + 1).toLowerCase()}`;
    if (!out.includes(norm)) out.push(norm);
  }
  return out;
}

/** The URL stored for `url`: `mailto:` and its checked addresses, comma-separated. */
export function normalMailTarget(url: string): string {
  return `mailto:${mailRecipients(url).join(",")}`;
}
