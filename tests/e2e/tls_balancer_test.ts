// A cloud behind a balancer that ends TLS and passes TCP on (an AWS NLB TLS listener, HAProxy in
// mode tcp): it sends no X-Forwarded-Proto, so only the https --public-url says the browser is on
// https. Real cloud, agent and camera fixture; requests as that balancer forwards them (plain HTTP
// to the node, the browser's Host, Origin and Referer kept). The browser proxy moves the browser's
// https Origin and Referer to the device's own (a device that checks them accepts the form), and
// sign-in sets a Secure cookie. The same node reached directly (by its address) stays http.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";

const PUBLIC = "cloud.example.test";

/** curl to the node as the balancer forwards it, with the browser's Host. */
async function viaBalancer(url: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("curl", {
    args: ["-s", "-i", "--max-time", "20", "-H", `host: ${PUBLIC}`, ...args, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("behind a TLS-ending TCP balancer: device sees its own Origin and Referer; Secure cookie", async () => {
  const stack = await Stack.start({ cloudArgs: ["--public-url", `https://${PUBLIC}`] });
  const cam = await startCamera();
  stack.defer(cam.close);
  try {
    // An https public URL: no warning that secrets would cross the network in clear.
    assertEquals(stack.cloud.lines.some((l) => l.includes("the public URL is plain http")), false);
    const q = await stack.quickstart([cam.port], "Cam");
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const path = `/c/${handle}/doc/page/config.asp`;
    const device = `http://127.0.0.1:${cam.port}`;
    const form = async (host: string | null, origin: string) => {
      const before = cam.seen.length;
      const args = [
        "-H",
        `authorization: Bearer ${q.apiToken}`,
        "-H",
        `origin: ${origin}`,
        "-H",
        `referer: ${origin}/c/${handle}/doc/page/main.asp`,
        "-d",
        "x=1",
      ];
      const head = host ? await viaBalancer(`${stack.url}${path}`, args) : new TextDecoder().decode(
        (await new Deno.Command("curl", {
          args: ["-s", "-i", "--max-time", "20", ...args, `${stack.url}${path}`],
          stdout: "piped",
        }).output()).stdout,
      );
      assertStringIncludes(head.split("\r\n")[0], " 200", head.slice(0, 300));
      const seen = cam.seen.slice(before).find((r) => r.method === "POST");
      assert(seen, "the device saw the post");
      return seen.headers;
    };

    // Through the balancer: the browser's https origin is the cloud's, so it becomes the device's.
    const through = await form(PUBLIC, `https://${PUBLIC}`);
    assertEquals(through["origin"], device);
    assertEquals(through["referer"], `${device}/doc/page/main.asp`);

    // Directly at the node (its own address, plain http): an https origin is not the cloud's.
    const direct = await form(null, `https://${PUBLIC}`);
    assertEquals(direct["origin"], `https://${PUBLIC}`, "passed on as a foreign origin");
    assertEquals(direct["referer"], undefined, "a foreign referer is dropped");

    // Sign-in through the balancer: Secure. Directly: not (the browser would drop it on http).
    const user = await stack.addUser(q.tenantId);
    const body = JSON.stringify({ email: user.email, password: user.password });
    const login = ["-H", "content-type: application/json", "-d", body];
    const secure = await viaBalancer(`${stack.url}/api/auth/login`, login);
    assertStringIncludes(secure.split("\r\n")[0], " 200", secure.slice(0, 300));
    const cookie = secure.split("\r\n").find((l) => /^set-cookie:/i.test(l)) ?? "";
    assertStringIncludes(cookie, "; Secure");
    const plain = await fetch(`${stack.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assertEquals(plain.status, 200);
    assert(!plain.headers.get("set-cookie")!.includes("Secure"), "no Secure on the direct http");
  } finally {
    await stack.stop();
  }
});
