/**
 * The cloud's HTTP port as the native front serves it (`src/cloud/api/native_front.ts`): tunnel
 * upgrades it answers itself — malformed heads, a missing WebSocket key, an anonymous caller
 * audited under its real address — and everything else handed to node:http, keep-alive and the
 * peer's address included (a browser's connection is ended after node:http's answer, so its next
 * request comes through the front again). Raw sockets, so the bytes on the wire are what is checked.
 */
import { assert, assertEquals, assertMatch } from "../_fixtures/assert.ts";
import { exchange } from "../_fixtures/loopback.ts";
import { Stack } from "../_fixtures/stack.ts";

/** Whether `out` holds `n` whole responses with a Content-Length. */
const answered = (n: number) => (out: string): boolean => {
  const heads = out.split("HTTP/1.1 ").length - 1;
  if (heads < n) return false;
  const last = out.lastIndexOf("HTTP/1.1 ");
  const len = /content-length: *(\d+)/i.exec(out.slice(last))?.[1];
  const bodyAt = out.indexOf("\r\n\r\n", last);
  return !!len && bodyAt > 0 && out.length >= bodyAt + 4 + Number(len);
};

const UPGRADE = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
const KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

Deno.test("native front: tunnel upgrades refused with the right status, the rest handed to node:http with keep-alive", async () => {
  await Stack.withEchoSite(async ({ stack, q, handle }) => {
    const port = stack.ports.http;

    // An anonymous upgrade: 401 with the guide's wording, audited under the caller's address.
    const anon = await exchange(
      port,
      `GET /api/tunnel/${handle} HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}\r\n`,
    );
    assertMatch(anon, /^HTTP\/1\.1 401 /);
    assertMatch(anon, /"message":"authentication required"/);
    const { entries } = await stack.admin<{ entries: { actor: string }[] }>(
      "audit",
      "--action",
      "tunnel.deny",
    );
    assert(entries.some((e) => e.actor === "ip:127.0.0.1"), JSON.stringify(entries));

    // Authorized, but no usable WebSocket key: 400, and the tunnel opened for it is let go.
    const auth = `Authorization: Bearer ${q.apiToken}\r\n`;
    const noKey = await exchange(
      port,
      `GET /api/tunnel/${handle} HTTP/1.1\r\nHost: x\r\n${UPGRADE}${auth}\r\n`,
    );
    assertMatch(noKey, /^HTTP\/1\.1 400 /);
    assertMatch(noKey, /Sec-WebSocket-Key/);

    // A head too large, a malformed header line: 431 and 400, JSON, no parser internals.
    const big = await exchange(
      port,
      `GET /api/tunnel/${handle} HTTP/1.1\r\nHost: x\r\nX-Big: ${
        "a".repeat(40_000)
      }\r\n${UPGRADE}\r\n`,
    );
    assertMatch(big, /^HTTP\/1\.1 431 /);
    const bad = await exchange(
      port,
      `GET /api/tunnel/${handle} HTTP/1.1\r\nHost x\r\n${UPGRADE}\r\n`,
    );
    assertMatch(bad, /^HTTP\/1\.1 400 /);
    assertMatch(bad, /"error":"bad_request"/);

    // A well-formed upgrade opens the tunnel natively: 101 and the accept value of RFC 6455.
    const ok = await exchange(
      port,
      `GET /api/tunnel/${handle} HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}${auth}\r\n`,
      (out) => out.includes("\r\n\r\n"),
    );
    assertMatch(ok, /^HTTP\/1\.1 101 /);
    assertMatch(ok, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);

    // Not a tunnel: two requests on one kept-alive connection, both answered by node:http.
    const two = await exchange(
      port,
      "GET /api/agents/ca HTTP/1.1\r\nHost: x\r\n\r\nGET /api/agents/ca HTTP/1.1\r\nHost: x\r\n\r\n",
      answered(2),
    );
    assertEquals((two.match(/HTTP\/1\.1 200 /g) ?? []).length, 2, two.slice(0, 300));
    // A browser's request node:http answers ends its connection (the browser's next request then
    // reaches the front again, and a /c/ one its native path): a second request is not answered.
    const browser = await exchange(
      port,
      "GET /api/agents/ca HTTP/1.1\r\nHost: x\r\nSec-Fetch-Mode: navigate\r\n\r\n" +
        "GET /api/agents/ca HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assertEquals((browser.match(/HTTP\/1\.1 200 /g) ?? []).length, 1, browser.slice(0, 300));
    assertMatch(browser, /\r\nconnection: close\r\n/i);
    // A GET of a tunnel path without Upgrade is the app's to answer, as before: never a 500.
    const plain = await exchange(
      port,
      `GET /api/tunnel/${handle} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    const status = Number(plain.split(" ")[1]);
    assert(status >= 400 && status < 500, plain.slice(0, 200));
  });
});
