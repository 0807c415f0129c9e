/**
 * The operator's tunnel CLI (`connector tunnel`, shipped as `nanodems-tunnel`):
 * `open HANDLE` listens on a loopback port and carries each accepted TCP connection over the
 * cloud's raw WebSocket tunnel `/api/tunnel/{handle}`, so any TCP tool (ssh, an SDK, a player)
 * reaches the device as if on its LAN. It listens on loopback only, never on the LAN.
 * @module
 */
import { type OptionSpec, parseFlags, renderOptions, UsageError } from "../shared/cli.ts";
import { createLogger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { pipeWebSocket } from "../shared/transport/websocket.ts";
// @ts-types="@types/ws"
import WebSocket from "ws";

const openOptions: Record<string, OptionSpec> = {
  cloud: { type: "string", env: "NC_CLOUD_URL", arg: "URL", help: "The cloud's URL (required)" },
  token: { type: "string", env: "NC_TOKEN", arg: "TOKEN", help: "Your API token nt_… (required)" },
  listen: {
    type: "string",
    env: "NC_LISTEN",
    arg: "HOST:PORT",
    default: "127.0.0.1:0",
    help: "Local loopback address to listen on",
  },
};

const HELP = `connector tunnel — reach a device port from this machine (shipped as nanodems-tunnel)

Usage:
  connector tunnel open HANDLE --cloud URL --token nt_… [--listen 127.0.0.1:PORT]

Opens a listener on this machine's loopback and carries every connection to it through the cloud
and the site's agent to the device port named by HANDLE (h-…; each device port has one, shown by
'connector cloud admin device list'). Point ssh, a vendor SDK or any TCP tool at the address it
prints. Stop with Ctrl+C.

Options:
${renderOptions(openOptions)}

Example:
  connector tunnel open h-RkN3Lzm9TgD8e2Bp7Q1xWA --cloud https://cloud.example.com \\
      --token "$NC_TOKEN" --listen 127.0.0.1:2222
  ssh -p 2222 admin@127.0.0.1
`;

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Asks the cloud whether this token may open this handle, for a clear error up front. */
async function preflight(cloud: URL, handle: string, token: string): Promise<void> {
  const res = await fetch(new URL(`/api/tunnel/${encodeURIComponent(handle)}`, cloud), {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  }).catch((e) => {
    throw new UsageError(`cannot reach the cloud at ${cloud.origin}: ${(e as Error).message}`);
  });
  const body = await res.json().catch(() => ({})) as { message?: string };
  if (res.status === 426) return;
  throw new UsageError(`the cloud refused: ${res.status} ${body.message ?? res.statusText}`);
}

/** Entry point of `connector tunnel`. */
export async function tunnelMain(argv: string[]): Promise<number> {
  const sub = argv[0];
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") return (console.log(HELP), 0);
  if (sub === "--version" || sub === "-V") return (console.log(`nanodems-tunnel ${VERSION}`), 0);
  if (sub !== "open") {
    throw new UsageError(`unknown tunnel command "${sub}" (see connector tunnel --help)`);
  }
  const { values, positionals } = parseFlags(argv.slice(1), openOptions);
  if (values.help) return (console.log(HELP), 0);
  if (values.version) return (console.log(`nanodems-tunnel ${VERSION}`), 0);
  const handle = positionals[0];
  if (!handle || !/^h-[A-Za-z0-9_-]{12,22}$/.test(handle)) {
    throw new UsageError("HANDLE is required: the device port's handle, h-…");
  }
  if (!values.cloud) throw new UsageError("--cloud is required");
  if (!values.token) throw new UsageError("--token is required (or NC_TOKEN)");
  let cloud: URL;
  try {
    cloud = new URL(values.cloud as string);
  } catch {
    throw new UsageError(`--cloud: expected a URL, got "${values.cloud}"`);
  }
  const token = values.token as string;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec((values.listen as string) ?? "127.0.0.1:0");
  if (!m) throw new UsageError("--listen: expected HOST:PORT");
  const host = m[1] ?? m[2];
  if (!isLoopback(host)) {
    throw new UsageError("--listen: only loopback addresses (127.x, ::1) are allowed");
  }
  await preflight(cloud, handle, token);

  const log = createLogger({ role: "tunnel" });
  const wsUrl = new URL(`/api/tunnel/${handle}`, cloud);
  wsUrl.protocol = cloud.protocol === "https:" ? "wss:" : "ws:";
  const serve = (conn: Deno.TcpConn) => {
    conn.setNoDelay(true);
    const drop = () => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Uint8Array) => (body += new TextDecoder().decode(c)));
      res.on("end", () => {
        let message = body;
        try {
          message = JSON.parse(body).message ?? body;
        } catch { /* not JSON */ }
        log.warn({ handle, status: res.statusCode, reason: message }, "tunnel refused");
        drop();
      });
    });
    ws.on("error", (e) => {
      log.warn({ handle, err: e.message }, "tunnel could not be opened");
      drop();
    });
    ws.on("open", () => {
      pipeWebSocket(ws, conn, { socketEnd: "eof" }).then((r) => {
        log.info(
          { up: r.wsToSocket, down: r.socketToWs, reason: r.closeReason || undefined },
          "connection closed",
        );
      });
    });
  };
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: host, port: Number(m[3]) });
  } catch (e) {
    throw new UsageError(`--listen ${host}:${m[3]}: ${(e as Error).message}`);
  }
  const port = (listener.addr as Deno.NetAddr).port;
  console.error(`listening on ${host}:${port} → ${handle} via ${cloud.origin}`);
  console.log(JSON.stringify({ listen: `${host}:${port}`, handle }));
  (async () => {
    for await (const conn of listener) serve(conn);
  })().catch(() => {});
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  listener.close();
  return 0;
}
