/**
 * The cloud's certificate authorities on disk. On first start it creates the agent CA (signs
 * agent client certificates and the control/data server certificate) and the internal CA (one
 * leaf per cloud node for node-to-node calls), all ECDSA P-256 with PKCS#8 keys written 0600.
 * Later starts load them; the server certificate is re-issued when the configured host names
 * change, and the server and node certificates when due (server_cert_renewal.ts, which also
 * renews them while the cloud runs). The two CAs share no trust.
 * @module
 */
import { join } from "node:path";
import {
  certInfo,
  createCA,
  issuedBy,
  type KeyAndCert,
  splitPemCerts,
} from "../shared/crypto/pki.ts";
import { type AgentCas, loadAgentCas, loadCas, tokenPins } from "./ca_rotation.ts";
import type { Logger } from "../shared/log.ts";
import { type Clock, systemClock } from "../shared/clock.ts";
import { AgentCertIssuer, DEFAULT_AGENT_CERT_DAYS } from "./agent_certs.ts";
import {
  certDue,
  controlCertNames,
  issueControlCert,
  issueNodeLeaf,
  writePair,
} from "./server_cert_renewal.ts";

/** Everything TLS the cloud needs, loaded. */
export interface CloudPki {
  /** Signs agent certificates; verifies agents on the control and data listeners. */
  agentCa: KeyAndCert;
  /** `sha256:<hex>` of the agent CA's public key: what enrollment tokens carry. */
  agentCaPin: string;
  /** Server certificate of the control and data listeners (signed by the agent CA). */
  server: KeyAndCert;
  /** The internal (node-to-node) CA: the primary one during a rotation. */
  internalCa: KeyAndCert;
  /** The internal CA certificate(s) trusted for node-to-node calls (two during a rotation). */
  internalTrustPem: string;
  /** This node's leaf on the internal CA. */
  node: KeyAndCert;
  /** Issues every agent certificate (enrollment, claim, renewal). */
  agentCerts: AgentCertIssuer;
  /** The agent CA certificate(s) trusted now: one, or two during a rotation (ca_rotation.ts). */
  agentTrustPem: string;
  /**
   * The pins new enrollment tokens carry: the primary CA's, and during a rotation the other
   * CA's too (comma-separated, primary first).
   */
  agentTokenPins: string;
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
  // Only the certificate (no key): this node's certificate comes from `admin node-cert`.
  const certOnly = !internalCa &&
    await Deno.stat(join(caDir, "internal-ca.pem")).then(() => true, () => false);
  if (certOnly) {
    internalCa = { certPem: await Deno.readTextFile(join(caDir, "internal-ca.pem")), keyPem: "" };
  } else if (!internalCa) {
    internalCa = await createCA({ commonName: "Nanodems Connector Internal CA" });
    await writePair(caDir, "internal-ca", internalCa);
    opts.log?.info({ dir: caDir }, "created internal CA");
  }
  return { agentCa, internalCa };
}

/** Loads or creates the cloud's CAs and this node's leaves under `<dataDir>/ca` and `/tls`. */
export async function ensurePki(
  opts: {
    dataDir: string;
    node: string;
    hostnames: string[];
    log?: Logger;
    /** Lifetime of new agent certificates (default 30 days). */
    agentCertDays?: number;
    clock?: Clock;
  },
): Promise<CloudPki> {
  const tlsDir = join(opts.dataDir, "tls");
  await ensureCas(opts);
  const cas = await loadAgentCas(opts.dataDir);
  const internal = await loadCas(opts.dataDir, "internal");
  // Node certificates come from the CA that signs renewals: the new one from update-clients on.
  const internalCa = { certPem: internal.renewals.certPem, keyPem: internal.renewals.keyPem };
  const agentCa = cas.primary;
  let server = await readPair(tlsDir, "control");
  const now = (opts.clock ?? systemClock).now();
  if (
    !server || !sameNames(server.certPem, controlCertNames(opts.hostnames)) ||
    certDue(server.certPem, now) ||
    !await issuedBy(server.certPem, agentCa.certPem)
  ) {
    server = await issueControlCert(agentCa, opts.hostnames);
    await writePair(tlsDir, "control", server);
    opts.log?.info({ hostnames: opts.hostnames }, "issued control server certificate");
  }
  let node = await readPair(tlsDir, "node");
  if (!internalCa.keyPem) {
    // No internal CA key on this host: the node certificate must have been issued elsewhere.
    const trusted = await Promise.all(
      splitPemCerts(internal.trustPem).map((ca) => node ? issuedBy(node.certPem, ca) : false),
    );
    if (!node || certInfo(node.certPem).subjectCN !== opts.node || !trusted.includes(true)) {
      throw new Error(
        `this host has the internal CA certificate but not its key, and no node certificate for ` +
          `"${opts.node}" from it in ${tlsDir}: on a node holding the internal CA key run ` +
          `"connector cloud admin node-cert --node ${opts.node} --out DIR" and copy node.pem and ` +
          `node.key (0600) to ${tlsDir}, internal-ca.pem to ${join(opts.dataDir, "ca")}`,
      );
    }
  } else if (
    !node || certInfo(node.certPem).subjectCN !== opts.node || certDue(node.certPem, now) ||
    !await issuedBy(node.certPem, internalCa.certPem)
  ) {
    node = await issueNodeLeaf(internalCa, opts.node, opts.hostnames);
    await writePair(tlsDir, "node", node);
  }
  const agentCerts = new AgentCertIssuer({
    ca: agentCa,
    caPin: agentCa.pin,
    days: opts.agentCertDays ?? DEFAULT_AGENT_CERT_DAYS,
    clock: opts.clock ?? systemClock,
  });
  const pki: CloudPki = {
    agentCa,
    agentCaPin: agentCa.pin,
    server,
    internalCa,
    internalTrustPem: internal.trustPem,
    node,
    agentCerts,
    agentTrustPem: cas.trustPem,
    agentTokenPins: agentCa.pin,
  };
  useAgentCas(pki, cas);
  return pki;
}

/** Makes `pki` follow the agent CAs of a rotation phase (see ca_rotation.ts). */
export function useAgentCas(pki: CloudPki, cas: AgentCas): void {
  pki.agentCa = { certPem: cas.primary.certPem, keyPem: cas.primary.keyPem };
  pki.agentCaPin = cas.primary.pin;
  pki.agentTrustPem = cas.trustPem;
  pki.agentTokenPins = tokenPins(cas);
  pki.agentCerts.setCas({
    primary: cas.primary,
    renewals: cas.renewals,
    trusted: cas.secondary ? [cas.primary, cas.secondary] : [cas.primary],
  });
}
