/**
 * Per-handle origins (`--proxy-domain`) in real Chromium: the operator signs in on the cloud's
 * origin, `/c/{h}/` hands the browser over to the device's own origin (`p<hex>.localhost`, which
 * Chromium resolves to loopback), the camera UI works there without any prefix, and a hostile page
 * on that origin can reach neither the cloud's API with the operator's session nor another
 * device's origin. Plus the hand-over's refusals: a grant used twice, a forged cookie, anonymous
 * calls.
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { freePort } from "../_fixtures/sshd.ts";
import { closeContext, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";
import { handleToLabel } from "../../src/cloud/access/proxy/origin.ts";

/** One raw HTTP/1.1 exchange with a chosen Host header; returns status line and head. */
async function rawGet(port: number, host: string, path: string, headers: string[] = []) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${
        headers.map((h) => h + "\r\n").join("")
      }\r\n`,
    ),
  );
  const text = await new Response(conn.readable).text();
  return { status: Number(text.split(" ")[1]), text };
}

Deno.test("per-handle origins: hand-over, the camera at its own origin, a hostile page contained", async () => {
  const port = freePort();
  const cloud = `http://127.0.0.1:${port}`;
  const stack = await Stack.start({
    cloudArgs: [
      "--http",
      `127.0.0.1:${port}`,
      "--public-url",
      cloud,
      "--proxy-domain",
      "localhost",
    ],
  });
  const cam = await startCamera();
  const cam2 = await startCamera();
  stack.defer(cam.close);
  stack.defer(cam2.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, cam2.port], "Origins");
    await stack.agentFor(q);
    const h1 = q.device.handles[cam.port];
    const h2 = q.device.handles[cam2.port];
    const origin1 = `http://${handleToLabel(h1)}.localhost:${port}`;
    const origin2 = `http://${handleToLabel(h2)}.localhost:${port}`;
    const user = await stack.addUser(q.tenantId);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${cloud}/c/${h1}/`);
    assertStringIncludes(page.url(), "/login?next=");
    await page.fill("#email", user.email);
    await page.fill("#password", user.password);
    await Promise.all([page.waitForURL(`${origin1}/`), page.click("button[type=submit]")]);

    // The camera UI at its own origin: no prefix anywhere, run-time requests just work.
    await page.waitForSelector("#title");
    for (const [id, want] of [["fetch", "DS-TEST"], ["xhr", "rpc2-ok"], ["ws", "ws-ok:ping"]]) {
      await page.waitForFunction(
        `document.getElementById(${JSON.stringify(id)})?.textContent?.includes(${
          JSON.stringify(want)
        })`,
        null,
        { timeout: 15_000 },
      );
    }
    assertStringIncludes(await page.content(), `href="/doc/page/config.asp"`);
    await page.screenshot({ path: `${SCREENSHOTS}/proxy-origin-01-camera.png` });
    const cookies = await context.cookies();
    const dev = cookies.find((c) => c.name === "nc_dev");
    assert(dev?.httpOnly && dev.domain === `${handleToLabel(h1)}.localhost`, JSON.stringify(dev));
    // The cloud's session cookie stayed on the cloud's host.
    assert(
      cam.seen.every((s) => !(s.headers.cookie ?? "").includes("nc_")),
      "a cloud cookie reached the device",
    );

    // A hostile page on this origin: the cloud's API and the other device are out of reach.
    const seenBySecond = cam2.seen.length;
    await page.goto(
      `${origin1}/evil-origin?cloud=${encodeURIComponent(cloud)}&other=${
        encodeURIComponent(origin2)
      }`,
    );
    await page.waitForFunction(
      `["api","api-post","other","frame","sw"].every((i) =>
        document.getElementById(i)?.textContent !== "…")`,
      null,
      { timeout: 20_000 },
    );
    await page.screenshot({ path: `${SCREENSHOTS}/proxy-origin-02-hostile.png` });
    const result: Record<string, string> = {};
    for (const id of ["api", "api-post", "other", "frame", "sw"]) {
      result[id] = (await page.textContent(`#${id}`)) ?? "";
    }
    assertStringIncludes(result.api, "blocked", JSON.stringify(result));
    assertStringIncludes(result["api-post"], "blocked", JSON.stringify(result));
    assertStringIncludes(result.other, "blocked", JSON.stringify(result));
    assert(!result.frame.startsWith("read: "), JSON.stringify(result));
    assertStringIncludes(result.sw, "blocked", JSON.stringify(result));
    assertEquals(cam2.seen.length, seenBySecond, "the other device was reached");
    // No token was minted with the operator's session by the cross-site POST.
    const tokens = await (await fetch(`${cloud}/api/account/tokens`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    })).json();
    assert(!JSON.stringify(tokens).includes("stolen"));
    await closeContext(context);

    // Without the browser: a Bearer token works on the origin; anonymous calls do not; a grant is
    // good once; a forged cookie is nobody.
    const host1 = `${handleToLabel(h1)}.localhost:${port}`;
    const bearer = await rawGet(port, host1, "/ISAPI/System/deviceInfo", [
      `Authorization: Bearer ${q.apiToken}`,
    ]);
    assertEquals(bearer.status, 200);
    assertStringIncludes(bearer.text, "DS-TEST");
    assertEquals((await rawGet(port, host1, "/")).status, 401);
    const nav = await rawGet(port, host1, "/doc/x", ["Sec-Fetch-Mode: navigate"]);
    assertEquals(nav.status, 302);
    assertStringIncludes(nav.text, `location: ${cloud}/c/${h1}/doc/x`);
    const handover = await fetch(`${cloud}/c/${h1}/doc/page/config.asp`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
      redirect: "manual",
    });
    assertEquals(handover.status, 302);
    const grantUrl = new URL(handover.headers.get("location")!);
    assertEquals(grantUrl.host, host1);
    const first = await rawGet(port, host1, grantUrl.pathname + grantUrl.search);
    assertEquals(first.status, 302);
    assertStringIncludes(first.text, "location: /doc/page/config.asp");
    const devCookie = /set-cookie: (nc_dev=[^;]+)/i.exec(first.text)![1];
    assertEquals((await rawGet(port, host1, "/", [`Cookie: ${devCookie}`])).status, 200);
    assertEquals((await rawGet(port, host1, grantUrl.pathname + grantUrl.search)).status, 403);
    // The cookie is for this origin only.
    const host2 = `${handleToLabel(h2)}.localhost:${port}`;
    assertEquals((await rawGet(port, host2, "/", [`Cookie: ${devCookie}`])).status, 401);
    const forged = devCookie.slice(0, -4) + "AAAA";
    assertEquals((await rawGet(port, host1, "/", [`Cookie: ${forged}`])).status, 401);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
