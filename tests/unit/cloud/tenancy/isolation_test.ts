import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  checkCloudSessionRequest,
  checkProxyRequest,
  fetchFacts,
} from "../../../../src/cloud/tenancy/isolation.ts";

const H1 = "h-aaaaaaaaaaaaaaaaaaaaaa";
const H2 = "h-bbbbbbbbbbbbbbbbbbbbbb";

function facts(h: Record<string, string>, method = "GET") {
  return fetchFacts(method, (n) => ({ host: "cloud.example", ...h })[n] ?? null);
}

Deno.test("isolation: into /c/{h}/ only from the same handle, navigations from elsewhere", () => {
  const same = (ref?: string, mode = "cors") =>
    facts({
      "sec-fetch-site": "same-origin",
      "sec-fetch-mode": mode,
      ...(ref ? { referer: ref } : {}),
    });
  assertEquals(checkProxyRequest(H1, same(`https://cloud.example/c/${H1}/x`)), null);
  assertEquals(checkProxyRequest(H1, same(`https://cloud.example/sites/1`)), null);
  assertEquals(checkProxyRequest(H1, same(`https://cloud.example/c/${H2}/x`))?.status, 403);
  assertEquals(checkProxyRequest(H1, same(undefined))?.status, 403);
  assertEquals(checkProxyRequest(H1, same(undefined, "navigate"))?.status, 403);
  assertEquals(checkProxyRequest(H1, same(undefined, "websocket")), null);
  assertEquals(checkProxyRequest(H1, facts({})), null); // curl, SDKs
  assertEquals(checkProxyRequest(H1, facts({ "sec-fetch-site": "none" })), null);
  const cross = (mode: string, method = "GET") =>
    checkProxyRequest(
      H1,
      facts({ "sec-fetch-site": "cross-site", "sec-fetch-mode": mode }, method),
    );
  assertEquals(cross("navigate"), null);
  assertEquals(cross("navigate", "POST")?.status, 403);
  assertEquals(cross("cors")?.status, 403);
  assertEquals(checkProxyRequest(H1, facts({ "service-worker": "script" }))?.status, 403);
});

Deno.test("isolation: the cloud session is refused to proxied pages and hidden origins", () => {
  const s = (h: Record<string, string>) => checkCloudSessionRequest(facts(h));
  assertEquals(s({}), null);
  assertEquals(
    s({ "sec-fetch-site": "same-origin", referer: "https://cloud.example/sites" }),
    null,
  );
  assertEquals(
    s({ "sec-fetch-site": "same-origin", referer: `https://cloud.example/c/${H1}/` })?.status,
    403,
  );
  assertEquals(s({ "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" })?.status, 403);
  assertEquals(s({ "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate" }), null);
  // A WebSocket handshake never carries a Referer. WebKit (Safari) sends these with it (the
  // headers WebKitGTK 2.50 sent for the live view's socket); Chromium sends none of them.
  // The upgrade's own route admits it (Origin, and the page's antiforgery subprotocol).
  const webkit = { "sec-fetch-site": "same-origin", "sec-fetch-mode": "websocket" };
  assertEquals(s({ ...webkit, "sec-fetch-dest": "websocket" }), null);
  assertEquals(s({ ...webkit, referer: `https://cloud.example/c/${H1}/` })?.status, 403);
  // Other requests that hide where they come from stay refused, whatever they call themselves.
  for (const mode of ["cors", "no-cors", "same-origin", ""]) {
    assertEquals(
      s({ "sec-fetch-site": "same-origin", "sec-fetch-mode": mode })?.message,
      "requests that hide their origin page may not use the session",
    );
  }
});
