// The webhooks' outbound proxy: the flag's value (off, a URL, a refused scheme without its
// password), which receivers go through it (https only; NO_PROXY by name, address or CIDR), and
// the start-up note when HTTPS_PROXY is set but the flag is not.
import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import {
  parseWebhookProxy,
  unusedEnvProxyNote,
  webhookProxyFor,
} from "../../../../src/cloud/events/webhook_proxy.ts";
import { loadCloudConfig } from "../../../../src/cloud/config.ts";
import { UsageError } from "../../../../src/shared/cli.ts";

Deno.test("webhook proxy: unset is direct, off is direct said so, a URL keeps its credentials", () => {
  assertEquals(parseWebhookProxy(undefined), undefined);
  assertEquals(parseWebhookProxy(" "), undefined);
  assertEquals(parseWebhookProxy("off"), null);
  assertEquals(parseWebhookProxy("http://egress:pa%40ss@proxy.corp.invalid:3128"), {
    display: "http://proxy.corp.invalid:3128",
    host: "proxy.corp.invalid",
    port: 3128,
    auth: { username: "egress", password: "pa@ss" },
  });
  assertEquals(
    parseWebhookProxy("proxy.corp.invalid:8080")?.display,
    "http://proxy.corp.invalid:8080",
  );
});

Deno.test("webhook proxy: a bad value names the flag and its variable, never the password", () => {
  for (
    const [value, words] of [
      ["socks5://egress:hunter2@proxy.corp.invalid:1080", "only http:// proxies (HTTP CONNECT)"],
      [
        "http://egress:hunter2@[bad",
        'expected a URL like http://proxy.example.com:3128, got "http://***@[bad"',
      ],
    ]
  ) {
    try {
      loadCloudConfig({ "webhook-proxy": value });
      throw new Error(`expected a UsageError for ${value}`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      assertStringIncludes(e.message, "--webhook-proxy / NC_WEBHOOK_PROXY");
      assertStringIncludes(e.message, words);
      assert(!e.message.includes("hunter2"), e.message);
    }
  }
  assertEquals(
    loadCloudConfig({ "webhook-proxy": "http://127.0.0.1:3128" }).webhooks.proxy?.port,
    3128,
  );
  assertEquals(loadCloudConfig({}).webhooks.proxy, undefined);
});

Deno.test("webhook proxy: https receivers go through it unless NO_PROXY names their host or an address", () => {
  const proxy = parseWebhookProxy("http://proxy.corp.invalid:3128")!;
  const hook = new URL("https://hooks.example.invalid/in");
  const addresses = ["198.18.0.5"];
  assertEquals(webhookProxyFor(proxy, hook, addresses, undefined), proxy);
  assertEquals(webhookProxyFor(undefined, hook, addresses, undefined), null);
  assertEquals(webhookProxyFor(null, hook, addresses, undefined), null);
  assertEquals(
    webhookProxyFor(proxy, new URL("http://127.0.0.1:8080/in"), ["127.0.0.1"], undefined),
    null,
    "plain http (loopback, development) never goes through it",
  );
  for (const noProxy of ["example.invalid", ".example.invalid", "198.18.0.5", "198.18.0.0/15"]) {
    assertEquals(webhookProxyFor(proxy, hook, addresses, noProxy), null, noProxy);
  }
  assertEquals(webhookProxyFor(proxy, hook, addresses, "other.invalid,198.20.0.0/16"), proxy);
});

Deno.test("webhook proxy: HTTPS_PROXY without --webhook-proxy is noted at start, not otherwise", () => {
  const note = unusedEnvProxyNote(undefined, { HTTPS_PROXY: "http://proxy.corp.invalid:3128" });
  assertStringIncludes(note ?? "", "HTTPS_PROXY is set, but webhooks go direct");
  assertStringIncludes(note ?? "", "--webhook-proxy (NC_WEBHOOK_PROXY)");
  assert(unusedEnvProxyNote(undefined, { https_proxy: "http://p.invalid:1" }));
  assertEquals(unusedEnvProxyNote(undefined, {}), null);
  assertEquals(unusedEnvProxyNote(null, { HTTPS_PROXY: "http://p.invalid:1" }), null, "off");
  assertEquals(
    unusedEnvProxyNote(parseWebhookProxy("http://p.invalid:1"), { HTTPS_PROXY: "x" }),
    null,
  );
});
