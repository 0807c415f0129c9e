// A webhook POST connects to the checked address only: the host name is never resolved again, TLS
// is verified against the name (a certificate for another name fails), redirects are not followed,
// a silent receiver times out, an answer whose body never ends is cut. Through an outbound proxy
// the proxy is asked for the checked address, never the name, with the proxy URL's credentials, and
// TLS is still verified against the name; a proxy that refuses or is not there is named in the
// error.
import assert from "node:assert/strict";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { PostError, postPinned } from "../../src/cloud/events/pinned_post.ts";
import { parseProxyUrl, type ProxyConfig } from "../../src/shared/transport/proxy.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";

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

const post = (url: string, ca: string, timeoutMs = 5_000, proxy?: ProxyConfig) =>
  postPinned({
    url: new URL(url),
    addresses: ["127.0.0.1"],
    headers: { "content-type": "application/json" },
    body: '{"type":"webhook.test"}',
    timeoutMs,
    ca,
    proxy,
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

/** A peer on loopback that accepts connections and never says a word. */
function silentPeer() {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const c of l) held.push(c);
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    close() {
      l.close();
      for (const c of held) c.close();
    },
  };
}

Deno.test("pinned POST: a receiver that never answers times out", async () => {
  const peer = silentPeer();
  try {
    await assert.rejects(
      post(`http://hooks.nanodems.invalid:${peer.port}/`, "", 500),
      /no answer within 0.5 s/,
    );
  } finally {
    peer.close();
  }
});

/**
 * A receiver that answers 200 at once and then sends its body without end: as fast as it can, or a
 * byte every 50 ms. Resolves, for each connection, how many body bytes it wrote before the
 * connection was closed under it (or -1 when still open after 20 s).
 */
function endlessReceiver(pace: "flood" | "trickle") {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedAfter: Promise<number>[] = [];
  const serve = async (c: Deno.Conn) => {
    const buf = new Uint8Array(4096);
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await c.read(buf);
      if (n === null) return -1;
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    await c.write(
      new TextEncoder().encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    );
    const chunk = new TextEncoder().encode(
      pace === "flood" ? `4000\r\n${"x".repeat(0x4000)}\r\n` : "1\r\nx\r\n",
    );
    const started = Date.now();
    let sent = 0;
    try {
      while (Date.now() - started < 20_000) {
        await c.write(chunk);
        sent += pace === "flood" ? 0x4000 : 1;
        if (pace === "trickle") await new Promise((r) => setTimeout(r, 50));
      }
      return -1;
    } catch {
      return sent;
    } finally {
      c.close();
    }
  };
  (async () => {
    for await (const c of l) closedAfter.push(serve(c));
  })().catch(() => {});
  return { port: (l.addr as Deno.NetAddr).port, closedAfter, close: () => l.close() };
}

Deno.test("pinned POST: an answer whose body never ends is drained no further than 64 KiB or the deadline, then its connection is closed", async () => {
  for (const pace of ["flood", "trickle"] as const) {
    const rx = endlessReceiver(pace);
    try {
      assert.equal(await post(`http://hooks.nanodems.invalid:${rx.port}/`, "", 1_000), 200);
      assert.equal(rx.closedAfter.length, 1);
      const sent = await rx.closedAfter[0];
      // It went on for good before (the node drained it as long as the receiver sent).
      assert.ok(sent >= 0, `${pace}: the connection was still open after 20 s`);
      // What the sockets' buffers hold past the 64 KiB read, no more.
      if (pace === "flood") assert.ok(sent < 32 << 20, `${pace}: ${sent} bytes taken`);
    } finally {
      rx.close();
    }
  }
});

