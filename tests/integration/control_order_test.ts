// The order of the cloud's first messages on a control stream: Welcome, CertificatePolicy and
// the site's allowlist come before the first OpenData, so a tunnel OPEN on the data connection
// the agent dials can never overtake its allowlist (a restarted agent holds none: it answered
// "target not in allowlist" for a listed device). Real control server (its gRPC/mTLS relay on
// loopback), real SQLite store underneath — its allowlist reads only slowed — and a raw gRPC
// client holding the enrolled agent's certificate.
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { enrollAgent, startTestCloud, type TestCloud } from "../_fixtures/cloud.ts";
import { until } from "../_fixtures/until.ts";
import { createLogger } from "../../src/shared/log.ts";
import type { AgentState } from "../../src/agent/state.ts";
import {
  type AgentMessage,
  type CloudMessage,
  controlServiceDefinition,
} from "../../src/shared/protocol/control.ts";
import { PROTOCOL_VERSION } from "../../src/shared/protocol/wire.ts";
import type { Allowlist, Store } from "../../src/cloud/store/store.ts";
import { type ControlServer, startControlServer } from "../../src/cloud/control/server.ts";
import { Registry } from "../../src/cloud/control/registry.ts";
import { TunnelBroker } from "../../src/cloud/control/tunnels.ts";
import { TlsIdentity } from "../../src/cloud/control/tls_identity.ts";
import { CertRenewal } from "../../src/cloud/control/cert_renewal.ts";

const log = createLogger({ role: "test", level: "silent" });

/**
 * The real store with its first `getAllowlist` slowed: the read happens at once and its answer
 * is held until `hold()` resolves.
 */
