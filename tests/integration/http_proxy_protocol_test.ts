// The HTTP port behind a TCP load balancer that sends the PROXY protocol (an AWS NLB's TLS
// listener, HAProxy's `send-proxy-v2`): the balancer speaks from 127.0.0.1, which the cloud
// trusts (--trusted-proxies), and names each client in the connection's first bytes. The named
// client is who the sign-in limits count (one guesser no longer locks every client out), whose
// address a partner key's network pin checks, and whom the audit names — on the routes node:http
// answers, on the native tunnel endpoint and in the browser proxy. Without a header a trusted
// peer is served as before; a health check's LOCAL header names nobody; a malformed header ends
// the connection unanswered; a PROXY line from a peer that is not trusted is a bad request.
import * as net from "node:net";
import type { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { hashPassword } from "../../src/cloud/tenancy/password.ts";
import { V2_SIGNATURE } from "../../src/cloud/access/proxy_protocol.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";

const ADMIN_KEY = "k7P2vQ9xL4mN8rT1wZ6yB3cF5hJ0dG-s";
const PASSWORD = "correct horse battery";
const enc = new TextEncoder();

/** HAProxy's v1 line naming `client` (TCP4). */
const v1 = (client: string) => enc.encode(`PROXY TCP4 ${client} 127.0.0.1 51000 8080\r\n`);

/** A v2 PROXY header (TCP over IPv4 or IPv6) naming `client`, or LOCAL when null. */
function v2(client: string | null): Uint8Array {
  if (client === null) return new Uint8Array([...V2_SIGNATURE, 0x20, 0x00, 0, 0]);
  if (client.includes(":")) {
    // Only the spellings this test uses: "2001:db8::N".
    const last = Number.parseInt(client.split("::")[1], 16);
    const addr = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), last];
    const body = [...addr, ...Array(15).fill(0), 1, 0xc7, 0x38, 0x1f, 0x90];
    return new Uint8Array([...V2_SIGNATURE, 0x21, 0x21, 0, body.length, ...body]);
  }
  const body = [...client.split(".").map(Number), 127, 0, 0, 1, 0xc7, 0x38, 0x1f, 0x90];
  return new Uint8Array([...V2_SIGNATURE, 0x21, 0x11, 0, body.length, ...body]);
}

/** An HTTP/1.1 request; a JSON body when given. */
function request(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const text = body === undefined ? "" : JSON.stringify(body);
  const fields = { host: "cloud.test", ...headers } as Record<string, string>;
  if (body !== undefined) {
    fields["content-type"] = "application/json";
    fields["content-length"] = String(enc.encode(text).length);
  }
  const head = Object.entries(fields).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `${method} ${path} HTTP/1.1\r\n${head}\r\n${text}`;
}

/**
 * Sends `prefix` and `requests` on one connection (the last asks to close it) from `from`
 * (127.0.0.1, the trusted balancer, unless told) and returns every byte the cloud answered
 * until it closed.
 */
function exchange(
  port: number,
  prefix: Uint8Array,
  requests: string[],
  from = "127.0.0.1",
): Promise<string> {
  return new Promise((resolve, reject) => {
    // node:net: Deno.connect cannot choose the source address.
    const sock = net.connect({ host: "127.0.0.1", port, localAddress: from });
    let text = "";
    sock.on("connect", () => {
      const last = requests.length - 1;
      const all = requests.map((r, i) =>
        i === last ? r.replace("\r\n", "\r\nconnection: close\r\n") : r
      ).join("");
      sock.write(new Uint8Array([...prefix, ...enc.encode(all)]));
    });
    sock.on("data", (d: Buffer) => (text += d.toString("latin1")));
    sock.on("error", reject);
    sock.on("close", () => resolve(text));
  });
}

