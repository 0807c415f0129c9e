// The agent as a site service, against the real processes: today's counters survive a killed
// and restarted agent (stats.json) and reach the cloud's live view and hourly table; the
// health endpoint follows the control stream; ONVIF discovery through the control stream with a
// responder that also sends hostile replies; an embedded agent claiming its device by serial;
// control and data legs through an HTTP CONNECT proxy.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_fixtures/assert.ts";
import {
  echoThrough,
  Proc,
  randomBytes,
  run,
  Stack,
  type TunnelRefused,
} from "../_fixtures/stack.ts";
import { onvifResponder } from "../_fixtures/onvif.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";

/** A JSON call to the cloud's API with an `nt_` token. */
async function api(
  stack: Stack,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(stack.url + path, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/** Polls `fn` until it returns a value (deadline 30 s). */
async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string): Promise<T> {
  const end = Date.now() + 30_000;
  while (true) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type AgentRow = { id: string; online: boolean; stats: Record<string, number | string | null> };

Deno.test("stats survive a killed agent; /api/agents and the hourly table agree; health follows the stream", async () => {
  await Stack.withEchoSite(async ({ stack, q, agent, handle }) => {
    // Replace the fixture's agent with one that flushes often and serves health.
    await agent.stop("SIGKILL");
    const state = `${stack.dir}/agent-1`;
    const start = () => {
      const p = new Proc([
        "agent",
        "run",
        "--state",
        state,
        "--log-format",
        "json",
        "--health-listen",
        "127.0.0.1:0",
        "--stats-flush",
        "200ms",
      ]);
      stack.agents.push(p);
      return p;
    };
    let a = start();
    await a.waitFor(/"control stream up"/);
    let health = JSON.parse(await a.waitFor(/"health endpoint listening"/)).port as number;
    const hz = await fetch(`http://127.0.0.1:${health}/healthz`);
    assertEquals(hz.status, 200);
    assertEquals((await hz.json()).controlStream, "up");

    const payload = randomBytes(256 << 10);
    const ws = await stack.openTunnel(handle, q.apiToken);
    assertEquals((await echoThrough(ws, payload)).received.byteLength, payload.byteLength);
    // The cloud's probe names too, and the Prometheus scrape.
    const hr = await fetch(`http://127.0.0.1:${health}/healthz/ready`);
    assertEquals(hr.status, 200);
    assertEquals((await hr.json()).controlStream, "up");
    const scrape = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
    assert(/^connector_agent_control_up 1$/m.test(scrape), scrape);
    assert(/^process_resident_memory_bytes \d+$/m.test(scrape), "RSS in the agent's /metrics");
    const file = `${state}/stats.json`;
    const saved = await until(async () => {
      const s = JSON.parse(await Deno.readTextFile(file));
      return s.bytesUp >= payload.byteLength && s.bytesDown >= payload.byteLength && s;
    }, "stats.json with the tunnel's bytes");
    assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
    assertEquals(saved.tunnelsOpened, 1);

    await a.stop("SIGKILL"); // no clean shutdown: the periodic flush is what survives
    a = start();
    await a.waitFor(/"control stream up"/);
    health = JSON.parse(await a.waitFor(/"health endpoint listening"/)).port as number;
    // A second tunnel after the restart adds to today's totals instead of starting from 0.
    const ws2 = await stack.openTunnel(handle, q.apiToken);
    await echoThrough(ws2, payload);
    const want = saved.bytesUp + payload.byteLength;
    const row = await until(async () => {
      const r = await api(stack, "GET", "/api/agents", q.apiToken);
      const row = (r.json.items as AgentRow[])[0];
      return Number(row.stats.bytesUp) >= want && row;
    }, "the restarted agent's heartbeat with yesterday's plus new bytes");
    assertEquals(row.stats.tunnelsOpened, 2);
    assertEquals(row.stats.day, new Date().toISOString().slice(0, 10));

    // The hourly table holds exactly the day's totals: the restart was not counted twice.
    const hours = await api(stack, "GET", `/api/agents/${row.id}/stats?hours=24`, q.apiToken);
    assertEquals(hours.status, 200);
    const items = hours.json.hours as { bytesUp: number; bytesDown: number; tunnels: number }[];
    assertEquals(items.length, 24);
    assertEquals(items.reduce((n, h) => n + h.bytesUp, 0), row.stats.bytesUp);
    assertEquals(items.reduce((n, h) => n + h.tunnels, 0), 2);
    assertEquals((await api(stack, "GET", "/api/agents/ag-nope/stats", q.apiToken)).status, 404);
    assertEquals(
      (await api(stack, "GET", `/api/agents/${row.id}/stats?hours=0`, q.apiToken)).status,
      400,
    );

    // The cloud goes away: health says why with 503, liveness stays 200.
    await stack.cloud.stop("SIGKILL");
    const down = await until(async () => {
      const r = await fetch(`http://127.0.0.1:${health}/healthz`);
      const body = await r.json();
      return r.status === 503 && body;
    }, "healthz 503");
    assert(typeof down.reason === "string" && down.reason.length > 0, JSON.stringify(down));
    const ready = await fetch(`http://127.0.0.1:${health}/readyz`);
    assertEquals(ready.status, 503);
    await ready.body?.cancel();
    const live = await fetch(`http://127.0.0.1:${health}/livez`);
    assertEquals(live.status, 200);
    await live.body?.cancel();
    for (const [path, status] of [["/healthz/live", 200], ["/healthz/ready", 503]] as const) {
      const r = await fetch(`http://127.0.0.1:${health}${path}`);
      assertEquals(r.status, status, path);
      await r.body?.cancel();
    }

    // A clean stop writes the counters once more.
    await Deno.remove(file);
    assertEquals((await a.stop("SIGTERM")).code, 0);
    assertEquals(JSON.parse(await Deno.readTextFile(file)).tunnelsOpened, 2);
  });
});

Deno.test("discovery: the site's agent probes, hostile replies are ignored, the camera comes back with ports", async () => {
  const cam = await onvifResponder();
  const stack = await Stack.start();
  stack.defer(() => Promise.resolve(cam.close()));
  try {
    const q = await stack.quickstart([9]);
    const site = `/api/sites/${q.siteId}/discovery`;
    const none = await api(stack, "POST", site, q.apiToken, {});
    assertEquals(none.status, 503);
    // A site that never had an agent says so, instead of "agent reconnecting".
    assertEquals(none.json, {
      error: "no_agent_yet",
      message: 'no agent has connected to site "Site 1" yet: install one from the site page',
    });
    const refused = await assertRejects(() =>
      stack.openTunnel(q.device.handles["9"], q.apiToken)
    ) as TunnelRefused;
    assertEquals(refused.status, 503);
    assertStringIncludes(refused.body.message ?? "", 'no agent has connected to site "Site 1" yet');
    assertEquals(stack.cloud.count(/request failed/), 0, "an expected refusal is no error");

    const e = await stack.enroll(q.enrollmentToken);
    const agent = new Proc(
      ["agent", "run", "--state", e.state, "--log-format", "json"],
      { NC_DISCOVERY_TARGETS: `127.0.0.1:${cam.port}` },
    );
    stack.agents.push(agent);
    await agent.waitFor(/"control stream up"/);

    assertEquals((await api(stack, "POST", site, q.apiToken, { timeoutMs: 50 })).status, 400);
    const r = await api(stack, "POST", site, q.apiToken, { timeoutMs: 1000 });
    assertEquals(r.status, 200, JSON.stringify(r.json));
    assertEquals(r.json.devices, [{
      address: "127.0.0.1",
      xaddrs: ["http://192.0.2.40:8000/onvif/device_service"],
      manufacturer: "Acme Cams",
      model: "AC-1000",
      name: "Gate North",
      endpoint: "urn:uuid:cafe0001-0000-4000-8000-000000000001",
      ports: [554, 8000],
      // What each port speaks, ready for POST /api/sites/{id}/devices: the XAddr's port is web.
      protocols: { 554: "rtsp", 8000: "http" },
    }]);
    assert(cam.probes() >= 1);
    assertEquals(cam.lastCopies(), 2, "the probe is sent twice, as SOAP-over-UDP asks");
    // A probe lost on the way (a busy Wi-Fi LAN): the repeat finds the camera.
    cam.loseFirst(true);
    const lost = await api(stack, "POST", site, q.apiToken, { timeoutMs: 1000 });
    assertEquals((lost.json.devices as { name: string }[]).map((d) => d.name), ["Gate North"]);
    cam.loseFirst(false);
    // The agent survived the junk and still serves: a second round works the same.
    const again = await api(stack, "POST", site, q.apiToken, { timeoutMs: 500 });
    assertEquals((again.json.devices as unknown[]).length, 1);
    assertEquals(again.json.dropped, 0);

    // A LAN that answers with more than one result holds (360 endpoints of 5 KiB each: their
    // result would pass the cloud's 1 MiB control message limit and end the agent's stream) gets
    // the first ones and a count of the rest, and the agent stays on line.
    cam.flood(40);
    const flood = await api(stack, "POST", site, q.apiToken, { timeoutMs: 2000 });
    assertEquals(flood.status, 200, JSON.stringify(flood.json).slice(0, 300));
    const kept = (flood.json.devices as unknown[]).length;
    // (UDP on a loaded machine may lose a datagram: at most 361 answered, most of them counted.)
    assert(kept >= 50, `${kept} devices kept`);
    const dropped = Number(flood.json.dropped);
    assert(dropped > 0 && kept + dropped <= 361, `${kept} kept, ${dropped} dropped`);
    assert(JSON.stringify(flood.json.devices).length < 1 << 20);
    assertEquals(agent.count(/"control stream up"/), 1, "the agent's stream never dropped");
    assertEquals(agent.count(/"control stream lost/), 0);
    assertEquals(agent.count(/"level":50/), 0, "no errors logged by the agent");

    // A host that floods the discovery port with replies built to be slow to read (15 MB of
    // them, about 1 ms each): the agent reads up to its budget for the round, counts the rest,
    // and says so; the camera that answered first is there.
    cam.flood(0);
    cam.slow(250);
    const slow = await api(stack, "POST", site, q.apiToken, { timeoutMs: 2000 });
    assertEquals(slow.status, 200, JSON.stringify(slow.json).slice(0, 300));
    assertEquals((slow.json.devices as { name: string }[]).map((d) => d.name), ["Gate North"]);
    const ignored = Number(slow.json.ignored);
    assert(ignored > 0 && ignored < 250, `${ignored} ignored`);
    await agent.waitFor(/ONVIF discovery: more replies than one round reads/);
    assertEquals(agent.count(/"control stream up"/), 1, "the agent's stream never dropped");
    cam.slow(0);

    // Another tenant's site is not found.
    const other = await stack.quickstart([9], "Other");
    assertEquals((await api(stack, "POST", site, other.apiToken, {})).status, 404);
  } finally {
    await stack.stop();
  }
});

Deno.test("claim: an embedded agent claims its pre-registered serial and comes online; unknown and repeated claims are refused and audited", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([9]);
    const serial = "AC1000-2026-000042";
    const add = await api(stack, "POST", `/api/sites/${q.siteId}/devices`, q.apiToken, {
      host: "127.0.0.1",
      ports: [80, 554],
      serial,
    });
    assertEquals(add.status, 201, JSON.stringify(add.json));
    assertEquals(add.json.serial, serial);
    const dup = await api(stack, "POST", `/api/sites/${q.siteId}/devices`, q.apiToken, {
      host: "127.0.0.2",
      ports: [80],
      serial,
    });
    assertEquals(dup.status, 409);
    const pin = String((await api(stack, "GET", "/api/agents/ca")).json.caPin);
    const claim = (s: string, name: string) =>
      run([
        "agent",
        "claim",
        "--cloud",
        stack.url,
        "--serial",
        s,
        "--ca-pin",
        pin,
        "--state",
        `${stack.dir}/${name}`,
      ]);

    const unknown = await claim("NOT-A-SERIAL-1", "cam-x");
    assertEquals(unknown.code, 1);
    assertStringIncludes(unknown.stderr, "403 unknown serial");

    const ok = await claim(serial, "cam-1");
    assertEquals(ok.code, 0, ok.stderr);
    const cam = await stack.runAgent(`${stack.dir}/cam-1`);
    assert(cam.count(/"control stream up"/) === 1);
    const agents = (await api(stack, "GET", "/api/agents", q.apiToken)).json.items as AgentRow[];
    const claimed = agents.find((x) => x.online);
    assert(claimed, "the claimed agent is online in the device's tenant");
    const devices = (await api(stack, "GET", `/api/sites/${q.siteId}/devices`, q.apiToken)).json
      .items as { serial: string | null; claimedAgentId: string | null }[];
    assertEquals(devices.find((d) => d.serial === serial)?.claimedAgentId, claimed.id);

    const again = await claim(serial, "cam-2");
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "409 this serial has already been claimed");

    const audit = await stack.admin<{ entries: { action: string; detail: { reason?: string } }[] }>(
      "audit",
    );
    const actions = audit.entries.map((x) => x.action);
    assert(actions.includes("agent.claim"), actions.join(","));
    assertEquals(
      audit.entries.filter((x) => x.action === "agent.claim.refused").map((x) => x.detail.reason)
        .sort(),
      ["claimed", "unknown"],
    );
  } finally {
    await stack.stop();
  }
});

Deno.test("proxy: with NC_TRUST_ENV=1 the control stream and every data connection go through HTTPS_PROXY; without it the proxy is ignored", async () => {
  await Stack.withEchoSite(async ({ stack, q, agent, handle }) => {
    await agent.stop("SIGKILL");
    const proxy = startConnectProxy();
    stack.defer(proxy.close);
    const state = `${stack.dir}/agent-1`;
    const env = { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: "" };
    // Not trusted: the variables are there but unused.
    const plain = new Proc(["agent", "run", "--state", state, "--log-format", "json"], env);
    stack.agents.push(plain);
    await plain.waitFor(/"control stream up"/);
    assertEquals(proxy.carried, []);
    await plain.stop("SIGKILL");

    const viaProxy = new Proc(["agent", "run", "--state", state, "--log-format", "json"], {
      ...env,
      NC_TRUST_ENV: "1",
      DENO_NO_UPDATE_CHECK: "1",
    });
    stack.agents.push(viaProxy);
    await viaProxy.waitFor(/"control stream up"/);
    const ws = await stack.openTunnel(handle, q.apiToken);
    const data = randomBytes(64 << 10);
    const got = await echoThrough(ws, data);
    assertEquals(got.received.byteLength, data.byteLength, `${got.code} ${got.reason}`);
    assertEquals(proxy.carried, [
      `127.0.0.1:${stack.ports.control}`,
      `127.0.0.1:${stack.ports.data}`,
    ]);
  });
});

Deno.test("agent status after the README's enroll + run: identity, cloud, link, process; no service is not a failure", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const e = await stack.enroll(q.enrollmentToken);
    const agent = await stack.runAgent(e.state);
    const status = await run(["agent", "status", "--state", e.state]);
    assertEquals(status.code, 0, status.stdout + status.stderr);
    assertStringIncludes(status.stdout, "control:  up via node-1 since");
    assertStringIncludes(status.stdout, `cloud:    ${stack.url}`);
    assertStringIncludes(status.stdout, "process:  agent running, pid");
    // The installer's value for "no service manager" is accepted by the CLI too.
    const none = await run(["agent", "status", "--state", e.state, "--manager", "none"]);
    assertEquals(none.code, 0, none.stdout + none.stderr);
    assertStringIncludes(none.stdout, "service:  not installed as a service");
    // The cloud gone: the log and the status say what this machine can check, not only the
    // runtime's "Connection refused (os error 111)".
    await stack.cloud.stop("SIGKILL");
    const line = await agent.waitFor(/control stream cannot connect: /, 30_000);
    assert(/: \S+:\d+ refused the connection: the cloud does not listen there/.test(line), line);
    assertStringIncludes(line, "this machine must be allowed outbound TCP to");
    assertStringIncludes(line, "Connection refused"); // the runtime's reason stays beside it
    const down = await until(async () => {
      const r = await run(["agent", "status", "--state", e.state]);
      return r.stdout.includes("refused the connection") && r;
    }, "agent status with the reason");
    assert(
      /control: +down since .*: \S+:\d+ refused the connection/.test(down.stdout),
      down.stdout,
    );
    await agent.stop();
    const stopped = await run(["agent", "status", "--state", e.state]);
    assertEquals(stopped.code, 3, "not running: exit 3, still no crash");
    assertStringIncludes(stopped.stdout, "no agent process running");
  } finally {
    await stack.stop();
  }
});

