/**
 * `nanodems-tunnel ssh DEVICE`: the browser terminal's session from a terminal on the operator's
 * machine — the cloud logs in to the device with the credentials it holds (the operator never
 * learns them), checks the pinned host key, applies the tenant's limits and records the session,
 * exactly as for the browser. This side only carries keystrokes, window sizes and output over
 * the terminal WebSocket (shared/protocol/terminal.ts). DEVICE is a handle (h-…, with an API
 * token) or, with a CLI session, a device's loopback address (127.0.0.X[:port], port 22 by
 * default) or its name from the session's plan.
 * @module
 */
import { UsageError } from "../shared/cli.ts";
import { type ServerMessage, TERMINAL_PROTOCOL } from "../shared/protocol/terminal.ts";
import { connectWebSocket, dialFor } from "../shared/transport/ws_connect.ts";
import { failureWords, maskFree, wsUrl } from "./connect.ts";
import { fetchPlan } from "./plan.ts";
import { extraCaCerts } from "./trust.ts";

/** Where the terminal WebSocket goes for a DEVICE argument. */
export async function terminalPath(cloud: URL, token: string, device: string): Promise<string> {
  if (/^h-[A-Za-z0-9_-]{12,22}$/.test(device)) return `/api/terminal/${device}`;
  if (!token.startsWith("ops_")) {
    throw new UsageError(
      "DEVICE must be a handle (h-…) with an API token; use a CLI session " +
        "token (ops_…) to name a device by loopback address or name",
    );
  }
  const ip = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::(\d{1,5}))?$/.exec(device);
  if (ip) return `/api/cli/terminal/${ip[1]}/${ip[2] ?? 22}`;
  const plan = await fetchPlan(cloud, token);
  const ports = plan.entries.filter((e) => e.device === device || e.deviceId === device);
  if (!ports.length) throw new UsageError(`no device "${device}" in this CLI session`);
  const pick = ports.find((e) => e.port === 22) ?? (ports.length === 1 ? ports[0] : null);
  if (!pick) {
    throw new UsageError(
      `"${device}" has no port 22; name the port: ${
        ports.map((e) => `${e.ip}:${e.port}`).join(", ")
      }`,
    );
  }
  return `/api/cli/terminal/${pick.ip}/${pick.port}`;
}

function size(): { cols: number; rows: number } {
  try {
    const s = Deno.consoleSize();
    return { cols: Math.max(2, s.columns), rows: Math.max(1, s.rows) };
  } catch {
    return { cols: 80, rows: 24 };
  }
}

/** Reads one line from the raw terminal, echoing it unless `secret`. */
async function readLine(secret: boolean): Promise<string> {
  const buf = new Uint8Array(1);
  let out = "";
  const dec = new TextDecoder();
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null) return out;
    const ch = dec.decode(buf.subarray(0, n), { stream: true });
    if (ch === "\r" || ch === "\n") break;
    if (ch === "\u0003") throw new UsageError("login cancelled");
    if (ch === "\u007f") {
      if (out) {
        out = out.slice(0, -1);
        if (!secret) await Deno.stderr.write(new TextEncoder().encode("\b \b"));
      }
      continue;
    }
    out += ch;
    if (!secret) await Deno.stderr.write(new TextEncoder().encode(ch));
  }
  await Deno.stderr.write(new TextEncoder().encode("\r\n"));
  return out;
}

/** Runs the session; returns the exit code (0 when the shell ended, 1 on a refusal, 3 revoked). */
export async function sshSession(cloud: URL, token: string, path: string): Promise<number> {
  const tty = Deno.stdin.isTerminal();
  const err = (s: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${s}\r\n`));
  const enc = new TextEncoder();
  // The same WebSocket client as the tunnels (ws_native.ts on a Deno connection): the same
  // proxy (HTTPS_PROXY) and the same trust (--ca-file).
  const url = wsUrl(cloud, path);
  const dial = () => dialFor(url, extraCaCerts);
  const opened = await connectWebSocket(
    url,
    { authorization: `Bearer ${token}`, "sec-websocket-protocol": TERMINAL_PROTOCOL },
    maskFree(url),
    async () => ({ conn: await dial(), reused: false }),
    undefined,
    dial,
  );
  if (!opened.ok) {
    if (opened.status === 0) {
      err(`error: cannot reach the cloud at ${cloud.origin}: ${failureWords(opened)}`);
      return 1;
    }
    err(`error: the cloud refused: ${opened.status} ${opened.message}`);
    return opened.status === 401 ? 3 : 1;
  }
  const ws = opened.ws;
  return await new Promise<number>((resolve) => {
    let code = 0;
    let stopInput = false;
    const send = (m: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(enc.encode(JSON.stringify(m)), { binary: false });
    };
    const onResize = () => send({ type: "resize", ...size() });
    const finish = (c: number) => {
      stopInput = true;
      if (tty) {
        try {
          Deno.stdin.setRaw(false);
          Deno.removeSignalListener("SIGWINCH", onResize);
        } catch { /* not a terminal any more */ }
      }
      resolve(c);
    };
    ws.on("error", (e: Error) => {
      err(`error: the connection to the cloud failed: ${e.message}`);
      code = 1;
    });
    send({ type: "hello", ...size() });
    // Keystrokes flow once the shell is up (before that, stdin is the login prompt's).
    let inputStarted = false;
    const startInput = async () => {
      if (inputStarted) return;
      inputStarted = true;
      if (tty) {
        Deno.stdin.setRaw(true);
        Deno.addSignalListener("SIGWINCH", onResize);
      }
      const buf = new Uint8Array(4096);
      const dec = new TextDecoder();
      while (!stopInput) {
        const n = await Deno.stdin.read(buf).catch(() => null);
        if (n === null) break;
        send({ type: "input", data: dec.decode(buf.subarray(0, n), { stream: true }) });
      }
    };
    ws.on("message", (data: Uint8Array, binary: boolean) => {
      if (binary) return void Deno.stdout.writeSync(new Uint8Array(data));
      const m = JSON.parse(new TextDecoder().decode(data)) as ServerMessage;
      if (m.type === "status" || m.type === "warning") {
        err(`[${m.message}]`);
        if (m.type === "status" && m.message.startsWith("connected")) startInput();
      } else if (m.type === "end") {
        err(`[${m.message}]`);
        code = m.error === "revoked" ? 3 : m.error ? 1 : 0;
      } else if (m.type === "prompt") {
        if (!tty) {
          err("error: the device asks for more than the cloud holds, and there is no terminal");
          ws.close();
          code = 1;
          return;
        }
        (async () => {
          Deno.stdin.setRaw(true);
          for (const line of [m.name, m.instructions]) if (line) err(line);
          const answers: string[] = [];
          for (const p of m.prompts) {
            await Deno.stderr.write(enc.encode(p.prompt));
            answers.push(await readLine(!p.echo));
          }
          send({ type: "answers", answers });
        })().catch(() => void ws.close());
      } else if (m.type === "login") {
        err(m.message);
        if (!tty) {
          err("error: the cloud holds no credentials and there is no terminal to ask for them");
          ws.close();
          code = 1;
          return;
        }
        (async () => {
          Deno.stdin.setRaw(true);
          await Deno.stderr.write(enc.encode("user: "));
          const username = await readLine(false);
          await Deno.stderr.write(enc.encode("password: "));
          const password = await readLine(true);
          send({ type: "login", username, password });
        })().catch(() => void ws.close());
      }
    });
    ws.on("close", () => finish(code));
  });
}
