// Two cloud nodes on one store (guide §5): every access path entering on the node that does not
// hold the agent is bridged to the one that does (BridgeTunnel over the internal mTLS listener);
// a killed node's agents come back on the survivor; revocation on one node cuts a tunnel running
// through the other; node and agent certificates are each refused on the other's listener.
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import {
  agentNode,
  agentUpOn,
  ANY_LOOPBACK_PORTS,
  closedPort,
  echoServer,
  echoThrough,
  echoVia,
  Proc,
  randomBytes,
  sha256,
  Stack,
  TEST_ADMIN_KEY,
  TunnelRefused,
} from "../_fixtures/stack.ts";
import { onvifResponder } from "../_fixtures/onvif.ts";
import { ffprobe, startCamera } from "../_fixtures/rtsp.ts";
import { agentOnEach, handshake, metric, twoNodes, whileFrozen } from "../_fixtures/two_nodes.ts";
import { until } from "../_fixtures/until.ts";
import { openStore } from "../../src/cloud/store/open.ts";

/** A tiny HTTP device. */
function httpDevice(): { port: number; close(): Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => new Response(`camera page ${new URL(req.url).pathname}`),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

Deno.test("multinode: WS tunnel (64 MiB), /c/{h}/, RTSP and CLI raw tunnel entering on the node without the agent are bridged", async () => {
  const { n1, n2, stop } = await twoNodes();
  const echo = await echoServer();
  const http = httpDevice();
  const cam = await startCamera();
  n1.defer(echo.close);
  n1.defer(http.close);
  n1.defer(cam.close);
  try {
    const q = await n1.quickstart([echo.port, http.port, cam.port]);
    await n1.agentFor(q); // enrolled on node-1, control stream on node-1
    const wsHandle = q.device.handles[echo.port];
    const httpHandle = q.device.handles[http.port];
    const before = await metric(n2, "connector_interrelay_bridge_bytes_total", '{side="out"}');

    // WebSocket tunnel through node-2 → node-1 → agent → echo: 64 MiB, SHA-256 equal.
    const data = randomBytes(64 << 20);
    const ws = await n2.openTunnel(wsHandle, q.apiToken);
    const r = await echoThrough(ws, data);
    assertEquals(r.received.byteLength, data.byteLength);
    assertEquals(await sha256(r.received), await sha256(data));
    assertEquals([r.code, r.reason], [1000, "device closed the connection"]);
    const after = await metric(n2, "connector_interrelay_bridge_bytes_total", '{side="out"}');
    assert(after - before >= 2 * (64 << 20), `bridge bytes rose by ${after - before}`);
    assert(await metric(n2, "connector_interrelay_bridge_opens_total", '{side="out"}') >= 1);
    assert(await metric(n1, "connector_interrelay_bridge_opens_total", '{side="in"}') >= 1);

    // The browser proxy through node-2.
    const page = await fetch(`${n2.url}/c/${httpHandle}/index.html`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(page.status, 200);
    assertEquals(await page.text(), "camera page /index.html");

    // RTSP through node-2's gateway: ffprobe decodes the camera's H.264.
    const b1 = await metric(n2, "connector_interrelay_bridge_bytes_total", '{side="out"}');
    const camHandle = q.device.handles[cam.port];
    const probe = await ffprobe(
      `rtsp://op:${q.apiToken}@127.0.0.1:${n2.ports.rtsp}/${camHandle}/live/cam1`,
    );
    assertEquals([probe.codec, probe.width], ["h264", 320], probe.stderr);
    assert(await metric(n2, "connector_tunnel_opens_total", '{path="rtsp"}') >= 1);
    assert(await metric(n2, "connector_interrelay_bridge_bytes_total", '{side="out"}') > b1);

    // The CLI raw tunnel (ops_ session) through node-2.
    const session = await n2.cliSession(q);
    const cli = new Proc(["tunnel", "run", "--cloud", n2.url], { NC_TOKEN: session.token });
    n2.defer(() => cli.stop("SIGKILL"));
    const ip = q.device.loopbackIp;
    await cli.waitFor(new RegExp(`listening listen=${ip}:${echo.port}`));
    const b2 = await metric(n2, "connector_interrelay_bridge_bytes_total", '{side="out"}');
    assert(await echoVia(ip, echo.port, 1 << 20), "bytes through the CLI raw tunnel");
    const a2 = await metric(n2, "connector_interrelay_bridge_bytes_total", '{side="out"}');
    assert(a2 - b2 >= 2 << 20, `bridge bytes rose by ${a2 - b2} for the CLI tunnel`);
    assert(await metric(n2, "connector_tunnel_opens_total", '{path="cli"}') >= 1);
    assert(await metric(n2, "connector_tunnel_opens_total", '{path="proxy"}') >= 1);
  } finally {
    await stop();
  }
});

/** Agents in the node-kill test (the figure). */
const KILL_AGENTS = 20;

/** VmRSS of a process in MiB (0 when it is gone). */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

Deno.test(`multinode: kill -9 of the node holding ${KILL_AGENTS} agents: all back on the survivor, tunnels through each work, Relay and presence follow`, async () => {
  const { n1, n2, stop } = await twoNodes();
  const echo = await echoServer();
  n2.defer(echo.close);
  const api = async <T>(path: string, token: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${n1.url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert(res.ok, `${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  try {
    // One site per agent (each with the echo device), so a tunnel goes through every agent.
    const q = await n1.quickstart([echo.port]);
    const sites = [{ siteId: q.siteId, handle: q.device.handles[echo.port] }];
    for (let i = 1; i < KILL_AGENTS; i++) {
      const site = await api<{ id: string }>("/api/sites", q.apiToken, { name: `Site ${i + 1}` });
      const dev = await api<{ handles: Record<string, string> }>(
        `/api/sites/${site.id}/devices`,
        q.apiToken,
        { host: "127.0.0.1", ports: [echo.port] },
      );
      sites.push({ siteId: site.id, handle: dev.handles[echo.port] });
    }
    const states: string[] = [];
    for (let i = 0; i < KILL_AGENTS; i += 5) {
      states.push(
        ...await Promise.all(
          sites.slice(i, i + 5).map(async (s, j) => {
            const token = i + j === 0 ? q.enrollmentToken : (await api<{ token: string }>(
              `/api/sites/${s.siteId}/enrollment-tokens`,
              q.apiToken,
              {},
            )).token;
            const e = await n1.enroll(token, `agent-${i + j + 1}`);
            assertEquals(e.code, 0, e.stderr);
            return e.state;
          }),
        ),
      );
    }
    // Every agent on node-1: node-2 is frozen while they start.
    const endpoints = `127.0.0.1:${n1.ports.control},127.0.0.1:${n2.ports.control}`;
    // 20 Deno processes booting at once on 2 shared cores: a generous functional bound for each
    // agent's "control stream up" (the fixture's default is 20 s).
    const agents = await whileFrozen(
      n2,
      () =>
        Promise.all(
          states.map((s) => n1.runAgent(s, true, { NC_CONTROL_ENDPOINT: endpoints }, 90_000)),
        ),
    );
    assertEquals(agents.filter((a) => agentNode(a) === n1.node).length, KILL_AGENTS);
    const rss = agents.map((a) => rssMiB(a.child.pid));
    console.log(
      `  ${KILL_AGENTS} agent processes: ${rss.reduce((x, y) => x + y, 0).toFixed(0)} MiB RSS ` +
        `in all (${(rss.reduce((x, y) => x + y, 0) / rss.length).toFixed(0)} MiB each)`,
    );

    const killedAt = Date.now();
    await n1.cloud.stop("SIGKILL");
    // The generous functional bound: each agent back within 60 s (the figure is reported).
    const seconds = await Promise.all(
      agents.map(async (a) => ((await agentUpOn(a, n2.node, killedAt, 60_000)) - killedAt) / 1000),
    );
    seconds.sort((a, b) => a - b);
    const pct = (p: number) =>
      seconds[Math.min(seconds.length - 1, Math.ceil(p * seconds.length) - 1)];
    console.log(
      `  failover of ${KILL_AGENTS} agents after kill -9: p50 ${pct(0.5).toFixed(2)} s, ` +
        `p99 ${pct(0.99).toFixed(2)} s, max ${seconds.at(-1)!.toFixed(2)} s`,
    );

    // The survivor's API: every agent's Relay is the survivor. The agent logs "up" at Welcome;
    // its presence is written right after, so poll briefly.
    let relays: (string | null)[] = [];
    await until("every Relay on the survivor", async () => {
      const res = await fetch(`${n2.url}/api/agents?limit=100`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      const body = await res.json();
      relays = ((body.items ?? body.agents ?? body) as { relay: string | null }[]).map((a) =>
        a.relay
      );
      return relays.length === KILL_AGENTS && relays.every((r) => r === n2.node);
    }, 10_000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(relays)}`);
    });
    // The store itself: no unexpired presence lease of any site names the dead node.
    const store = await openStore(n2.store!, n2.dataDir);
    try {
      for (const s of sites) {
        const leases = await store.listPresence(s.siteId);
        assertEquals(leases.map((l) => l.node), [n2.node], `presence of ${s.siteId}`);
      }
    } finally {
      await store.close();
    }

    // A tunnel through every agent, entering the survivor.
    for (let i = 0; i < sites.length; i += 5) {
      await Promise.all(
        sites.slice(i, i + 5).map(async (s) => {
          const data = randomBytes(256 << 10);
          const r = await echoThrough(await n2.openTunnel(s.handle, q.apiToken), data);
          assertEquals(await sha256(r.received), await sha256(data), `through ${s.handle}`);
        }),
      );
    }
  } finally {
    await stop();
  }
});

Deno.test("multinode: revoking an nt_ token on node-1 closes its tunnel running through node-2 within 2 s", async () => {
  const { n1, n2, stop } = await twoNodes();
  const echo = await echoServer();
  n2.defer(echo.close);
  try {
    const q = await n1.quickstart([echo.port]);
    await n1.agentFor(q);
    const made = await fetch(`${n1.url}/api/account/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "short-lived" }),
    });
    assertEquals(made.status, 201);
    const { id, token } = await made.json();
    const got: Uint8Array[] = [];
    const ws = await n2.openTunnel(q.device.handles[echo.port], token, undefined, (m) => {
      got.push(m);
    });
    ws.send(new TextEncoder().encode("ping"));
    await until("echo", () => got.length > 0);
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once(
        "close",
        (code: number, reason: Uint8Array) =>
          resolve({ code, reason: new TextDecoder().decode(reason), at: Date.now() }),
      )
    );
    const revokedAt = Date.now();
    const del = await fetch(`${n1.url}/api/account/tokens/${id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    await del.body?.cancel();
    assert(del.status === 200 || del.status === 204, `revoke: ${del.status}`);
    const c = await closed;
    assertEquals(c.code, 1008);
    assertEquals(c.reason, "credentials revoked");
    assert(c.at - revokedAt <= 2_000, `closed after ${c.at - revokedAt} ms`);
  } finally {
    await stop();
  }
});

/** Tries a TLS handshake with a client certificate; resolves with the error, or null if accepted. */
Deno.test("multinode: an agent certificate on the internal listener and a node certificate on the control listener are refused and audited; bad OPENs answered, the node survives", async () => {
  const { n1, n2, stop } = await twoNodes();
  try {
    const q = await n1.quickstart([9]);
    const e = await n1.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    const read = (p: string) => Deno.readTextFile(p);
    const agentCert = await read(`${e.state}/agent.pem`);
    const agentKey = await read(`${e.state}/agent.key`);
    const internalCa = await read(`${n1.dataDir}/ca/internal-ca.pem`);
    const agentCa = await read(`${n1.dataDir}/ca/agent-ca.pem`);
    const nodeCert = await read(`${n2.dataDir}/tls/node.pem`);
    const nodeKey = await read(`${n2.dataDir}/tls/node.key`);

    // A sibling's node certificate IS accepted on the internal listener (the control case).
    assertEquals(await handshake(n1.ports.internal, nodeCert, nodeKey, internalCa), null);
    // An agent certificate is refused there…
    assert(await handshake(n1.ports.internal, agentCert, agentKey, internalCa) !== null);
    // …and a node certificate is refused on the agents' control listener.
    assert(await handshake(n1.ports.control, nodeCert, nodeKey, agentCa) !== null);

    // A sibling's certificate with bad OPENs: each gets RESULT bad_request (or is dropped) and
    // the node keeps serving without reaching its last-resort handler.
    const frame = (type: number, body: string | Uint8Array) => {
      const payload = typeof body === "string" ? new TextEncoder().encode(body) : body;
      const f = Buffer.alloc(5 + payload.byteLength);
      f[0] = type;
      f.writeUInt32BE(payload.byteLength, 1);
      f.set(payload, 5);
      return f;
    };
    for (
      const bad of [
        frame(1, "{not json"),
        frame(1, JSON.stringify({ v: 1, op: "tunnel", agentId: "x", host: "h", port: 70000 })),
        frame(1, JSON.stringify({ v: 9, op: "format-disk" })),
        frame(3, "data before OPEN"),
        frame(77, "unknown type"),
        Buffer.from([1, 0xff, 0xff, 0xff, 0xff]), // an OPEN of 4 GiB
      ]
    ) {
      const answer = await new Promise<string>((resolve) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port: n1.ports.internal,
          cert: Buffer.from(nodeCert),
          key: Buffer.from(nodeKey),
          ca: [Buffer.from(internalCa)],
          checkServerIdentity: () => undefined,
        });
        let got = "";
        s.on("data", (d: Uint8Array) => (got += new TextDecoder().decode(d)));
        s.once("secureConnect", () => s.write(bad));
        s.on("error", () => {});
        s.once("close", () => resolve(got));
        setTimeout(() => s.destroy(), 12_000);
      });
      assert(answer === "" || answer.includes('"code":"bad_request"'), answer);
    }
    const live = await fetch(`${n1.url}/healthz/live`);
    assertEquals(live.status, 200);
    await live.body?.cancel();
    assertEquals(n1.cloud.count(/survived/), 0, "a bridge handler let an error escape");

    await until("audit of the refusals", async () => {
      const audit = await n1.admin<{ entries: { action: string }[] }>("audit", "--limit", "50");
      const actions = audit.entries.map((x) => x.action);
      return actions.includes("internal.reject_certificate") &&
        actions.includes("control.reject_certificate");
    }, 10_000);
  } finally {
    await stop();
  }
});

