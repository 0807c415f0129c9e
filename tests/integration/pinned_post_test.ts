// A webhook POST connects to the checked address only: the host name is never resolved again,
// TLS is verified against the name (a certificate for another name fails), redirects are not
// followed, a silent receiver times out.
import assert from "node:assert/strict";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { PostError, postPinned } from "../../src/cloud/events/pinned_post.ts";

async function tlsReceiver(hostnames: string[]) {
  const ca = await createCA({ commonName: "test hooks CA" });
  const leaf = await issueServerCert({ ca, commonName: hostnames[0], hostnames });
  const seen: { host: string | null; body: string }[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen: () => {},
  }, async (req) => {
    seen.push({ host: req.headers.get("host"), body: await req.text() });
    return new Response(null, { status: new URL(req.url).pathname === "/moved" ? 302 : 204 });
  });
  return { ca: ca.certPem, port: server.addr.port, seen, close: () => server.shutdown() };
}

const post = (url: string, ca: string, timeoutMs = 5_000) =>
  postPinned({
    url: new URL(url),
    addresses: ["127.0.0.1"],
    headers: { "content-type": "application/json" },
    body: '{"type":"webhook.test"}',
    timeoutMs,
    ca,
  });

Deno.test("pinned POST: https to a name that does not resolve reaches the pinned address, verified by name", async () => {
  const rx = await tlsReceiver(["hooks.nanodems.invalid"]);
  try {
    assert.equal(await post(`https://hooks.nanodems.invalid:${rx.port}/in`, rx.ca), 204);
    assert.deepEqual(rx.seen, [{
      host: `hooks.nanodems.invalid:${rx.port}`,
      body: '{"type":"webhook.test"}',
    }]);
    assert.equal(await post(`https://hooks.nanodems.invalid:${rx.port}/moved`, rx.ca), 302);
    await assert.rejects(
      post(`https://other.nanodems.invalid:${rx.port}/in`, rx.ca),
      PostError,
      "a certificate for another name is refused",
    );
  } finally {
    await rx.close();
  }
});

Deno.test("pinned POST: a receiver that never answers times out", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const c of l) held.push(c);
  })().catch(() => {});
  try {
    await assert.rejects(
      post(`http://hooks.nanodems.invalid:${(l.addr as Deno.NetAddr).port}/`, "", 500),
      /no answer within 0.5 s/,
    );
  } finally {
    l.close();
    for (const c of held) c.close();
  }
});