Deno.test("an offline agent keeps its last heartbeat: 'Last seen' is a time, not 'never'", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const e = await stack.enroll(q.enrollmentToken);
    const agent = await stack.runAgent(e.state);
    // Wait for a heartbeat (every 5 s) to be recorded: today's stats appear with it.
    let seen: number | null = null;
    for (let i = 0; i < 150 && seen === null; i++) {
      const r = await api(stack, "GET", "/api/agents", q.apiToken);
      const a =
        (r.json.items as { lastHeartbeat: number | null; stats: { day: string | null } }[])[0];
      if (a?.stats.day) seen = a.lastHeartbeat;
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert(seen !== null, "a heartbeat arrived");
    await agent.stop();
    let row: { online: boolean; lastHeartbeat: number | null } | undefined;
    for (let i = 0; i < 100; i++) {
      const r = await api(stack, "GET", "/api/agents", q.apiToken);
      row = (r.json.items as typeof row[])[0];
      if (row && !row.online) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals(row?.online, false);
    assert(row!.lastHeartbeat !== null, "last heartbeat kept");
    const cookie = await stack.signIn(
      ...(await (async () => {
        const u = await stack.addUser(q.tenantId, "viewer");
        return [u.email, u.password] as const;
      })()),
    );
    const html = await (await fetch(`${stack.url}/sites/${q.siteId}`, { headers: { cookie } }))
      .text();
    const cell = /<time datetime="([^"]+)" title="[^"]+">([^<]+)<\/time>/.exec(html);
    assert(cell, "the site page shows a time for the offline agent");
    assertEquals(cell[1], new Date(row!.lastHeartbeat!).toISOString());
    assert(/ago$/.test(cell[2]), cell[2]);
  } finally {
    await stack.stop();
  }
});
