/**
 * A node joining a cloud brings the cloud's shared files. On its first start a node creates
 * whatever of them its data directory lacks — the agent CA, the internal CA and the cloud secret
 * — which is right for the first node and always wrong for the second: one that made its own
 * would refuse the cloud's agents (and they it), could not reach its siblings, and could open
 * none of the saved device credentials. So before creating any of them, a node asks the store
 * whether another node already runs this cloud; if one does, it refuses to start and names the
 * files to copy and where from (README "Several cloud nodes").
 * @module
 */
import { join } from "node:path";
import type { Store } from "./store/store.ts";
import { NODE_FORGET_MS } from "./nodes.ts";

/** Where a node keeps the files every node of one cloud shares. */
export interface SharedFiles {
  dataDir: string;
  /** The cloud secret's path (`--secret-key-file`, default `<data dir>/cloud-secret.key`). */
  secretPath: string;
}

/** The shared files missing from this node: paths relative to the data dir where they are in it. */
export async function missingSharedFiles(f: SharedFiles): Promise<string[]> {
  const wanted = [
    join(f.dataDir, "ca", "agent-ca.pem"),
    join(f.dataDir, "ca", "agent-ca.key"),
    // The internal CA's key may stay on one node (admin node-cert): its certificate is enough.
    join(f.dataDir, "ca", "internal-ca.pem"),
    f.secretPath,
  ];
  const missing: string[] = [];
  for (const path of wanted) {
    const there = await Deno.stat(path).then(() => true, () => false);
    if (!there) missing.push(path);
  }
  return missing;
}

/**
 * Why this node must not start (null: it may): another node has run on `store` within
 * {@linkcode NODE_FORGET_MS} and this node lacks some of the shared files it would otherwise
 * create.
 */
export async function joinRefusal(
  store: Store,
  self: string,
  files: SharedFiles,
  now: number,
): Promise<string | null> {
  const missing = await missingSharedFiles(files);
  if (!missing.length) return null;
  const siblings = (await store.listNodes())
    .filter((n) => n.name !== self && now - n.seenAt <= NODE_FORGET_MS)
    .sort((a, b) => b.seenAt - a.seenAt);
  if (!siblings.length) return null;
  const from = siblings[0].name;
  const ca = join(files.dataDir, "ca");
  const there = `<host of ${from}>:<its data dir>`;
  return [
    `node "${from}" already belongs to this cloud (same store; last seen ` +
    `${new Date(siblings[0].seenAt).toISOString()}), but this node (${self}) lacks files every ` +
    `node of a cloud shares:`,
    ...missing.map((m) => `  ${m}`),
    `Had it made its own, agents and sibling nodes would refuse it and it could open none of ` +
    `the saved device credentials, so it did not start. Copy them from ${from} (keys stay ` +
    `0600), then start this node again:`,
    `  install -d -m 0700 ${ca}`,
    `  scp -p '${there}/ca/{agent-ca,internal-ca}.{pem,key}' ${ca}/`,
    `  scp -p '${there}/cloud-secret.key' ${files.secretPath}`,
    `(README "Several cloud nodes"; the internal CA key may stay on ${from}: see admin node-cert)`,
  ].join("\n");
}
