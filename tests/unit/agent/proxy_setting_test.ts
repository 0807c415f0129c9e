// Which proxy `agent run` goes through: --proxy (off: none), else the one kept at enrollment
// (0600 in the state directory), else the environment's under --trust-env.
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../_fixtures/assert.ts";
import {
  chooseProxy,
  loadProxySetting,
  PROXY_FILE,
  saveProxySetting,
} from "../../../src/agent/proxy_setting.ts";
import { UsageError } from "../../../src/shared/cli.ts";
import { parseProxyUrl } from "../../../src/shared/transport/proxy.ts";

Deno.test("proxy setting: the flag, then the saved one, then the environment's; off is none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-proxy-" });
  try {
    const env = parseProxyUrl("http://env-proxy.test:3128");
    const pick = (flag?: string, fromEnv = env) =>
      chooseProxy({ flag, stateDir: dir, fromEnv: () => fromEnv });
    assertEquals((await pick())?.source, "environment");
    assertEquals(await pick(undefined, null as never), null);

    await saveProxySetting(dir, "http://site:pw@saved-proxy.test:8080");
    assertEquals((await Deno.stat(`${dir}/${PROXY_FILE}`)).mode! & 0o777, 0o600);
    const saved = await pick();
    assertEquals(saved?.source, "saved");
    assertEquals(saved?.proxy.display, "http://saved-proxy.test:8080");
    assertEquals(saved?.proxy.auth, { username: "site", password: "pw" });

    const flag = await pick("http://flag-proxy.test:1");
    assertEquals([flag?.source, flag?.proxy.port], ["flag", 1]);
    assertEquals(await pick("off"), null);
    const bad = await assertRejects(() => pick("socks5://127.0.0.1:1"));
    assert(bad instanceof UsageError);
    assertStringIncludes(bad.message, "--proxy (NC_PROXY): only http:// proxies");

    await Deno.writeTextFile(`${dir}/${PROXY_FILE}`, "ftp://nope\n");
    const unusable = await assertRejects(() => pick());
    assert(unusable instanceof UsageError);
    assertStringIncludes(unusable.message, `${dir}/${PROXY_FILE}: proxy: only http:// proxies`);

    await saveProxySetting(dir, null);
    assertEquals(await loadProxySetting(dir), null);
    assertEquals((await pick())?.source, "environment");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
