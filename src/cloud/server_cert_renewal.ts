/**
 * The node's own certificates renew themselves: the control/data server certificate (on the
 * agent CA) and the node's internal certificate are re-issued once past two thirds of their life
 * (or with less than 30 days left), checked at start and then every hour, written atomically
 * beside the old ones, and handed to the running listeners, which serve them to new connections
 * with no restart. When to renew follows the injectable clock; the certificates themselves are
 * dated on the wall clock, because the TLS stacks that check them use the wall clock.
 * @module
 */
import { join } from "node:path";
import {
  certInfo,
  issuedBy,
  issueNodeCert,
  issueServerCert,
  type KeyAndCert,
} from "../shared/crypto/pki.ts";
import { writePublicFile, writeSecretFile } from "../shared/crypto/files.ts";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/log.ts";
import { DATA_SERVER_NAME } from "../shared/protocol/wire.ts";

const DAY_MS = 86_400_000;
const CHECK_MS = 3_600_000;

/** True when a certificate should be replaced at `now`: past 2/3 of its life, or < 30 days left. */
export function certDue(certPem: string, now: number): boolean {
  const { notBefore, notAfter } = certInfo(certPem);
  const life = notAfter.getTime() - notBefore.getTime();
  return now >= notBefore.getTime() + life * 2 / 3 || notAfter.getTime() - now < 30 * DAY_MS;
}

/** Writes a pair under `dir` as `<name>.key` (0600) and `<name>.pem`, key first. */
export async function writePair(dir: string, name: string, pair: KeyAndCert): Promise<void> {
  // Key first: a crash between the two writes leaves no certificate without its key.
  await writeSecretFile(join(dir, `${name}.key`), pair.keyPem);
  await writePublicFile(join(dir, `${name}.pem`), pair.certPem);
}

/**
 * The names of the control/data server certificate: the node's host names, then the data
 * connection's own name (`DATA_SERVER_NAME`, which only the pinned agent CA can certify).
 */
export function controlCertNames(hostnames: string[]): string[] {
  return [...new Set([...hostnames, DATA_SERVER_NAME])];
}

/** Issues the control/data server certificate for `hostnames` on the agent CA. */
export async function issueControlCert(agentCa: KeyAndCert, hostnames: string[]) {
  return await issueServerCert({
    ca: agentCa,
    commonName: hostnames[0],
    hostnames: controlCertNames(hostnames),
  });
}

/** Issues this node's certificate on the internal CA. */
export async function issueNodeLeaf(internalCa: KeyAndCert, node: string, hostnames: string[]) {
  return await issueNodeCert({ ca: internalCa, commonName: node, hostnames });
}

/** What the renewal reads and updates. */
export interface ServerCertDeps {
  dataDir: string;
  node: string;
  hostnames: string[];
  /** The live PKI: `server` and `node` are replaced in place when renewed. */
  pki: { agentCa: KeyAndCert; internalCa: KeyAndCert; server: KeyAndCert; node: KeyAndCert };
  clock: Clock;
  log: Logger;
  /** Hands a renewed server pair to the listeners. */
  applyServer: (pair: KeyAndCert) => Promise<void>;
}

/** Renews whichever of the server and node certificates is due; says which were. */
export async function renewServerCerts(
  d: ServerCertDeps,
): Promise<{ server: boolean; node: boolean }> {
  const now = d.clock.now();
  const tlsDir = join(d.dataDir, "tls");
  const done = { server: false, node: false };
  // Also when the primary agent CA changed (a rotation reached update-servers, or rolled back).
  if (
    certDue(d.pki.server.certPem, now) ||
    !await issuedBy(d.pki.server.certPem, d.pki.agentCa.certPem)
  ) {
    const pair = await issueControlCert(d.pki.agentCa, d.hostnames);
    await writePair(tlsDir, "control", pair);
    d.pki.server = pair;
    await d.applyServer(pair);
    done.server = true;
    d.log.info(
      { serial: certInfo(pair.certPem).serialHex, notAfter: certInfo(pair.certPem).notAfter },
      "control server certificate renewed; new connections use it",
    );
  }
  const nodeDue = certDue(d.pki.node.certPem, now) ||
    !await issuedBy(d.pki.node.certPem, d.pki.internalCa.certPem);
  if (nodeDue && !d.pki.internalCa.keyPem) {
    // This host cannot sign (no internal CA key): someone must run `admin node-cert` for it.
    d.log.warn(
      { notAfter: certInfo(d.pki.node.certPem).notAfter },
      `node certificate due (expiring, or not from the internal CA that signs now) and this host ` +
        `has no internal CA key: run "connector cloud admin node-cert --node ${d.node} --out DIR" ` +
        `on a node that has it and copy node.pem/node.key here`,
    );
  } else if (nodeDue) {
    const pair = await issueNodeLeaf(d.pki.internalCa, d.node, d.hostnames);
    await writePair(tlsDir, "node", pair);
    d.pki.node = pair;
    done.node = true;
    d.log.info({ serial: certInfo(pair.certPem).serialHex }, "node certificate renewed");
  }
  return done;
}

/** Checks every hour; returns the stop function. */
export function watchServerCerts(d: ServerCertDeps): () => void {
  const timer = setInterval(() => {
    renewServerCerts(d).catch((e) =>
      d.log.error({ err: (e as Error).message }, "server certificate renewal failed")
    );
  }, CHECK_MS);
  return () => clearInterval(timer);
}