function slowAllowlistStore(store: Store, hold: () => Promise<unknown>) {
  const reads: number[] = [];
  const slowed = new Proxy(store, {
    get(target, key) {
      if (key === "getAllowlist") {
        return async (siteId: string): Promise<Allowlist> => {
          const al = await target.getAllowlist(siteId);
          reads.push(al.version);
          if (reads.length === 1) await hold();
          return al;
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { store: slowed, reads };
}

/** A second control listener of the test cloud's node, over `store`. */
function controlOver(tc: TestCloud, store: Store): Promise<ControlServer> {
  const registry = new Registry();
  const { pki } = tc.cloud;
  return startControlServer({
    listen: { hostname: "127.0.0.1", port: 0 },
    identity: new TlsIdentity(pki.agentTrustPem, pki.server),
    node: "order-test",
    endpoint: "",
    dataPort: () => tc.cloud.ports.data,
    store,
    registry,
    broker: new TunnelBroker(registry, { timeoutMs: 10_000, log }),
    clock: tc.clock,
    log,
    certs: new CertRenewal({
      store,
      issuer: pki.agentCerts,
      caPem: () => pki.agentTrustPem,
      clock: tc.clock,
      log,
      node: "order-test",
    }),
  });
}

/** What the agent saw: each message's kind, an allowlist with its version. */
type Seen = string[];

/** Connects as the agent, says Hello and records every cloud message in order. */
function connectAsAgent(state: AgentState, port: number) {
  const Client = grpc.makeGenericClientConstructor(controlServiceDefinition, "Control");
  const client = new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(
      Buffer.from(state.caPem),
      Buffer.from(state.keyPem),
      Buffer.from(state.certPem),
    ),
    { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" },
  ) as unknown as grpc.Client & {
    Connect(): grpc.ClientDuplexStream<AgentMessage, CloudMessage>;
  };
  const call = client.Connect();
  const seen: Seen = [];
  let ended = "";
  call.on("data", (m: CloudMessage) => {
    seen.push(m.msg === "allowlist" ? `allowlist v${m.allowlist!.version}` : String(m.msg));
  });
  call.on("error", (e: grpc.ServiceError) => (ended = e.details || e.message));
  call.on("end", () => (ended ||= "end"));
  call.write({
    hello: {
      agentId: state.agentId,
      version: "order-test",
      hostname: "order-test",
      os: "linux/x86_64",
      protocol: PROTOCOL_VERSION,
      allowlistVersion: 0,
    },
  });
  return {
    seen,
    ended: () => ended,
    close() {
      call.on("error", () => {});
      call.cancel();
      client.close();
    },
  };
}

/** A test cloud with an enrolled agent whose site has one device (allowlist version ≥ 1). */
async function siteWithDevice() {
  const tc = await startTestCloud();
  const dir = await Deno.makeTempDir();
  const state = await enrollAgent(tc, dir);
  const agent = await tc.cloud.store.getAgent(state.agentId);
  const tenantId = agent!.tenantId;
  await tc.cloud.store.createDevice({
    tenantId,
    siteId: state.siteId,
    host: "192.0.2.10",
    ports: [554],
  });
  return {
    tc,
    state,
    tenantId,
    async stop() {
      await tc.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("control order: Welcome, CertificatePolicy and the allowlist precede the first OpenData, even when the allowlist read is slow", async () => {
  const site = await siteWithDevice();
  const slow = slowAllowlistStore(
    site.tc.cloud.store,
    () => new Promise((r) => setTimeout(r, 500)),
  );
  const control = await controlOver(site.tc, slow.store);
  const agent = connectAsAgent(site.state, control.port);
  try {
    await until(
      "OpenData on the control stream",
      () => agent.seen.includes("openData") || agent.ended() !== "",
    );
    assertEquals(agent.ended(), "");
    const version = (await site.tc.cloud.store.getAllowlist(site.state.siteId)).version;
    assert(version >= 1, "the device is on the site's allowlist");
    assertEquals(agent.seen, ["welcome", "certificatePolicy", `allowlist v${version}`, "openData"]);
  } finally {
    agent.close();
    await control.close();
    await site.stop();
  }
});

Deno.test("control order: an allowlist change pushed while a Hello is being answered reaches the agent after its first allowlist", async () => {
  const site = await siteWithDevice();
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const slow = slowAllowlistStore(site.tc.cloud.store, () => held);
  const control = await controlOver(site.tc, slow.store);
  const agent = connectAsAgent(site.state, control.port);
  try {
    // The Hello has read the allowlist (version v1) and is held there, not yet welcomed.
    await until("the Hello's allowlist read", () => slow.reads.length > 0 || agent.ended() !== "");
    const v1 = slow.reads[0];
    // An operator adds a device meanwhile; the API pushes the new version to the site's agents.
    await site.tc.cloud.store.createDevice({
      tenantId: site.tenantId,
      siteId: site.state.siteId,
      host: "192.0.2.11",
      ports: [80],
    });
    await control.pushAllowlist(site.state.siteId);
    release();
    const v2 = (await site.tc.cloud.store.getAllowlist(site.state.siteId)).version;
    assert(v2 > v1, "adding a device bumped the allowlist version");
    await until(
      "the newer allowlist",
      () => agent.seen.includes(`allowlist v${v2}`) || agent.ended() !== "",
    );
    assertEquals(agent.ended(), "");
    assertEquals(agent.seen, [
      "welcome",
      "certificatePolicy",
      `allowlist v${v1}`,
      "openData",
      `allowlist v${v2}`,
    ]);
  } finally {
    release();
    agent.close();
    await control.close();
    await site.stop();
  }
});

Deno.test("control: a burst of device changes reaches each agent of the site with two allowlist reads", async () => {
  const site = await siteWithDevice();
  const dir2 = await Deno.makeTempDir();
  const second = await enrollAgent(site.tc, dir2, {
    tenantId: site.tenantId,
    siteId: site.state.siteId,
  });
  // The real store, its allowlist reads counted (not slowed).
  const counting = slowAllowlistStore(site.tc.cloud.store, () => Promise.resolve());
  const control = await controlOver(site.tc, counting.store);
  const agents = [
    connectAsAgent(site.state, control.port),
    connectAsAgent(second, control.port),
  ];
  try {
    await until(
      "both agents' first allowlist",
      () => agents.every((a) => a.seen.some((m) => m.startsWith("allowlist")) || a.ended() !== ""),
    );
    const before = counting.reads.length;
    // An integration adds ten cameras at once, each followed by its push (as the API does).
    await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      await site.tc.cloud.store.createDevice({
        tenantId: site.tenantId,
        siteId: site.state.siteId,
        host: `192.0.2.${20 + i}`,
        ports: [554],
      });
      await control.pushAllowlist(site.state.siteId);
    }));
    const v = (await site.tc.cloud.store.getAllowlist(site.state.siteId)).version;
    await until(
      "the last version on both agents",
      () => agents.every((a) => a.seen.includes(`allowlist v${v}`) || a.ended() !== ""),
    );
    for (const a of agents) assertEquals(a.ended(), "");
    const reads = counting.reads.length - before;
    assert(reads >= 1 && reads <= 2, `${reads} allowlist reads for 10 pushes to 2 agents`);
  } finally {
    for (const a of agents) a.close();
    await control.close();
    await site.stop();
    await Deno.remove(dir2, { recursive: true });
  }
});