const statuses = (text: string) =>
  [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

Deno.test("HTTP port behind a balancer that sends the PROXY protocol: the named client is the client", async () => {
  const t = await startTestCloud({
    "admin-api-key": ADMIN_KEY,
    "trusted-proxies": "127.0.0.1/32",
  });
  const { cloud, call } = t;
  try {
    const port = Number(new URL(t.base).port);
    const tenant = await cloud.store.createTenant({ name: "alpha" });
    const pw = await hashPassword(PASSWORD);
    for (const email of ["one@a.test", "two@a.test"]) {
      await cloud.store.createUser({ tenantId: tenant.id, email, passwordHash: pw, role: "admin" });
    }
    const nt = mintToken("nt");
    const admin = await cloud.store.createUser({
      tenantId: tenant.id,
      email: "ops@a.test",
      passwordHash: "",
      role: "admin",
    });
    await cloud.store.createApiToken({
      hash: await hashToken(nt),
      tenantId: tenant.id,
      userId: admin.id,
      name: "t",
    });
    const bearer = { authorization: `Bearer ${nt}` };
    const site = await call("POST", "/api/sites", bearer, { name: "HQ" });
    const dev = await call("POST", `/api/sites/${site.json.id}/devices`, bearer, {
      host: "127.0.0.1",
      ports: [80],
    });
    const handle = (dev.json.handles as Record<string, string>)["80"];
    const login = (password: string) =>
      request("POST", "/api/auth/login", {}, { email: "one@a.test", password });

    // 1. Sign-in, answered by node:http: five wrong passwords from one client limit that client
    //    (and that account), not every client behind the balancer.
    const guesses: number[] = [];
    for (let i = 0; i < 5; i++) {
      guesses.push(...statuses(await exchange(port, v1("198.51.100.7"), [login("wrong")])));
    }
    const right = request("POST", "/api/auth/login", {}, {
      email: "two@a.test",
      password: PASSWORD,
    });
    guesses.push(...statuses(await exchange(port, v1("198.51.100.7"), [right])));
    assertEquals(guesses, [401, 401, 401, 401, 401, 429], "the guesser's sixth attempt waits");
    const other = await exchange(port, v2("203.0.113.9"), [right]);
    assertEquals(statuses(other), [200], "another client behind the same balancer signs in");

    // 2. A partner key pinned to a network is checked against the named client; a forwarded
    //    header from that client is not believed (it is not a trusted proxy).
    const pinned = await call("POST", "/api/api-keys", bearer, {
      name: "ndis",
      allowed_cidr: "198.51.100.0/24",
    });
    assertEquals(pinned.status, 201);
    const session = (more: Record<string, string> = {}) =>
      request("POST", "/api/v1/sessions", { "x-api-key": pinned.json.key as string, ...more }, {
        external_operator_id: "op-1",
        operator_display_name: "Ayşe",
        sites: [site.json.id],
      });
    // Two requests on one kept-alive connection: the header counts for both.
    assertEquals(statuses(await exchange(port, v2("198.51.100.20"), [session(), session()])), [
      201,
      201,
    ]);
    assertEquals(statuses(await exchange(port, v1("203.0.113.9"), [session()])), [403]);
    assertEquals(
      statuses(
        await exchange(port, v1("203.0.113.9"), [session({ "x-forwarded-for": "198.51.100.7" })]),
      ),
      [403],
      "X-Forwarded-For from a client is not believed",
    );
    // Without a header the trusted balancer's own forwarded header decides, as before.
    assertEquals(
      statuses(
        await exchange(port, new Uint8Array(), [session({ "x-forwarded-for": "198.51.100.7" })]),
      ),
      [201],
    );

    // 3. The native tunnel endpoint and the browser proxy: a refused credential is audited as
    //    the named client.
    const refused = `nt_${"a".repeat(43)}`;
    const upgrade = await exchange(port, v2("2001:db8::7"), [
      request("GET", `/api/tunnel/${handle}`, {
        authorization: `Bearer ${refused}`,
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      }),
    ]);
    assertEquals(statuses(upgrade), [401], upgrade.slice(0, 300));
    // The browser proxy's own HTTP/1.1 path: a partner key (which opens no device) is checked
    // against its pin first, with the named client.
    const browser = await exchange(port, v1("203.0.113.44"), [
      request("GET", `/c/${handle}/`, { "x-api-key": pinned.json.key as string }),
    ]);
    assertEquals(statuses(browser), [403], browser.slice(0, 300));
    assertMatch(browser, /this API key is not allowed from 203\.0\.113\.44/);
    const actors = (await cloud.store.listAudit({ action: "tunnel.deny", limit: 1000 }))
      .map((e) => e.actor);
    assert(actors.includes("ip:2001:db8::7"), JSON.stringify(actors));
    assert(!actors.includes("ip:127.0.0.1"), "the balancer is not the client");

    // 4. A balancer's health check (LOCAL) names nobody and is answered; so is a request with
    //    no header at all.
    assertEquals(statuses(await exchange(port, v2(null), [request("GET", "/healthz/live", {})])), [
      200,
    ]);
    assertEquals(
      statuses(await exchange(port, new Uint8Array(), [request("GET", "/healthz/live", {})])),
      [
        200,
      ],
    );

    // 5. A malformed header from the balancer ends the connection with no answer; from a peer
    //    that is not a trusted proxy a PROXY line is not believed: node:http's 400.
    assertEquals(
      await exchange(port, enc.encode("PROXY TCP4 nonsense\r\n"), [
        request("GET", "/healthz/live", {}),
      ]),
      "",
    );
    const untrusted = await exchange(
      port,
      v1("198.51.100.7"),
      [session()],
      "127.0.0.2",
    );
    assertMatch(untrusted, /^HTTP\/1\.1 400 /);
  } finally {
    await t.stop();
  }
});
