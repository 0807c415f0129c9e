import { assertEquals, assertThrows } from "../../../_fixtures/assert.ts";
import { parseSmtpUrl, SmtpUrlError } from "../../../../src/cloud/events/smtp_url.ts";
import { defaultMailFrom } from "../../../../src/cloud/events/mailer.ts";

Deno.test("smtp url: STARTTLS required on smtp:// except to loopback; smtps:// is TLS from the start; the password stays out of display", () => {
  assertEquals(parseSmtpUrl("smtp://alerts%40corp.example:s%3Acret@mail.corp.example"), {
    host: "mail.corp.example",
    port: 587,
    implicitTls: false,
    requireTls: true,
    user: "alerts@corp.example",
    password: "s:cret",
    display: "smtp://alerts%40corp.example@mail.corp.example:587",
  });
  assertEquals(parseSmtpUrl("smtps://mail.example.com")!.port, 465);
  assertEquals(parseSmtpUrl("smtps://mail.example.com")!.implicitTls, true);
  assertEquals(parseSmtpUrl("smtps://mail.example.com")!.requireTls, false);
  for (const local of ["smtp://localhost:25", "smtp://127.0.0.1:2525", "smtp://[::1]:25"]) {
    assertEquals(parseSmtpUrl(local)!.requireTls, false, local);
  }
  assertEquals(parseSmtpUrl("smtp://[::1]:25")!.host, "::1");
  for (const none of [undefined, "", "  ", "off"]) assertEquals(parseSmtpUrl(none), null);
});

Deno.test("smtp url: what cannot be used is refused with the reason", () => {
  const cases: [string, string][] = [
    ["mail.example.com", "expected smtp://"],
    ["http://mail.example.com", "expected smtp:// or smtps://, got http://"],
    ["smtp://mail.example.com/x", "no path or query"],
    ["smtp://mail.example.com?tls=no", "no path or query"],
    ["smtp://:pw@mail.example.com", "a password without a user name"],
    ["smtp://a%zz:b@mail.example.com", "percent-encoding"],
  ];
  for (const [text, words] of cases) {
    const e = assertThrows(() => parseSmtpUrl(text), SmtpUrlError);
    if (!e.message.includes(words)) throw new Error(`${text}: ${e.message}`);
  }
});

Deno.test("mail from: alerts@ the public URL's host, an address literal for an IP", () => {
  assertEquals(
    defaultMailFrom("https://cloud.example.com"),
    "Nanodems Connector <alerts@cloud.example.com>",
  );
  assertEquals(defaultMailFrom("http://127.0.0.1:8080"), "Nanodems Connector <alerts@[127.0.0.1]>");
  assertEquals(defaultMailFrom("http://[::1]:8080"), "Nanodems Connector <alerts@[IPv6:::1]>");
});
