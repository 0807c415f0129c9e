import { assertEquals, assertThrows } from "../../../_fixtures/assert.ts";
import {
  isMailTarget,
  mailRecipients,
  MailTargetError,
  normalMailTarget,
} from "../../../../src/cloud/events/mail_target.ts";

Deno.test("mail target: mailto: addresses, trimmed, domains lower-cased, repeats dropped", () => {
  assertEquals(isMailTarget("MAILTO:ops@example.com"), true);
  assertEquals(isMailTarget("https://example.com"), false);
  assertEquals(mailRecipients("mailto:ops@Example.COM"), ["ops@example.com"]);
  assertEquals(
    mailRecipients("mailto:Ops@example.com, on-call+cams@alerts.example.co.uk,ops@example.com"),
    ["Ops@example.com", "on-call+cams@alerts.example.co.uk", "ops@example.com"],
  );
  assertEquals(
    mailRecipients("mailto:ops@example.com,ops@EXAMPLE.com"),
    ["ops@example.com"],
  );
  assertEquals(
    normalMailTarget("mailto:a@x.example%2C%20b@y.example"),
    "mailto:a@x.example,b@y.example",
  );
});

Deno.test("mail target: nothing that could carry a header or reach too many; fields refused", () => {
  const cases: [string, string][] = [
    ["mailto:", "names no address"],
    ["mailto:ops@example.com?subject=hi", "no ?subject="],
    ["mailto:ops@example.com%0D%0ABcc:x@evil.example", "is not an email address"],
    ["mailto:%22a,b%22@example.com", "is not an email address"],
    ["mailto:ops", "is not an email address"],
    ["mailto:ops@localhost", "is not an email address"],
    ["mailto:Ops <ops@example.com>", "is not an email address"],
    ["mailto:a@b.example%zz", "percent-encoding"],
    [`mailto:${Array.from({ length: 11 }, (_, i) => `u${i}@example.com`).join(",")}`, "at most 10"],
  ];
  for (const [url, words] of cases) {
    const e = assertThrows(() => mailRecipients(url), MailTargetError);
    if (!e.message.includes(words)) throw new Error(`${url}: ${e.message}`);
  }
});
