// Webhook building blocks on their own: the signature a receiver verifies (and what it must
// refuse), the retry schedule, and which URLs are refused.
import assert from "node:assert/strict";
import { signPayload, verifySignature } from "../../../../src/cloud/events/signature.ts";
import {
  MAX_RETRY_DELAY_MS,
  nextAttemptAt,
  RETRY_FOR_MS,
  retryDelay,
} from "../../../../src/cloud/events/backoff.ts";
import {
  addressRefusal,
  checkWebhookUrl,
  WebhookUrlError,
} from "../../../../src/cloud/events/webhook_url.ts";

const NOW = Date.UTC(2026, 11, 1, 12);

Deno.test("signature: t=<unix>,v1=<hex HMAC-SHA-256 of t.body>, verified; tampering, another secret and replays refused", async () => {
  const body = '{"type":"device.down"}';
  const h = await signPayload("whsec_a", body, NOW);
  assert.match(h, /^t=\d{10},v1=[0-9a-f]{64}$/);
  assert.equal(h.split(",")[0], `t=${NOW / 1000}`);
  assert.equal(await verifySignature("whsec_a", body, h, NOW + 1000), true);
  assert.equal(await verifySignature("whsec_a", body + " ", h, NOW), false, "body changed");
  assert.equal(await verifySignature("whsec_b", body, h, NOW), false, "another secret");
  assert.equal(await verifySignature("whsec_a", body, h, NOW + 301_000), false, "too old");
  const moved = h.replace(/^t=\d+/, `t=${NOW / 1000 + 10}`);
  assert.equal(await verifySignature("whsec_a", body, moved, NOW), false, "t is signed");
  assert.equal(await verifySignature("whsec_a", body, null, NOW), false);
  assert.equal(await verifySignature("whsec_a", body, "v1=abc", NOW), false);
});

Deno.test("backoff: doubles from the first delay, at most an hour apart, given up after 24 h", () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => retryDelay(10_000, n)), [
    10_000,
    20_000,
    40_000,
    80_000,
  ]);
  assert.equal(retryDelay(10_000, 20), MAX_RETRY_DELAY_MS);
  assert.equal(retryDelay(10_000, 10_000), MAX_RETRY_DELAY_MS, "no overflow");
  assert.equal(nextAttemptAt(10_000, 1, NOW, NOW), NOW + 10_000);
  assert.equal(nextAttemptAt(10_000, 30, NOW, NOW + RETRY_FOR_MS - 1), null, "past 24 h");
  // Walking the schedule: attempts keep coming for 24 h and stop.
  let at = NOW;
  let n = 0;
  for (let next: number | null = NOW; next !== null; n++) {
    at = next;
    next = nextAttemptAt(10_000, n + 1, NOW, at);
  }
  assert.ok(at <= NOW + RETRY_FOR_MS && at > NOW + RETRY_FOR_MS - MAX_RETRY_DELAY_MS);
  assert.ok(n > 20 && n < 40, `${n} attempts`);
});

const strict = { allowLoopback: false, allowPrivate: false };
const dev = { allowLoopback: true, allowPrivate: false };
const refused = async (
  url: string,
  policy = strict,
  resolve?: (h: string) => Promise<string[]>,
) => {
  try {
    await checkWebhookUrl(url, { ...policy, resolve });
    return null;
  } catch (e) {
    assert.ok(e instanceof WebhookUrlError, String(e));
    return e.message;
  }
};

Deno.test("webhook URL: link-local, metadata, unspecified, private and loopback refused; https to a public address accepted", async () => {
  for (
    const url of [
      "https://169.254.169.254/latest",
      "https://[fe80::1]/",
      "https://[fd00:ec2::254]/",
      "https://metadata.google.internal/",
      "https://0.0.0.0/",
      "https://[::]/",
      "https://10.1.2.3/",
      "https://192.168.1.1/",
      "https://172.20.0.1/",
      "https://[fc00::1]/",
      "https://127.0.0.1/",
      "https://[::ffff:169.254.169.254]/",
      "https://0xa9fea9fe/",
      "https://224.0.0.1/",
      "ftp://example.com/",
      "https://user:pw@example.com/",
      "not a url",
    ]
  ) {
    assert.ok(await refused(url), url);
  }
  assert.match((await refused("https://169.254.169.254/"))!, /link-local/);
  const publicDns = () => Promise.resolve(["93.184.215.14"]);
  assert.equal(await refused("https://hooks.example.com/in", strict, publicDns), null);
  assert.match((await refused("http://hooks.example.com/in", strict, publicDns))!, /https/);
  // A name that resolves to a forbidden address is refused like the address.
  const rebind = () => Promise.resolve(["93.184.215.14", "169.254.169.254"]);
  assert.ok(await refused("https://evil.example.com/", strict, rebind));
  assert.ok(await refused("https://nowhere.example/", strict, () => Promise.resolve([])));
});

Deno.test("webhook URL: loopback (http too) only with --allow-loopback-webhooks; private only with --allow-private-webhooks", async () => {
  assert.equal(await refused("http://127.0.0.1:8080/hook", dev), null);
  assert.equal(await refused("http://localhost:8080/hook", dev), null);
  assert.equal(await refused("http://[::1]:8080/hook", dev), null);
  assert.ok(await refused("http://127.0.0.1:8080/hook", strict));
  assert.ok(await refused("http://10.0.0.1/hook", dev), "plain http only to loopback");
  assert.equal(addressRefusal("10.0.0.1", { allowLoopback: false, allowPrivate: true }), null);
  assert.ok(addressRefusal("169.254.1.1", { allowLoopback: true, allowPrivate: true }), "never");
});