Deno.test("multinode: allowlist pushes, discovery and agent revoke reach an agent on the other node; an unreachable owner is 503 and a counted bridge failure", async () => {
  const { n1, n2, stop } = await twoNodes();
  const echo = await echoServer();
  const cam = await onvifResponder();
  n2.defer(echo.close);
  n2.defer(() => Promise.resolve(cam.close()));
  try {
    const q = await n1.quickstart([9]);
    const e = await n1.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    // The agent lives on node-2 only.
    const agent = new Proc(
      [
        "agent",
        "run",
        "--state",
        e.state,
        "--log-format",
        "json",
        "--control-endpoint",
        `127.0.0.1:${n2.ports.control}`,
      ],
      { NC_DISCOVERY_TARGETS: `127.0.0.1:${cam.port}` },
    );
    n2.agents.push(agent);
    await agent.waitFor(
      /"control stream up".*"node":"node-2"|"node":"node-2".*"control stream up"/,
    );
    const api = (n: Stack, method: string, path: string, body?: unknown) =>
      fetch(n.url + path, {
        method,
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    // A device added on node-1 reaches the agent on node-2 (its allowlist), so a tunnel entering
    // node-1 is bridged to node-2 and the agent dials it.
    const add = await api(n1, "POST", `/api/sites/${q.siteId}/devices`, {
      host: "127.0.0.1",
      ports: [echo.port],
    });
    assertEquals(add.status, 201);
    const dev = await add.json();
    const handle = dev.handles?.[echo.port] ?? dev.handles?.[String(echo.port)] ??
      dev.ports?.find?.((p: { port: number }) => p.port === echo.port)?.handle;
    assert(typeof handle === "string", JSON.stringify(dev));
    await until("the new allowlist on the agent", async () => {
      try {
        const ws = await n1.openTunnel(handle, q.apiToken);
        const r = await echoThrough(ws, new TextEncoder().encode("hello"));
        return new TextDecoder().decode(r.received) === "hello";
      } catch (err) {
        if (err instanceof TunnelRefused && err.status === 403) return false;
        throw err;
      }
    }, 10_000);

    // ONVIF discovery asked on node-1 runs on the agent held by node-2.
    const disc = await api(n1, "POST", `/api/sites/${q.siteId}/discovery`, { timeoutMs: 1000 });
    assertEquals(disc.status, 200);
    assertEquals((await disc.json()).devices.length, 1);
    // A site of many cameras: their result (hundreds of KiB) crosses the bridge whole.
    cam.flood(20);
    const many = await api(n1, "POST", `/api/sites/${q.siteId}/discovery`, { timeoutMs: 1500 });
    const manyBody = await many.json();
    assertEquals(many.status, 200, JSON.stringify(manyBody).slice(0, 300));
    assert(manyBody.devices.length >= 50, `${manyBody.devices.length} devices through the bridge`);
    assert(manyBody.devices.length + manyBody.dropped <= 181);
    cam.flood(0);

    // Revoking the agent on node-1 cuts its stream on node-2.
    const agents = await (await api(n1, "GET", "/api/agents")).json();
    const agentId = (agents.items ?? agents)[0].id;
    const rev = await api(n1, "POST", `/api/agents/${agentId}/revoke`);
    await rev.body?.cancel();
    assertEquals(rev.status, 200);
    await agent.waitFor(/control stream (lost|refused)/, 5_000);

    // Another agent on node-1 only; node-1 killed: presence still names it (lease), node-2
    // cannot reach node-1's internal listener → 503 "agent reconnecting", failure counted.
    const t2 = await n1.enrollmentToken(q);
    const e2 = await n1.enroll(t2, "agent-b");
    await n1.runAgent(e2.state);
    const failures = await metric(n2, "connector_interrelay_bridge_failures_total");
    await n1.cloud.stop("SIGKILL");
    const refused = await n2.openTunnel(handle, q.apiToken).then(
      () => null,
      (err) => err as TunnelRefused,
    );
    assert(refused instanceof TunnelRefused, "tunnel refused");
    assertEquals(refused.status, 503);
    assertEquals(refused.body, { error: "agent_offline", message: "agent reconnecting" });
    assertEquals(await metric(n2, "connector_interrelay_bridge_failures_total"), failures + 1);
  } finally {
    await stop();
  }
});

Deno.test("multinode: /metrics and /healthz on a separate listener without credentials, on the HTTP port only with the admin key", async () => {
  const n = await Stack.start({ cloudArgs: ["--metrics", "127.0.0.1:0"] });
  try {
    assert(n.ports.metrics, "metrics port announced");
    const base = `http://127.0.0.1:${n.ports.metrics}`;
    const m = await fetch(`${base}/metrics`);
    assertEquals(m.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await m.text();
    for (
      const name of [
        "connector_agents_connected",
        "connector_tunnels_open",
        "connector_tunnel_opens_total",
        "connector_tunnel_bytes_total",
        "connector_interrelay_bridges_open",
        "connector_interrelay_bridge_opens_total",
        "connector_interrelay_bridge_bytes_total",
        "connector_interrelay_bridge_failures_total",
        "connector_data_windows_grown_total",
        "connector_mongo_health_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
      ]
    ) assert(text.includes(`# TYPE ${name} `), `${name} in /metrics`);
    assertEquals((await fetch(`${base}/healthz/live`).then((r) => r.json())).status, "ok");
    const ready = await fetch(`${base}/healthz/ready`);
    assertEquals(ready.status, 200);
    await ready.body?.cancel();
    const open = await fetch(`${n.url}/metrics`);
    assertEquals(open.status, 401);
    assertEquals((await open.json()).message, "authentication required");
    assertEquals(await metric(n, "connector_agents_connected"), 0);
    // Certificates: the CAs' remaining life, and once an agent is enrolled, its certificate's
    // (30 days by default; the gauge is re-read every 10 s).
    const day = 86_400;
    assert(await metric(n, "connector_ca_expiry_seconds", '{ca="agent"}') > 3_000 * day);
    assert(await metric(n, "connector_ca_expiry_seconds", '{ca="internal"}') > 3_000 * day);
    await n.agentFor(await n.quickstart([9]));
    let soonest = NaN;
    for (let i = 0; i < 150 && !(soonest > 0); i++) {
      soonest = await metric(n, "connector_agent_cert_expiry_seconds").catch(() => NaN);
      if (!(soonest > 0)) await new Promise((r) => setTimeout(r, 200));
    }
    assert(soonest > 29 * day && soonest <= 30 * day, `agent certificate expiry ${soonest} s`);
  } finally {
    await n.stop();
  }
});

Deno.test("multinode: sticky-with-failover across nodes: the pinned agent on the other node is used over a local one until it goes away", async () => {
  const { n1, n2, stop } = await twoNodes();
  const echo = await echoServer();
  n2.defer(echo.close);
  try {
    const q = await n1.quickstart([echo.port]);
    const handle = q.device.handles[echo.port];
    const a = await n1.agentFor(q); // agent A on node-1
    const ping = async (n: Stack) => {
      const ws = await n.openTunnel(handle, q.apiToken);
      const r = await echoThrough(ws, new TextEncoder().encode("ping"));
      assertEquals(new TextDecoder().decode(r.received), "ping");
    };
    await ping(n1); // pins the handle to A
    const t = await n1.enrollmentToken(q);
    const e = await n1.enroll(t, "agent-b");
    assertEquals(e.code, 0, e.stderr);
    await n2.runAgent(e.state, true, { NC_CONTROL_ENDPOINT: `127.0.0.1:${n2.ports.control}` });

    // Entering node-2, which holds B: the handle stays on A, over the bridge.
    const opens = () => metric(n2, "connector_interrelay_bridge_opens_total", '{side="out"}');
    const before = await opens();
    await ping(n2);
    assertEquals(await opens(), before + 1);

    // A goes away: node-2 fails over to its own B, no bridge.
    await a.stop("SIGKILL");
    await until("A's presence gone", async () => {
      const res = await fetch(`${n2.url}/api/agents`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      const body = await res.json();
      const list = (body.items ?? body) as { relay: string | null }[];
      return list.filter((x) => x.relay !== null).length === 1;
    });
    await ping(n2);
    assertEquals(await opens(), before + 1);
  } finally {
    await stop();
  }
});

/** Resident memory of a process in bytes (Linux). */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

Deno.test("multinode: backpressure across the bridge: a stalled operator on node-2 stalls the device behind node-1, neither node buffers", async () => {
  const { n1, n2, stop } = await twoNodes();
  const total = 256 << 20;
  let written = 0;
  const chunk = new Uint8Array(64 << 10).fill(42);
  const camera = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await camera.accept();
    try {
      while (written < total) {
        written += await conn.write(chunk.subarray(0, Math.min(chunk.byteLength, total - written)));
      }
    } catch { /* the test ended early */ }
    conn.close();
  })();
  n1.defer(async () => {
    camera.close();
    await serving;
  });
  try {
    const port = (camera.addr as Deno.NetAddr).port;
    const q = await n1.quickstart([port]);
    await n1.agentFor(q);
    let received = 0;
    const ws = await n2.openTunnel(
      q.device.handles[port],
      q.apiToken,
      undefined,
      (m) => (received += m.byteLength),
    );
    ws.pause(); // the operator stops reading
    const closed = new Promise<string>((r) =>
      ws.on(
        "close",
        (code: number, why: Uint8Array) => r(`${code} ${new TextDecoder().decode(why)}`),
      )
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const base = { n1: await rss(n1.cloud.child.pid), n2: await rss(n2.cloud.child.pid) };
    const stalledAt = written;
    await new Promise((r) => setTimeout(r, 2_000));
    assert(written < 64 << 20, `the camera kept writing while nobody read: ${written} bytes`);
    assert(written - stalledAt < 8 << 20, `not stalled: ${written - stalledAt} more bytes`);
    const g1 = (await rss(n1.cloud.child.pid)) - base.n1;
    const g2 = (await rss(n2.cloud.child.pid)) - base.n2;
    assert(g1 < 32 << 20, `node-1 grew by ${g1} bytes`);
    assert(g2 < 32 << 20, `node-2 grew by ${g2} bytes`);
    ws.resume();
    assertEquals(await closed, "1000 device closed the connection");
    assertEquals(received, total);
  } finally {
    await stop();
  }
});

Deno.test("multinode: a node given only its node certificate (admin node-cert) and the internal CA certificate, no CA key, bridges both ways", async () => {
  const { n1, n2, stop } = await twoNodes({ internalCaKey: false });
  try {
    // node-2's host holds no internal CA key; its node key is 0600; its certificate is node-1's work.
    const missing = await Deno.stat(`${n2.dataDir}/ca/internal-ca.key`).then(
      () => false,
      () => true,
    );
    assert(missing, "no internal CA key on node-2");
    assertEquals((await Deno.stat(`${n2.dataDir}/tls/node.key`)).mode! & 0o777, 0o600);
    const issued = await n1.admin<{ entries: { action: string; target: string }[] }>(
      "audit",
      "--action",
      "node.cert.issue",
    );
    assertEquals(issued.entries.map((e) => e.target), ["node-2"]);
    const { bridgesWork } = await agentOnEach(n1, n2);
    await bridgesWork("with node-2 on an issued certificate");
    // Without a certificate for its name, the key-less node refuses to start and says what to do.
    const text = await refusedStart("node-3", n2.dataDir, n2.store!);
    assert(text.includes("admin node-cert --node node-3 --out DIR"), text);

    // A node started on the cloud's store with a data directory of its own and none of the
    // shared files refuses too, before making any: it names each missing file and the copy.
    const fresh = await Deno.makeTempDir({ prefix: "nc-join-" });
    try {
      const joining = await refusedStart("node-4", fresh, n1.store!);
      assert(/node "node-[12]" already belongs to this cloud \(same store/.test(joining), joining);
      for (const f of ["ca/agent-ca.pem", "ca/agent-ca.key", "ca/internal-ca.pem"]) {
        assert(joining.includes(`\n  ${fresh}/${f}\n`), joining);
      }
      assert(joining.includes(`scp -p '<host of node-`), joining);
      assertEquals(
        (await Array.fromAsync(Deno.readDir(fresh))).map((e) => e.name).filter((n) =>
          n !== "connector.db" && !n.startsWith("connector.db-")
        ),
        [],
        "no CA, secret or certificate made",
      );
    } finally {
      await Deno.remove(fresh, { recursive: true });
    }
  } finally {
    await stop();
  }
});

/**
 * Starts `connector cloud` as `node` on `dataDir` and `store`; it must refuse, exiting non-zero
 * on its own within 60 s (a node that starts instead is stopped and fails the test): its output.
 */
async function refusedStart(node: string, dataDir: string, store: string): Promise<string> {
  const cloud = new Proc(
    ["cloud", "--node", node, "--data-dir", dataDir, ...ANY_LOOPBACK_PORTS],
    { NC_STORE: store, NC_ADMIN_API_KEY: TEST_ADMIN_KEY },
  );
  let started = false;
  const timer = setTimeout(() => {
    started = true;
    cloud.stop("SIGKILL");
  }, 60_000);
  const status = await cloud.ended().finally(() => clearTimeout(timer));
  const text = cloud.lines.join("\n");
  assert(!started, `it started instead of refusing:\n${text}`);
  assert(status.code !== 0, text);
  return text;
}

Deno.test("multinode: an agent whose data port is blocked, opened through the other node: 502 agent_data_unreachable with why; the other node's /api/agents shows it", async () => {
  // node-1 advertises a data port nothing listens on: its agents' data dials are refused.
  const blocked = closedPort();
  const { n1, n2, stop } = await twoNodes({ n1Args: ["--data-public-port", String(blocked)] });
  const echo = await echoServer();
  n1.defer(echo.close);
  try {
    const q = await n1.quickstart([echo.port]);
    await n1.agentFor(q); // control stream on node-1
    // Entering node-2, bridged to node-1, which waits for a data connection that cannot come.
    const refused = await n2.openTunnel(q.device.handles[echo.port], q.apiToken).then(
      () => null,
      (e: unknown) => e,
    );
    assert(refused instanceof TunnelRefused, String(refused));
    assertEquals([refused.status, refused.body.error], [502, "agent_data_unreachable"]);
    assert(refused.body.message?.includes(`127.0.0.1:${blocked}: `), refused.body.message);
    // node-2 reads node-1's presence from the shared store.
    await until("node-2's /api/agents shows the blocked data channel", async () => {
      const r = await fetch(`${n2.url}/api/agents`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      }).then((x) => x.json());
      const a = r.items[0] as { online: boolean; relay: string; dataBlocked: string | null };
      return a.online && a.relay === "node-1" && !!a.dataBlocked?.includes(`:${blocked}: `);
    });
  } finally {
    await stop();
  }
});
