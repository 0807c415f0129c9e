// Which way the cloud reaches its mail server: through the webhooks' outbound proxy, except a
// relay on this machine's loopback or one NO_PROXY names (by name or, for an address, CIDR).
import { assertEquals } from "../../../_fixtures/assert.ts";
import { mailProxyFor } from "../../../../src/cloud/events/mailer.ts";
import { parseSmtpUrl } from "../../../../src/cloud/events/smtp_url.ts";
import { parseProxyUrl } from "../../../../src/shared/transport/proxy.ts";

const proxy = parseProxyUrl("http://cloud:secret@proxy.corp.test:3128");
const smtp = (url: string) => parseSmtpUrl(url)!;

Deno.test("mailProxyFor: the proxy for a remote relay; none for loopback, NO_PROXY or no proxy", () => {
  const relay = smtp("smtp://mail.corp.test:587");
  assertEquals(mailProxyFor(proxy, relay, undefined), proxy);
  assertEquals(mailProxyFor(proxy, smtp("smtps://smtp.example.net"), "other.test"), proxy);
  assertEquals(mailProxyFor(null, relay, undefined), null, "--webhook-proxy off");
  assertEquals(mailProxyFor(undefined, relay, undefined), null, "no proxy set");
  for (const local of ["smtp://localhost:25", "smtp://127.0.0.1:2525", "smtp://[::1]:25"]) {
    assertEquals(mailProxyFor(proxy, smtp(local), undefined), null, local);
  }
  assertEquals(mailProxyFor(proxy, relay, "corp.test"), null, "a domain suffix");
  assertEquals(mailProxyFor(proxy, relay, ".corp.test"), null);
  assertEquals(mailProxyFor(proxy, relay, "mail.corp.test,other"), null);
  assertEquals(mailProxyFor(proxy, smtp("smtp://10.1.2.3:587"), "10.0.0.0/8"), null, "a CIDR");
  assertEquals(mailProxyFor(proxy, smtp("smtp://10.1.2.3:587"), "192.168.0.0/16"), proxy);
});
