/**
 * The email that carries an invitation or a password link to its person, when the cloud has a
 * mail server (`--smtp`): before, an admin copied the one-time link out of a dialog and passed it
 * on by hand, and a new colleague's first hour began with "did you get my chat message?". The
 * link is the same one the admin sees (one use, until it expires); the email says who sent it,
 * for which tenant and role, until when it works, and what to do when it was not expected.
 * @module
 */
import type { MailMessage } from "../events/mailer.ts";
import { escapeHtml as esc } from "../../shared/encoding.ts";

/** What the email says. */
export interface InviteMailFacts {
  /** The one-time link. */
  url: string;
  expiresAt: number;
  /** The tenant's name. */
  tenant: string;
  /** The role the person has (or gets). */
  role: string;
  /** Who asked for it (the admin's email, or what the audit log names). */
  by: string;
  /** A new password for someone already there, rather than an invitation. */
  reset: boolean;
}

/** The invitation (or password link) as an email. */
export function inviteMail(f: InviteMailFacts): MailMessage {
  const until = new Date(f.expiresAt).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  const subject = f.reset
    ? `Set a new password for ${f.tenant} on Nanodems Connector`
    : `You are invited to ${f.tenant} on Nanodems Connector`;
  const lead = f.reset
    ? `${f.by} sent you a link to set a new password for ${f.tenant} on Nanodems Connector.`
    : `${f.by} invited you to ${f.tenant} on Nanodems Connector, as ${f.role}.`;
  const action = f.reset ? "Set a new password" : "Set your password and sign in";
  const works = `The link works once, until ${until}.`;
  const notYou =
    "If you did not expect this email, ignore it: nothing changes until the link is used.";
  const text = [lead, "", `${action}: ${f.url}`, "", works, notYou, ""].join("\n");
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p>${esc(lead)}</p>`,
    `<p><a href="${esc(f.url)}">${esc(action)}</a></p>`,
    `<p>${esc(works)}</p>`,
    `<p style="color:#666;font-size:small">${esc(notYou)}</p>`,
    "</body></html>",
  ].join("");
  return { subject: subject.replace(/[\r\n]+/g, " ").slice(0, 200), text, html };
}
