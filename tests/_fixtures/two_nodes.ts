/**
 * Two cloud nodes of one cloud on one FerretDB (README "Several cloud nodes"), and the probes
 * the multi-node tests share: a node's /metrics sample, a bare mTLS handshake against a listener,
 * an agent on each node with a check that tunnels are bridged both ways, and the copy of a CA
 * rotation from the node where `ca rotate` ran to its sibling.
 * @module
 */
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import {
  agentNode,
  echoServer,
  echoThrough,
  type Proc,
  type Quickstart,
  randomBytes,
  sha256,
  Stack,
  TEST_ADMIN_KEY,
} from "./stack.ts";
import { startFerretDb } from "./ferretdb.ts";

/**
 * Two nodes of one cloud on one FerretDB: node-1 first (with `n1Args` as extra flags), node-2
 * joined to it (with `internalCaKey: false`, node-2 gets no internal CA key, only its node
 * certificate).
 */
export async function twoNodes(
  o: { internalCaKey?: boolean; n1Args?: string[] } = {},
): Promise<{ n1: Stack; n2: Stack; stop(): Promise<void> }> {
  const ferret = await startFerretDb();
  const n1 = await Stack.start({ store: ferret.url, cloudArgs: o.n1Args });
  const n2 = await Stack.start({ joining: n1, node: "node-2", internalCaKey: o.internalCaKey });
  return {
    n1,
    n2,
    async stop() {
      await n2.stop();
      await n1.stop();
      await ferret.stop();
    },
  };
}

/** Reads one sample of `name{labels}` from a node's /metrics (admin key on the HTTP port). */
export async function metric(n: Stack, name: string, labels = ""): Promise<number> {
  const res = await fetch(`${n.url}/metrics`, { headers: { "x-admin-api-key": TEST_ADMIN_KEY } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/**
 * An mTLS handshake with `certPem`/`keyPem` against 127.0.0.1:`port` trusting `caPem`: null when
 * the server kept the connection, else why it was refused.
 */
export function handshake(
  port: number,
  certPem: string,
  keyPem: string,
  caPem: string,
): Promise<string | null> {
  return new Promise<string | null>((resolve) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port,
      cert: Buffer.from(certPem),
      key: Buffer.from(keyPem),
      ca: [Buffer.from(caPem)],
      checkServerIdentity: () => undefined,
    });
    let done = false;
    const finish = (v: string | null) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(v);
    };
    // TLS 1.3 reports a refused client certificate after the client's handshake completes: the
    // server's alert (or close) arrives on the first read.
    s.once("secureConnect", () => {
      s.write("x");
      setTimeout(() => finish(null), 2_000);
    });
    s.once("error", (e) => finish(e.message || "error"));
    s.once("close", () => finish("closed by the server"));
  });
}

/**
 * Copies the rotation of the `kind` CA from `from`'s data directory to `to`'s, the way README
 * says to after each `ca rotate` phase on several nodes: the CA files first (those `from` no
 * longer has are removed), the rotation record last — it is what the running node watches.
 */
export async function copyRotation(from: Stack, to: Stack, kind: "agent" | "internal") {
  const src = `${from.dataDir}/ca`;
  const dst = `${to.dataDir}/ca`;
  for (const name of [`${kind}-ca`, `${kind}-ca.secondary`, `${kind}-ca.retired`]) {
    for (const ext of ["key", "pem"]) {
      const f = `${name}.${ext}`;
      try {
        await Deno.copyFile(`${src}/${f}`, `${dst}/${f}.tmp`);
        if (ext === "key") await Deno.chmod(`${dst}/${f}.tmp`, 0o600);
        await Deno.rename(`${dst}/${f}.tmp`, `${dst}/${f}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        await Deno.remove(`${dst}/${f}`).catch(() => {});
      }
    }
  }
  const record = `${kind}-rotation.json`;
  await Deno.copyFile(`${src}/${record}`, `${dst}/${record}.tmp`);
  await Deno.rename(`${dst}/${record}.tmp`, `${dst}/${record}`);
}

/**
 * An echo device in two tenants, tenant A's agent on node-1 and tenant B's on node-2, and a check
 * that a fresh tunnel is bridged each way (256 KiB echoed intact, one bridge open counted on the
 * entry node).
 */
export async function agentOnEach(n1: Stack, n2: Stack) {
  const echo = await echoServer();
  n1.defer(echo.close);
  const qa = await n1.quickstart([echo.port], "TenantA");
  const qb = await n2.quickstart([echo.port], "TenantB");
  const agents: Proc[] = [await n1.agentFor(qa), await n2.agentFor(qb)];
  const where = agents.map(agentNode);
  if (where[0] !== n1.node || where[1] !== n2.node) throw new Error(`agents on ${where}`);
  /** Each direction: the entry node, and a handle whose agent lives on the other node. */
  const ways: { name: string; entry: Stack; q: Quickstart; handle: string }[] = [
    { name: "node-2 → node-1", entry: n2, q: qa, handle: qa.device.handles[echo.port] },
    { name: "node-1 → node-2", entry: n1, q: qb, handle: qb.device.handles[echo.port] },
  ];
  const opens = (n: Stack) => metric(n, "connector_interrelay_bridge_opens_total", '{side="out"}');
  const bridgesWork = async (when: string) => {
    for (const w of ways) {
      const before = await opens(w.entry);
      const data = randomBytes(256 << 10);
      const r = await echoThrough(await w.entry.openTunnel(w.handle, w.q.apiToken), data);
      if (await sha256(r.received) !== await sha256(data)) {
        throw new Error(`${w.name} ${when}: the echo differs`);
      }
      const after = await opens(w.entry);
      if (after !== before + 1) throw new Error(`${w.name} ${when}: not over the bridge`);
    }
  };
  return { agents, ways, bridgesWork };
}

/** The pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) {
        out.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

/**
 * Runs `fn` while `node` (the cloud and its control relay child) is frozen (SIGSTOP), so agents
 * given both nodes' control endpoints all come up on the other one: the frozen node's TLS never
 * answers their race. It keeps its ports (a node stopped and restarted could find one of them
 * taken on a busy machine).
 */
export async function whileFrozen<T>(node: Stack, fn: () => Promise<T>): Promise<T> {
  const pids = [node.cloud.child.pid, ...childrenOf(node.cloud.child.pid)];
  for (const pid of pids) Deno.kill(pid, "SIGSTOP");
  try {
    return await fn();
  } finally {
    for (const pid of pids) Deno.kill(pid, "SIGCONT");
  }
}
