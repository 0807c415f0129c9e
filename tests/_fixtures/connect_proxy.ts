/**
 * An HTTP proxy on loopback, as a company's outbound proxy: CONNECT for HTTPS, and a plain-HTTP
 * request in absolute form forwarded. It asks for Basic credentials when given some (407
 * otherwise), dials the named host:port — on loopback only (403 otherwise) — and passes bytes
 * both ways. It records each target it carried and the credentials each request sent, so a test
 * sees what went through it and how it was asked. It can also divert CONNECTs, as a hostile
 * network path would.
 * @module
 */
import { pipeConns } from "../../src/shared/transport/pipe.ts";
import { readHead, serveConns } from "./conn_server.ts";

/** A running proxy. */
export interface ConnectProxy {
  port: number;
  /** `http://127.0.0.1:port`, with the credentials when the proxy wants them. */
  url: string;
  /** The host:port of each CONNECT it carried, in order. */
  carried: string[];
  /** The `Proxy-Authorization` each CONNECT sent ("" when none), in order, refused ones too. */
  credentials: string[];
  /** How many requests it refused (407, or not CONNECT). */
  refused(): number;
  close(): Promise<void>;
}

/**
 * Starts the proxy; `auth` makes it require `user:password`. `redirect`: a CONNECT to a
 * `host:port` it names goes to that loopback port instead (recorded as asked) — a hostile path,
 * or a server whose name exists only behind the proxy (`mail.example.com:587`), as a company's
 * mail relay does.
 */
export function startConnectProxy(
  auth?: { user: string; password: string },
  redirect: Record<string, number> = {},
): ConnectProxy {
  const carried: string[] = [];
  const credentials: string[] = [];
  let refusals = 0;
  const want = auth ? `Basic ${btoa(`${auth.user}:${auth.password}`)}` : null;
  const answer = async (c: Deno.Conn, text: string) => {
    await c.write(new TextEncoder().encode(text)).catch(() => {});
  };
  const server = serveConns(Deno.listen({ hostname: "127.0.0.1", port: 0 }), async (c, track) => {
    const bytes = await readHead(c);
    if (!/\r\n\r\n$/.test(String.fromCharCode(...bytes.slice(-4)))) return;
    const head = String.fromCharCode(...bytes).split("\r\n");
    // A plain-HTTP request in absolute form (GET http://host:port/path): forwarded, as an HTTP
    // proxy does for http:// URLs, with the request line in origin form and no proxy headers.
    const forward = /^([A-Z]+) http:\/\/(\[[^\]]+\]|[^/:]+):(\d+)(\/\S*) (HTTP\/1\.[01])$/.exec(
      head[0],
    );
    const m = forward
      ? [head[0], forward[2], forward[3]]
      : /^CONNECT (\S+):(\d+) HTTP\/1\.1$/.exec(head[0]);
    if (!m) {
      refusals++;
      return await answer(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
    }
    const diverted = forward ? undefined : redirect[`${m[1]}:${m[2]}`];
    // Loopback only: nothing a test starts may reach beyond this machine through it (a diverted
    // name goes to a loopback port).
    if (diverted === undefined && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(m[1])) {
      refusals++;
      return await answer(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    }
    const given = head.find((l) => /^proxy-authorization:/i.test(l))?.replace(/^[^:]*:\s*/, "");
    credentials.push(given ?? "");
    if (want && given !== want) {
      refusals++;
      return await answer(
        c,
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
      );
    }
    const up = diverted === undefined
      ? await Deno.connect({ hostname: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) })
      : await Deno.connect({ hostname: "127.0.0.1", port: diverted });
    track(up);
    carried.push(`${m[1]}:${m[2]}`);
    if (forward) {
      const fields = head.slice(1).filter((l) => l && !/^proxy-/i.test(l));
      await answer(
        up,
        [`${forward[1]} ${forward[4]} ${forward[5]}`, ...fields, "", ""].join("\r\n"),
      );
    } else {
      await answer(c, "HTTP/1.1 200 Connection established\r\n\r\n");
    }
    await pipeConns(c, up);
  });
  const port = server.port;
  return {
    port,
    url: auth
      ? `http://${encodeURIComponent(auth.user)}:${
        encodeURIComponent(auth.password)
      }@127.0.0.1:${port}`
      : `http://127.0.0.1:${port}`,
    carried,
    credentials,
    refused: () => refusals,
    close: server.close,
  };
}
