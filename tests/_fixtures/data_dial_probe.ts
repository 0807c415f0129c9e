/**
 * Dials the agent's data connections the way the agent does (`dialDataConnection`), in a process
 * of its own so a test can start it with roots Deno trusts besides the pinned CA (`DENO_CERT`,
 * standing in for a public authority). Reads `{caPem, dials: [{port, serverName?}]}` as JSON on
 * stdin; prints one JSON line per dial: `{ok: true}` or `{ok: false, error}`.
 * @module
 */
import { dialDataConnection } from "../../src/agent/dialer.ts";

interface Probe {
  caPem: string;
  dials: { port: number; serverName?: string }[];
}

const probe = JSON.parse(await new Response(Deno.stdin.readable).text()) as Probe;
for (const d of probe.dials) {
  try {
    const conn = await dialDataConnection(
      {
        route: {
          host: "localhost",
          port: d.port,
          address: { address: "127.0.0.1", family: 4 },
          proxy: null,
        },
        port: d.port,
        caPem: probe.caPem,
        serverName: d.serverName,
      },
      new Uint8Array(16),
      5_000,
    );
    conn.close();
    console.log(JSON.stringify({ ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: (e as Error).message }));
  }
}
