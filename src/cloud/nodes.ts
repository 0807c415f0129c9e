/**
 * The node registry. Nodes of one deployment share the store but each reads its own flags, and
 * some of those decide what the whole deployment does: the leader-locked jobs (the audit
 * retention purge, agent offline/online after `--offline-grace`) run on whichever node holds the
 * lock, with that node's values; enrollment tokens, certificates and webhooks behave per node. Two
 * nodes started with different values give answers that change with the node a request meets.
 * So each node announces itself (name, version, start, internal endpoint and those shared
 * settings) every {@linkcode ANNOUNCE_EVERY_MS}, reads its siblings, and warns once per
 * difference, naming both values; `connector cloud admin nodes` lists them for the operator, and
 * `/metrics` carries `connector_nodes_running` and `connector_node_setting_differences`.
 * @module
 */
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/log.ts";
import type { NodeRecord, Store } from "./store/store.ts";
import { logStoreFailure } from "./store/outage.ts";
import type { CloudConfig } from "./config.ts";
import { formatDuration } from "../shared/duration.ts";
import { nodeSettingDifferences, nodesRunning } from "./cloud_metrics.ts";

/** How often a node announces itself. */
export const ANNOUNCE_EVERY_MS = 15_000;
/** A node not seen for this long is not running (three missed announcements). */
export const NODE_STALE_MS = 3 * ANNOUNCE_EVERY_MS;

/**
 * A node not seen for this long was decommissioned (or renamed): the running nodes forget it, so
 * `admin nodes` lists what the deployment is, not every name it ever ran under. A node that comes
 * back announces itself again.
 */
export const NODE_FORGET_MS = 7 * 86_400_000;

/** A flag given no value (reads well in "runs with --public-url (not set)"). */
const NOT_SET = "(not set)";

/**
 * What every node of one cloud must hold alike beside its flags, by fingerprint (never a key):
 * the cloud secret and the agent CA certificates.
 */
export interface SharedIdentity {
  /** The cloud secret's key id (cloud_secret.ts `keyId`). */
  secretKeyId: string;
  /** The pins of the agent CA(s) trusted now (pki.ts `agentTokenPins`, comma-separated). */
  agentCaPins: string;
}

/**
 * The settings that are not flags: a node with another cloud secret or agent CA is told what it
 * breaks, and which files to copy, instead of "give every node the same value".
 */
const IDENTITY: Record<string, { what: string; fix: string }> = {
  "cloud-secret": {
    what: "cloud secret",
    fix: "copy one node's cloud-secret.key to the others and restart them (README \"Several " +
      'cloud nodes"): until then device credentials saved through one node do not open on ' +
      "the other, and webhook signatures and signed RTSP URLs differ by node",
  },
  "agent-ca": {
    what: "agent CA",
    fix: "copy ca/agent-ca.pem and ca/agent-ca.key from one node to the others and restart them " +
      "(in a rotation, after each phase: ca/agent-ca*.{pem,key}, then ca/agent-rotation.json, " +
      'which running nodes take on without a restart; README "Rotating the agent CA"): until then agents enrolled through one node are ' +
      "refused by the other",
  },
};

/** The warning for one difference: the flag's, or what a differing identity breaks. */
export function driftWarning(self: string, x: Drift): string {
  const id = IDENTITY[x.setting];
  if (id) {
    return `node "${x.node}" has another ${id.what} (${x.there}) than this node (${self}, ` +
      `${x.here}): ${id.fix}`;
  }
  return `node "${x.node}" runs with --${x.setting} ${x.there}, this node (${self}) with ${x.here}: give every node the same value (leader-locked jobs follow whichever node leads; requests get the answer of the node they reach)`;
}

/**
 * The flags every node of one deployment must run with the same value, as flag → value; with
 * `identity`, also its cloud secret and agent CA fingerprints.
 */
export function sharedSettings(c: CloudConfig, identity?: SharedIdentity): Record<string, string> {
  return {
    "audit-retention-days": c.auditRetentionDays === null ? "off" : String(c.auditRetentionDays),
    "event-retention-days": String(c.eventRetentionDays),
    "offline-grace": formatDuration(c.offlineGraceMs),
    "motion-max-cameras": String(c.motionMaxCameras),
    "enrollment-ttl": formatDuration(c.enrollmentTtlMs),
    "agent-cert-days": String(c.agentCertDays),
    "tunnel-idle-timeout": c.tunnelIdleTimeoutMs === null
      ? "off"
      : formatDuration(c.tunnelIdleTimeoutMs),
    "webhook-retry": formatDuration(c.webhooks.retryMs),
    "allow-private-webhooks": String(c.webhooks.allowPrivate),
    "allow-loopback-webhooks": String(c.webhooks.allowLoopback),
    // Whether, not which: nodes in two data centres go out through their own proxies, but a node
    // without one where its sibling needs one fails every delivery it claims.
    "webhook-proxy": c.webhooks.proxy ? "(set)" : NOT_SET,
    // Whether, not which, again: a node without a mail server fails every email it claims.
    smtp: c.webhooks.smtp ? "(set)" : NOT_SET,
    "allow-link-local-devices": String(c.allowLinkLocalDevices),
    "proxy-domain": c.proxyDomain ?? NOT_SET,
    "public-url": c.publicUrl ?? NOT_SET,
    // Behind one balancer, a node that does not trust it counts every client as the balancer.
    "trusted-proxies": c.trustedProxies.length ? [...c.trustedProxies].sort().join(",") : NOT_SET,
    ...(identity
      ? {
        "cloud-secret": `key ${identity.secretKeyId}`,
        // The trust set, in a fixed order: nodes a phase apart in a rotation trust the same CAs.
        "agent-ca": identity.agentCaPins.split(",").map((p) => p.slice(0, 23)).sort().join(","),
      }
      : {}),
  };
}

