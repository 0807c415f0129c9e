// The agent's route over a list of control endpoints (guide §5.2): real TLS listeners on
// loopback; a dead endpoint loses to a live one, a demoted endpoint goes last.
import { assertEquals, assertRejects } from "../_fixtures/assert.ts";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { chooseRoute, routeKey } from "../../src/agent/cloud_route.ts";
import { startTlsServer } from "../_fixtures/tls_server.ts";

async function tlsNode(ca: { certPem: string; keyPem: string }) {
  return startTlsServer(
    await issueServerCert({ ca, commonName: "127.0.0.1", hostnames: ["127.0.0.1"] }),
  );
}

function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("cloud route: the first endpoint that answers wins; a dead one is skipped; demoted go last", async () => {
  const ca = await createCA({ commonName: "test agent CA" });
  const a = await tlsNode(ca);
  const b = await tlsNode(ca);
  const dead = deadPort();
  try {
    const ep = (port: number) => ({ host: "127.0.0.1", port });
    const opts = { caPem: ca.certPem, proxy: null, staggerMs: 50 };
    // A dead first endpoint: the next one is tried at once and wins.
    let r = await chooseRoute({ ...opts, endpoints: [ep(dead), ep(b.port)] });
    assertEquals([r.host, r.port, r.address?.address], ["127.0.0.1", b.port, "127.0.0.1"]);
    // Both alive: the first in the list.
    r = await chooseRoute({ ...opts, endpoints: [ep(a.port), ep(b.port)] });
    assertEquals(r.port, a.port);
    // The first demoted (its session failed): the other one is tried first.
    const demoted = new Set([routeKey({ address: "127.0.0.1", port: a.port })]);
    r = await chooseRoute({ ...opts, endpoints: [ep(a.port), ep(b.port)], demoted });
    assertEquals(r.port, b.port);
    // Nothing answers: the error names every address tried.
    const e = await assertRejects(() => chooseRoute({ ...opts, endpoints: [ep(dead)] }));
    assertEquals(/every address failed/.test(e.message), true);
  } finally {
    await a.close();
    await b.close();
  }
});
