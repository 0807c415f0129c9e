/**
 * The cloud's certificate authorities on disk. On first start it creates the agent CA (signs
 * agent client certificates and the control/data server certificate) and the internal CA (one
 * leaf per cloud node for node-to-node calls), all ECDSA P-256 with PKCS#8 keys written 0600.
 * Later starts load them; the server certificate is re-issued when the configured host names
 * change. The two CAs share no trust.
 * @module
 */
import { join } from "node:path";
import {
  certInfo,
  createCA,
  issueNodeCert,
  issueServerCert,
  type KeyAndCert,
  spkiPin,
} from "../shared/crypto/pki.ts";
import { writePublicFile, writeSecretFile } from "../shared/crypto/files.ts";
import type { Logger } from "../shared/log.ts";

/** Everything TLS the cloud needs, loaded. */
export interface CloudPki {
  /** Signs agent certificates; verifies agents on the control and data listeners. */
  agentCa: KeyAndCert;
  /** `sha256:<hex>` of the agent CA's public key: what enrollment tokens carry. */
  agentCaPin: string;
  /** Server certificate of the control and data listeners (signed by the agent CA). */
  server: KeyAndCert;
  /** The internal (node-to-node) CA. */
  internalCa: KeyAndCert;
  /** This node's leaf on the internal CA. */
  node: KeyAndCert;
}

async function readPair(dir: string, name: string): Promise<KeyAndCert | null> {
  try {
    return {
      certPem: await Deno.readTextFile(join(dir, `${name}.pem`)),
      keyPem: await Deno.readTextFile(join(dir, `${name}.key`)),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * A CA whose certificate was copied without its key (a node given its leaf by
 * `admin node-cert`): it verifies peers but cannot issue. keyPem is "".
 */
async function readCertOnly(dir: string, name: string): Promise<KeyAndCert | null> {
  try {
    return { certPem: await Deno.readTextFile(join(dir, `${name}.pem`)), keyPem: "" };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function writePair(dir: string, name: string, pair: KeyAndCert): Promise<void> {
  // Key first: a crash between the two writes leaves no certificate without its key.
  await writeSecretFile(join(dir, `${name}.key`), pair.keyPem);
  await writePublicFile(join(dir, `${name}.pem`), pair.certPem);
}

function sameNames(pem: string, hostnames: string[]): boolean {
  const info = certInfo(pem);
  const have = new Set([...info.dnsNames, ...info.ipAddresses]);
  return hostnames.length === have.size && hostnames.every((h) => have.has(h));
}

/** Loads or creates the agent CA and the internal CA under `<dataDir>/ca`. */
export async function ensureCas(
  opts: { dataDir: string; log?: Logger },
): Promise<{ agentCa: KeyAndCert; internalCa: KeyAndCert }> {
  const caDir = join(opts.dataDir, "ca");
  let agentCa = await readPair(caDir, "agent-ca");
  if (!agentCa) {
    agentCa = await createCA({ commonName: "Nanodems Connector Agent CA" });
    await writePair(caDir, "agent-ca", agentCa);
    opts.log?.info({ dir: caDir }, "created agent CA");
  }
  let internalCa = await readPair(caDir, "internal-ca");
  if (!internalCa) internalCa = await readCertOnly(caDir, "internal-ca");
  if (!internalCa) {
    internalCa = await createCA({ commonName: "Nanodems Connector Internal CA" });
    await writePair(caDir, "internal-ca", internalCa);
    opts.log?.info({ dir: caDir }, "created internal CA");
  }
  return { agentCa, internalCa };
}

/** Loads or creates the cloud's CAs and this node's leaves under `<dataDir>/ca` and `/tls`. */
export async function ensurePki(
  opts: { dataDir: string; node: string; hostnames: string[]; log?: Logger },
): Promise<CloudPki> {
  const tlsDir = join(opts.dataDir, "tls");
  const { agentCa, internalCa } = await ensureCas(opts);
  let server = await readPair(tlsDir, "control");
  if (!server || !sameNames(server.certPem, opts.hostnames) || expiresSoon(server.certPem)) {
    server = await issueServerCert({
      ca: agentCa,
      commonName: opts.hostnames[0],
      hostnames: opts.hostnames,
    });
    await writePair(tlsDir, "control", server);
    opts.log?.info({ hostnames: opts.hostnames }, "issued control server certificate");
  }
  let node = await readPair(tlsDir, "node");
  if (!node || certInfo(node.certPem).subjectCN !== opts.node || expiresSoon(node.certPem)) {
    if (!internalCa.keyPem) {
      throw new Error(
        `this node has the internal CA certificate but not its key, and no valid leaf for node ` +
          `"${opts.node}" in ${tlsDir}: run "connector cloud admin node-cert --node ${opts.node} ` +
          `--out <this data dir>" on a node that holds the internal CA key`,
      );
    }
    node = await issueNodeLeaf(internalCa, opts.node, opts.hostnames);
    await writePair(tlsDir, "node", node);
  }
  return { agentCa, agentCaPin: await spkiPin(agentCa.certPem), server, internalCa, node };
}

/** Issues a node's leaf on the internal CA (CN = node name; EKU server + client auth). */
export async function issueNodeLeaf(
  internalCa: KeyAndCert,
  node: string,
  hostnames: string[],
): Promise<KeyAndCert> {
  return await issueNodeCert({ ca: internalCa, commonName: node, hostnames });
}

/**
 * Writes a node's identity for another node's data directory: `tls/node.pem`, `tls/node.key`
 * (0600) and `ca/internal-ca.pem` (the certificate only — the other node can verify siblings
 * but not issue). Returns the paths written.
 */
export async function writeNodeIdentity(
  outDir: string,
  internalCa: KeyAndCert,
  leaf: KeyAndCert,
): Promise<string[]> {
  await Deno.mkdir(join(outDir, "tls"), { recursive: true, mode: 0o700 });
  await Deno.mkdir(join(outDir, "ca"), { recursive: true, mode: 0o700 });
  await writePair(join(outDir, "tls"), "node", leaf);
  const caPath = join(outDir, "ca", "internal-ca.pem");
  let same = false;
  try {
    same = (await Deno.readTextFile(caPath)) === internalCa.certPem;
  } catch { /* absent */ }
  if (!same) await writePublicFile(caPath, internalCa.certPem);
  return [join(outDir, "tls", "node.pem"), join(outDir, "tls", "node.key"), caPath];
}

function expiresSoon(pem: string): boolean {
  return certInfo(pem).notAfter.getTime() - Date.now() < 30 * 86400e3;
}