Deno.test("pinned POST through an outbound proxy: CONNECT to the checked address with the proxy's credentials, TLS verified against the name", async () => {
  const rx = await tlsReceiver(["hooks.nanodems.invalid"]);
  const proxy = startConnectProxy({ user: "egress", password: "s3cret:pw" });
  try {
    const via = parseProxyUrl(proxy.url);
    assert.equal(
      await post(`https://hooks.nanodems.invalid:${rx.port}/in`, rx.ca, 5_000, via),
      204,
    );
    assert.deepEqual(proxy.carried, [`127.0.0.1:${rx.port}`], "the address, never the name");
    assert.deepEqual(proxy.credentials, [`Basic ${btoa("egress:s3cret:pw")}`]);
    assert.deepEqual(rx.seen, [{
      host: `hooks.nanodems.invalid:${rx.port}`,
      body: '{"type":"webhook.test"}',
    }]);
    await assert.rejects(
      post(`https://other.nanodems.invalid:${rx.port}/in`, rx.ca, 5_000, via),
      PostError,
      "a certificate for another name is refused through the proxy too",
    );
    assert.equal(rx.seen.length, 1);
  } finally {
    await proxy.close();
    await rx.close();
  }
});

Deno.test("pinned POST through an outbound proxy to an address: the certificate is checked against that address", async () => {
  const rx = await tlsReceiver(["127.0.0.1"]);
  const proxy = startConnectProxy();
  try {
    const via = parseProxyUrl(proxy.url);
    assert.equal(await post(`https://127.0.0.1:${rx.port}/in`, rx.ca, 5_000, via), 204);
    assert.deepEqual(proxy.carried, [`127.0.0.1:${rx.port}`]);
    const other = await tlsReceiver(["127.0.0.2"]);
    try {
      await assert.rejects(
        post(`https://127.0.0.1:${other.port}/in`, other.ca, 5_000, via),
        /does not match|altnames/,
      );
      assert.equal(other.seen.length, 0);
    } finally {
      await other.close();
    }
  } finally {
    await proxy.close();
    await rx.close();
  }
});

Deno.test("pinned POST through an outbound proxy: refused credentials, a refused CONNECT and a proxy that is not there are each named", async () => {
  const rx = await tlsReceiver(["hooks.nanodems.invalid"]);
  const proxy = startConnectProxy({ user: "egress", password: "right" });
  const url = `https://hooks.nanodems.invalid:${rx.port}/in`;
  try {
    const display = `http://127.0.0.1:${proxy.port}`;
    await assert.rejects(
      post(url, rx.ca, 5_000, parseProxyUrl(`http://egress:wrong@127.0.0.1:${proxy.port}`)),
      (e: Error) => {
        assert.ok(e instanceof PostError);
        assert.equal(
          e.message,
          `the proxy ${display} wants credentials (407); it refused those in the proxy URL`,
        );
        assert.ok(!e.message.includes("wrong"), "no password in the delivery log");
        return true;
      },
    );
    await assert.rejects(
      post(url, rx.ca, 5_000, parseProxyUrl(display)),
      /wants credentials \(407\); put them in the proxy URL/,
    );
    // The fixture proxy refuses, without dialing it, any address not on loopback (403): the
    // refusal quotes its answer.
    await assert.rejects(
      postPinned({
        url: new URL(url),
        addresses: ["0.0.0.0"],
        headers: {},
        body: "{}",
        timeoutMs: 5_000,
        ca: rx.ca,
        proxy: parseProxyUrl(proxy.url),
      }),
      new RegExp(
        `^PostError: the proxy ${display} refused CONNECT 0\\.0\\.0\\.0:${rx.port}: HTTP/1\\.1 403`,
      ),
    );
    const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (gone.addr as Deno.NetAddr).port;
    gone.close();
    await assert.rejects(
      post(url, rx.ca, 5_000, parseProxyUrl(`http://127.0.0.1:${port}`)),
      new RegExp(`cannot reach the proxy http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
    assert.equal(rx.seen.length, 0, "nothing reached the receiver");
  } finally {
    await proxy.close();
    await rx.close();
  }
});

Deno.test("pinned POST through an outbound proxy that never answers CONNECT times out within the POST's deadline", async () => {
  const peer = silentPeer();
  try {
    await assert.rejects(
      post(
        "https://hooks.nanodems.invalid:9/",
        "",
        500,
        parseProxyUrl(`http://127.0.0.1:${peer.port}`),
      ),
      /no answer within 0.5 s/,
    );
  } finally {
    peer.close();
  }
});
