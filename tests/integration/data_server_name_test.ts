// The agent's data connections trust only the pinned agent CA. Deno's TLS client trusts its
// public roots besides the CA it is given, so the agent asks for and checks a name under
// `.invalid` that no public authority may certify (DATA_SERVER_NAME); the cloud's control/data
// certificate names it, including one issued before it existed (re-issued at start). A root
// given to the dialing process with DENO_CERT stands in for a public authority that certified the
// cloud's public host name. Real TLS listeners and a real child process, loopback only.
import { join } from "node:path";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { inTempDir } from "../_fixtures/temp_dir.ts";
import { certInfo, createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { ensurePki } from "../../src/cloud/pki.ts";
import { issueControlCert, writePair } from "../../src/cloud/server_cert_renewal.ts";
import { DATA_SERVER_NAME } from "../../src/shared/protocol/wire.ts";
import { startTlsServer } from "../_fixtures/tls_server.ts";

/** Runs the agent's data dial in a child process that also trusts `extraRootPem`. */
async function dialFromAgent(
  dir: string,
  extraRootPem: string,
  caPem: string,
  dials: { port: number; serverName?: string }[],
): Promise<{ ok: boolean; error?: string }[]> {
  const root = join(dir, "public-root.pem");
  await Deno.writeTextFile(root, extraRootPem);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../_fixtures/data_dial_probe.ts", import.meta.url).pathname],
    env: { DENO_CERT: root },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify({ caPem, dials })));
  await w.close();
  const out = await child.output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("data connections: a publicly trusted certificate for the cloud's host is refused; the pinned CA's is accepted", async () => {
  await inTempDir(async (dir) => {
    const agentCa = await createCA({ commonName: "test agent CA" });
    const publicCa = await createCA({ commonName: "a public authority" });
    const genuine = startTlsServer(await issueControlCert(agentCa, ["localhost"]));
    // What a public authority issues for the cloud's public host name (it may not add .invalid).
    const impostor = startTlsServer(
      await issueServerCert({ ca: publicCa, commonName: "localhost", hostnames: ["localhost"] }),
    );
    try {
      const [byHost, byName, real, realByHost] = await dialFromAgent(
        dir,
        publicCa.certPem,
        agentCa.certPem,
        [
          { port: impostor.port },
          { port: impostor.port, serverName: DATA_SERVER_NAME },
          { port: genuine.port, serverName: DATA_SERVER_NAME },
          { port: genuine.port },
        ],
      );
      // Checked by the host name, as before protocol 4, the impostor would pass: the premise.
      assertEquals(byHost, { ok: true });
      assertEquals(byName.ok, false);
      assert(/NotValidForName|not valid for/i.test(byName.error!), byName.error);
      assertEquals(real, { ok: true });
      assertEquals(realByHost, { ok: true }, "a node of protocol 3 is still reached by its host");
    } finally {
      await genuine.close();
      await impostor.close();
    }
  });
});

Deno.test("data connections: the cloud's control/data certificate names DATA_SERVER_NAME, an older one is re-issued at start", async () => {
  await inTempDir(async (dir) => {
    const opts = { dataDir: dir, node: "node-1", hostnames: ["localhost", "127.0.0.1"] };
    const first = await ensurePki(opts);
    const names = certInfo(first.server.certPem);
    assertEquals(names.dnsNames.sort(), ["localhost", DATA_SERVER_NAME].sort());
    assertEquals(names.ipAddresses, ["127.0.0.1"]);
    // A certificate from before protocol 4, on the same CA and not yet due: replaced at start.
    const older = await issueServerCert({
      ca: first.agentCa,
      commonName: "localhost",
      hostnames: opts.hostnames,
    });
    await writePair(join(dir, "tls"), "control", older);
    const again = await ensurePki(opts);
    assert(again.server.certPem !== older.certPem);
    assert(certInfo(again.server.certPem).dnsNames.includes(DATA_SERVER_NAME));
    // Unchanged names: kept as it is.
    assertEquals((await ensurePki(opts)).server.certPem, again.server.certPem);
  });
});
