/**
 * A SOCKS5 proxy on loopback (RFC 1928, with RFC 1929 user/password when given credentials), for
 * what `ssh -D` does not show: credentials, refusals and the request's address types. It connects
 * only to loopback targets (reply 2, "not allowed", otherwise), records each CONNECT it received
 * as `type host:port`, and passes bytes both ways.
 * @module
 */
import { pipeConns } from "../../src/shared/transport/pipe.ts";
import { serveConns } from "./conn_server.ts";
import { readExactly } from "../../src/shared/transport/read_exactly.ts";

/** A running proxy. */
export interface SocksProxy {
  port: number;
  /** `socks5://[user:password@]127.0.0.1:port`. */
  url: string;
  /** Each CONNECT request: `name host:port`, `ipv4 a.b.c.d:port` or `ipv6 [addr]:port`. */
  requests: string[];
  close(): Promise<void>;
}

async function readN(c: Deno.Conn, n: number): Promise<Uint8Array> {
  const got = await readExactly(c, n);
  if (!got) throw new Error("closed");
  return got;
}

/** Starts the proxy; `auth` makes it require user/password. */
export function startSocksProxy(auth?: { user: string; password: string }): SocksProxy {
  const requests: string[] = [];
  const text = new TextDecoder();
  const server = serveConns(Deno.listen({ hostname: "127.0.0.1", port: 0 }), async (c, track) => {
    const send = (bytes: number[]) => c.write(new Uint8Array(bytes));
    const [, n] = await readN(c, 2);
    const methods = [...await readN(c, n)];
    const want = auth ? 2 : 0;
    if (!methods.includes(want)) return void await send([5, 0xff]);
    await send([5, want]);
    if (auth) {
      const [, ul] = await readN(c, 2);
      const user = text.decode(await readN(c, ul));
      const [pl] = await readN(c, 1);
      const password = text.decode(await readN(c, pl));
      const ok = user === auth.user && password === auth.password;
      await send([1, ok ? 0 : 1]);
      if (!ok) return;
    }
    const [, cmd, , type] = await readN(c, 4);
    let host: string;
    let shown: string;
    if (type === 1) {
      host = [...await readN(c, 4)].join(".");
      shown = `ipv4 ${host}`;
    } else if (type === 4) {
      const b = await readN(c, 16);
      const groups = [];
      for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
      host = groups.join(":");
      shown = `ipv6 [${host}]`;
    } else {
      const [len] = await readN(c, 1);
      host = text.decode(await readN(c, len));
      shown = `name ${host}`;
    }
    const [hi, lo] = await readN(c, 2);
    const target = (hi << 8) | lo;
    requests.push(`${shown}:${target}`);
    const reply = (code: number) => send([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    if (cmd !== 1) return void await reply(7);
    // Loopback only: nothing a test starts may reach beyond this machine through it.
    if (!/^(127\.\d+\.\d+\.\d+|localhost|0:0:0:0:0:0:0:1)$/.test(host)) {
      return void await reply(2);
    }
    let up: Deno.TcpConn;
    try {
      up = await Deno.connect({
        hostname: host === "0:0:0:0:0:0:0:1" ? "::1" : host,
        port: target,
      });
    } catch {
      return void await reply(5);
    }
    track(up);
    await reply(0);
    await pipeConns(c, up);
  });
  const port = server.port;
  return {
    port,
    url: auth
      ? `socks5://${encodeURIComponent(auth.user)}:${
        encodeURIComponent(auth.password)
      }@127.0.0.1:${port}`
      : `socks5://127.0.0.1:${port}`,
    requests,
    close: server.close,
  };
}
