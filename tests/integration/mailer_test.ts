// Email alerts against a real mail server (aiosmtpd) on loopback: what the cloud writes, read back
// by Python's email parser — the subject, both bodies, the camera's picture inline, the headers
// that keep auto-replies away — and each way a server can refuse, said in words an admin acts on.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_fixtures/assert.ts";
import { MailServer } from "../_fixtures/smtp.ts";
import { Mailer, MailError } from "../../src/cloud/events/mailer.ts";
import { parseSmtpUrl } from "../../src/cloud/events/smtp_url.ts";
import { alertMail } from "../../src/cloud/events/alert_mail.ts";
import { restartablePorts } from "../_fixtures/ports.ts";

/** The MailError `fn` rejects with; its message includes `part`. */
async function refused(fn: () => Promise<unknown>, part: string): Promise<MailError> {
  const e = await assertRejects(fn);
  assert(e instanceof MailError, `expected a MailError, got ${e.name}: ${e.message}`);
  assertStringIncludes(e.message, part);
  return e;
}

const AUTH = { user: "alerts@example.com", password: "p@ss word:1" };
const PICTURE = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0, 255, 0xff, 0xd9]);

const motion = JSON.stringify({
  id: "evt_7",
  type: "camera.motion",
  at: "2026-12-05T10:00:00.000Z",
  tenantId: "t-1",
  subject: { name: "Front door", siteName: "Warehouse", deviceId: "d-1" },
  actor: "system",
  detail: { liveUrl: "https://cloud.example.com/live/h1", snapshot: "s-1" },
});

Deno.test("mailer: an alert arrives as the cloud wrote it (subject, text, HTML, the picture inline, Auto-Submitted), signed in with a password that needs encoding", async () => {
  const server = await MailServer.start({ auth: AUTH });
  try {
    const mailer = new Mailer(parseSmtpUrl(server.url(AUTH))!, "Nanodems <alerts@example.com>");
    const sent = await mailer.send(
      ["ops@example.com", "oncall@example.com"],
      alertMail(motion, "https://cloud.example.com", PICTURE),
      { "X-Nanodems-Event": "camera.motion" },
    );
    assertEquals(sent.code, 250);
    assertEquals((await server.received(1)).length, 1);
    const m = server.got[0];
    assertEquals(m.login, AUTH.user);
    assertEquals(m.from, "alerts@example.com");
    assertEquals(m.to, ["ops@example.com", "oncall@example.com"]);
    assertEquals(m.headers.subject, "Motion detected: Front door (Warehouse)");
    assertEquals(m.headers["auto-submitted"], "auto-generated");
    assertEquals(m.headers["x-nanodems-event"], "camera.motion");
    assertStringIncludes(m.text!, "Front door · site Warehouse");
    assertStringIncludes(m.text!, "Watch live: https://cloud.example.com/live/h1");
    assertStringIncludes(m.text!, "Events: https://cloud.example.com/events");
    assertStringIncludes(m.html!, 'src="cid:picture"');
    assertEquals(m.attachments.length, 1);
    assertEquals(m.attachments[0].type, "image/jpeg");
    assertEquals(m.attachments[0].cid, "<picture>");
    assertEquals(MailServer.bytes(m.attachments[0]), PICTURE);
  } finally {
    await server.close();
  }
});

Deno.test("mailer: a device's name cannot add a header, and HTML in it is text", async () => {
  const server = await MailServer.start();
  try {
    const body = JSON.stringify({
      type: "device.down",
      at: "2026-12-05T10:00:00.000Z",
      subject: { name: "Cam\r\nBcc: victim@example.com\r\n<b>x</b>" },
      actor: "system",
      detail: { error: "connection refused" },
    });
    const mailer = new Mailer(parseSmtpUrl(server.url())!, "alerts@example.com");
    await mailer.send(["ops@example.com"], alertMail(body, "https://c.example.com"));
    const [m] = await server.received(1);
    assertEquals(m.to, ["ops@example.com"]);
    assertEquals(m.headers.bcc, undefined);
    assertEquals(m.headers.subject, "Device port down: Cam Bcc: victim@example.com <b>x</b>");
    assertStringIncludes(m.html!, "&#60;b&#62;x&#60;/b&#62;");
    assertStringIncludes(m.text!, "connection refused");
  } finally {
    await server.close();
  }
});

Deno.test("mailer: each refusal says why — a wrong password (535), a refused recipient (550, final), a deferred one (450, not final), one of two refused (sent to the other, named), no STARTTLS where it is required, nothing listening", async () => {
  const server = await MailServer.start({
    auth: AUTH,
    reject: "gone@example.com",
    defer: "later@example.com",
  });
  try {
    const mail = alertMail(motion, "https://c.example.com");
    const wrong = new Mailer(
      parseSmtpUrl(server.url({ user: AUTH.user, password: "nope" }))!,
      "alerts@example.com",
    );
    const e1 = await refused(
      () => wrong.send(["ops@example.com"], mail),
      "refused the sign-in (535",
    );
    assertEquals(e1.code, 535);
    assertEquals(e1.permanent, false, "a refused sign-in is the cloud's setting: it may be fixed");
    assertStringIncludes(
      e1.message,
      `the mail server smtp://${encodeURIComponent(AUTH.user)}@127.0.0.1:`,
    );
    assert(!e1.message.includes("nope"), "the password is in no message");
    await refused(() => wrong.check(), "refused the sign-in");

    const right = new Mailer(parseSmtpUrl(server.url(AUTH))!, "alerts@example.com");
    const e2 = await refused(
      () => right.send(["gone@example.com"], mail),
      "refused gone@example.com (550 5.1.1",
    );
    assertEquals(e2.code, 550);
    assertEquals(e2.permanent, true, "a 550 to the only recipient is final");
    const e3 = await refused(
      () => right.send(["later@example.com"], mail),
      "refused later@example.com (450 4.2.0",
    );
    assertEquals(e3.code, 450);
    assertEquals(e3.permanent, false, "a 450 (greylisting) asks to try again later");

    // STARTTLS required (what smtp:// to any host but loopback means): the server offers none.
    const clear = new Mailer(
      { ...parseSmtpUrl(server.url(AUTH))!, requireTls: true },
      "alerts@example.com",
    );
    await refused(
      () => clear.send(["ops@example.com"], mail),
      "does not offer STARTTLS, and alerts are not sent in the clear",
    );
    assertEquals(server.got.length, 0);

    // One address of two refused: the message goes to the other, and the refused one is named.
    const sent = await right.send(["ops@example.com", "gone@example.com"], mail);
    assertEquals(sent.code, 250);
    assertEquals(sent.refused.length, 1);
    assertStringIncludes(sent.refused[0], "gone@example.com (550 5.1.1");
    assertEquals((await server.received(1)).length, 1);
    assertEquals(server.got[0].to, ["ops@example.com"]);

    const [port] = restartablePorts(1);
    const none = new Mailer(parseSmtpUrl(`smtp://127.0.0.1:${port}`)!, "alerts@example.com");
    await refused(
      () => none.send(["ops@example.com"], mail),
      `cannot reach the mail server smtp://127.0.0.1:${port}: connection refused`,
    );
  } finally {
    await server.close();
  }
});
