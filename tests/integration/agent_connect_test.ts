// How the agent reaches the cloud: Happy Eyeballs over every address of the control host (one
// black-holed: it accepts TCP and never speaks TLS) and an HTTP CONNECT proxy with Basic auth
// that records what it carried. Real agent supervisor, real in-process cloud, loopback only.
import * as net from "node:net";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { enrollAgent, startTestCloud } from "../_fixtures/cloud.ts";
import { createLogger } from "../../src/shared/log.ts";
import { saveState } from "../../src/agent/state.ts";
import { supervise, type Supervisor } from "../../src/agent/supervisor.ts";
import { parseProxyUrl } from "../../src/shared/transport/proxy.ts";
import { until } from "../_fixtures/until.ts";
import { startConnectProxy } from "../_fixtures/connect_proxy.ts";

const log = createLogger({ role: "test", level: "silent" });

Deno.test("Happy Eyeballs: the black-holed IPv6 address loses, the agent connects via 127.0.0.1", async () => {
  const tc = await startTestCloud({ "control-hostnames": "cloud.test,127.0.0.1" });
  const dir = await Deno.makeTempDir();
  const held: net.Socket[] = [];
  // Same port as the real control listener, on ::1: accepts, never answers the ClientHello.
  const hole = net.createServer((s) => held.push(s.on("error", () => {})));
  let sup: Supervisor | undefined;
  try {
    const state = await enrollAgent(tc, dir);
    const port = tc.cloud.ports.control;
    await new Promise<void>((r) => hole.listen(port, "::1", () => r()));
    state.controlEndpoint = `cloud.test:${port}`;
    await saveState(dir, state);
    const asked: string[] = [];
    sup = supervise({
      state,
      stateDir: dir,
      log,
      resolver: (host) => {
        asked.push(host);
        return Promise.resolve([
          { address: "127.0.0.1", family: 4 },
          { address: "::1", family: 6 },
        ]);
      },
    });
    await until("control stream up", () => sup!.state === "connected", 20_000, 25);
    assertEquals(sup.route?.address?.address, "127.0.0.1");
    assertEquals(asked, ["cloud.test"]);
    assert(held.length >= 1, "IPv6 was tried first and reached the black hole");
    assertEquals(tc.cloud.registry.all().map((s) => s.agentId), [state.agentId]);
  } finally {
    await sup?.stop();
    for (const s of held) s.destroy();
    hole.close();
    await tc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("proxy: the control stream goes through HTTP CONNECT with Basic auth from the URL", async () => {
  const tc = await startTestCloud();
  const dir = await Deno.makeTempDir();
  const proxy = startConnectProxy({ user: "scott", password: "tiger" });
  let sup: Supervisor | undefined;
  try {
    const state = await enrollAgent(tc, dir);
    sup = supervise({
      state,
      log,
      proxy: parseProxyUrl(`http://scott:tiger@127.0.0.1:${proxy.port}`),
    });
    await until(
      "control stream up through the proxy",
      () => sup!.state === "connected",
      20_000,
      25,
    );
    assertEquals(sup.route?.proxy?.port, proxy.port);
    assertEquals(proxy.carried[0], tc.cloud.controlEndpoint);
    assertEquals(proxy.credentials[0], "Basic " + btoa("scott:tiger"));
  } finally {
    await sup?.stop();
    await proxy.close();
    await tc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