/** One setting a running sibling runs with another value than this node. */
export interface Drift {
  node: string;
  setting: string;
  here: string;
  there: string;
}

/**
 * Whether a node runs: it announced itself recently enough, and has not said it stopped since
 * (a crashed node says nothing: staleness tells, after {@linkcode NODE_STALE_MS}).
 */
export function isRunning(n: NodeRecord, now: number): boolean {
  return n.stoppedAt === null && now - n.seenAt <= NODE_STALE_MS;
}

/** The settings in which running siblings differ from `self` (a setting one side lacks too). */
export function settingDrift(
  self: Pick<NodeRecord, "name" | "settings">,
  nodes: NodeRecord[],
  now: number,
): Drift[] {
  const out: Drift[] = [];
  for (const n of nodes) {
    if (n.name === self.name || !isRunning(n, now)) continue;
    const keys = new Set([...Object.keys(self.settings), ...Object.keys(n.settings)]);
    for (const k of [...keys].sort()) {
      // A version that does not announce its secret or CA (a rolling upgrade) differs in nothing.
      if (IDENTITY[k] && !(k in self.settings && k in n.settings)) continue;
      const here = self.settings[k] ?? "(not known to this version)";
      const there = n.settings[k] ?? "(not known to its version)";
      if (here !== there) out.push({ node: n.name, setting: k, here, there });
    }
  }
  return out;
}

/** What the registry needs. */
export interface NodeRegistryDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  /**
   * This node as it announces itself; `settings` is read at every announcement (a getter there
   * follows a CA rotation the running node takes on).
   */
  self: Omit<NodeRecord, "seenAt" | "stoppedAt">;
  everyMs?: number;
}

/**
 * Announces this node now and every `everyMs`, warns once for each sibling setting (and
 * version) that differs from this node's, and forgets siblings not seen for
 * {@linkcode NODE_FORGET_MS}. The first announcement is awaited, so a node is listed as soon as
 * it is ready. Returns the node's graceful stop: it ends the announcements (waiting for one in
 * flight, which would otherwise undo the mark) and marks the node stopped, so `admin nodes` and
 * the siblings stop counting it at once; a store that cannot be reached then leaves it to
 * staleness, as after a crash.
 */
export async function startNodeRegistry(d: NodeRegistryDeps): Promise<() => Promise<void>> {
  const warned = new Set<string>();
  const once = (key: string, fn: () => void) => {
    if (warned.has(key)) return;
    warned.add(key);
    fn();
  };
  const tick = async () => {
    try {
      await d.store.putNode(d.self);
      const now = d.clock.now();
      const nodes = [];
      for (const n of await d.store.listNodes()) {
        if (n.name === d.self.name || now - n.seenAt <= NODE_FORGET_MS) {
          nodes.push(n);
          continue;
        }
        // Several nodes may forget it at once: the one whose delete removed it says so.
        if (await d.store.deleteNode(n.name)) {
          d.log.info(
            { node: n.name, seenAt: new Date(n.seenAt).toISOString() },
            `forgot node "${n.name}": not seen for ${formatDuration(NODE_FORGET_MS)} (last seen ${
              new Date(n.seenAt).toISOString()
            }); it is listed again if it starts`,
          );
        }
      }
      const drift = settingDrift(d.self, nodes, now);
      nodesRunning.set({}, nodes.filter((n) => isRunning(n, now)).length);
      nodeSettingDifferences.set({}, drift.length);
      for (const x of drift) {
        once(`${x.node}\0${x.setting}\0${x.there}\0${x.here}`, () =>
          d.log.warn(
            { node: x.node, setting: x.setting, there: x.there, here: x.here },
            driftWarning(d.self.name, x),
          ));
      }
      for (const n of nodes) {
        if (n.name === d.self.name || !isRunning(n, now) || n.version === d.self.version) continue;
        once(`${n.name}\0version\0${n.version}`, () =>
          d.log.info(
            { node: n.name, there: n.version, here: d.self.version },
            `node "${n.name}" runs version ${n.version}, this node ${d.self.version} (expected during a rolling upgrade)`,
          ));
      }
    } catch (e) {
      logStoreFailure(d.log, e, "node announcement failed");
    }
  };
  let inFlight: Promise<void> | null = null;
  const run = () => {
    inFlight ??= tick().finally(() => inFlight = null);
    return inFlight;
  };
  await run();
  const timer = setInterval(() => void run(), d.everyMs ?? ANNOUNCE_EVERY_MS);
  let stopping: Promise<void> | null = null;
  return () =>
    stopping ??= (async () => {
      clearInterval(timer);
      await inFlight;
      try {
        await d.store.markNodeStopped(d.self.name);
        d.log.info({ node: d.self.name }, `node "${d.self.name}" marked stopped in the registry`);
      } catch (e) {
        logStoreFailure(d.log, e, "could not mark this node stopped (siblings see it go stale)");
      }
    })();
}
