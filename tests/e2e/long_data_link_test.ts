/**
 * An agent a real network away from its node, with the real processes: the cloud's data port is
 * reached only through a link with a 40 ms round trip (`delay_link.ts`), which the cloud
 * advertises with `--data-public-port` as it would behind a NAT or a port mapping. The agent
 * dials the advertised port, a tunnel carries 16 MiB each way intact, and the stream windows grew
 * on both ends (control protocol 3; README "Kept: windows that grow over a long link"): the
 * cloud's for the download, the agent's for the upload, as each one's /metrics counts them.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { delayProxy } from "../_fixtures/delay_link.ts";
import { echoServer, echoThrough, randomBytes, sha256, Stack } from "../_fixtures/stack.ts";
import { metric } from "../_fixtures/two_nodes.ts";

/** One sample of `name` from the agent's /metrics (its health endpoint). */
async function agentMetric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

Deno.test("long data link: the agent dials --data-public-port; 16 MiB each way arrive whole and windows grow on both ends", async () => {
  let dataPort = 0;
  const link = delayProxy(() => dataPort, 20);
  const stack = await Stack.start({ cloudArgs: ["--data-public-port", String(link.port)] });
  dataPort = stack.ports.data;
  stack.defer(() => Promise.resolve(link.close()));
  try {
    const ready = JSON.parse(stack.cloud.lines.find((l) => l.includes('"cloud ready"'))!);
    assertEquals(ready.dataPublicPort, link.port);
    const echo = await echoServer();
    stack.defer(echo.close);
    const q = await stack.quickstart([echo.port]);
    const { agent, health } = await stack.agentWithHealth(q);
    const data = randomBytes(16 << 20);
    const ws = await stack.openTunnel(q.device.handles[echo.port], q.apiToken);
    const out = await echoThrough(ws, data);
    assertEquals(out.received.byteLength, data.byteLength);
    assertEquals(await sha256(out.received), await sha256(data));
    // Every data connection went through the link: the agent dialed the advertised port.
    assert(link.accepted >= 1, "the agent dialed the advertised data port");
    // And none went around it: no socket of the agent's reaches the real data port.
    const direct = await new Deno.Command("ss", {
      args: ["-Htnp", "state", "established", `( dport = :${stack.ports.data} )`],
      stdout: "piped",
    }).output();
    const lines = new TextDecoder().decode(direct.stdout).split("\n").filter(Boolean);
    assert(lines.length >= 1, "the proxy's connections reach the data port");
    assertEquals(lines.filter((l) => l.includes(`pid=${agent.child.pid},`)), []);
    assert(await metric(stack, "connector_data_windows_grown_total") >= 1, "cloud windows grew");
    assert(
      await agentMetric(health, "connector_agent_data_windows_grown_total") >= 1,
      "agent windows grew",
    );
  } finally {
    await stack.stop();
  }
});
