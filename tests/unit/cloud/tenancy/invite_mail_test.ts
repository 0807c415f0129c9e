import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { inviteMail } from "../../../../src/cloud/tenancy/invite_mail.ts";

const facts = {
  url: "https://cloud.example.com/invite/abc?x=1&y=2",
  expiresAt: Date.UTC(2026, 11, 12, 9, 30),
  tenant: "Warehouse <North>",
  role: "operator",
  by: "ana@example.com",
  reset: false,
};

Deno.test("invite mail: who invited whom to what as which role, the link and until when", () => {
  const m = inviteMail(facts);
  assertEquals(m.subject, "You are invited to Warehouse <North> on Nanodems Connector");
  assertStringIncludes(
    m.text,
    "ana@example.com invited you to Warehouse <North> on Nanodems Connector, as operator.",
  );
  assertStringIncludes(m.text, `Set your password and sign in: ${facts.url}`);
  assertStringIncludes(m.text, "The link works once, until 2026-12-12 09:30 UTC.");
  assertStringIncludes(m.text, "If you did not expect this email, ignore it");
  // The tenant's name is text in the HTML, the link an attribute.
  assertStringIncludes(m.html, "Warehouse &#60;North&#62;");
  assertStringIncludes(m.html, 'href="https://cloud.example.com/invite/abc?x=1&#38;y=2"');
  assertEquals(m.picture, undefined);
});

Deno.test("invite mail: a password link says so; a name with line breaks stays on one subject line", () => {
  const m = inviteMail({ ...facts, reset: true, tenant: "A\r\nBcc: x@example.com" });
  assertEquals(m.subject, "Set a new password for A Bcc: x@example.com on Nanodems Connector");
  assertStringIncludes(m.text, "Set a new password: https://cloud.example.com/invite/abc");
  assert(!m.subject.includes("\n"));
});
