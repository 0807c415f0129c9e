/**
 * The soak's operations, each what a real client does, with what it must see checked: a
 * WebSocket tunnel carrying random bytes to the echo device (SHA-256 compared), a proxied GET of
 * `/c/{h}/data/N` with a bearer token (body compared), an RTSP session through the gateway
 * (ffprobe decodes H.264 frames, or a raw OPTIONS against the fake device), an API token created,
 * used for a tunnel and revoked (the tunnel must close with "credentials revoked" and the token
 * must then be refused), another tenant's handle (must be refused with the guide's wording), a
 * CLI session running `connector tunnel run` (bytes through its loopback listener, then revoked:
 * the CLI must exit with code 3), and an agent restart (SIGTERM or SIGKILL, then up again).
 * A failure while the tenant's agent is being restarted counts as an expected refusal.
 * @module
 */
import { echoThrough, Proc, randomBytes, sha256, TunnelRefused } from "../_fixtures/stack.ts";
import { ffprobe, rtspExchange } from "../_fixtures/rtsp.ts";
import type { Ledger, Outcome } from "./outcomes.ts";
import type { Rng } from "./rng.ts";
import { dataBody } from "./targets.ts";
import { api, startAgent, type Tenant, type World } from "./world.ts";

/** What every operation gets. */
export interface OpContext {
  world: World;
  ledger: Ledger;
  rng: Rng;
  /** Tunnels, RTSP sessions and CLI sessions the harness holds open right now. */
  live: { n: number };
}

/** How long after an agent is back up a failure still counts as caused by the restart. */
export const RESTART_GRACE_MS = 5_000;
/** The functional bound on one operation (generous: the machine is shared and loaded). */
export const OP_TIMEOUT_MS = 90_000;

/** Thrown by a check: the operation did not see what a user must see. */
class Unexpected extends Error {}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Unexpected(what);
}

function restartOverlaps(t: Tenant, start: number, end: number): boolean {
  return t.restarts.some((w) => w.from <= end && w.to + RESTART_GRACE_MS >= start);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Unexpected(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs one operation for tenant `t` and records its outcome: what `fn` returns, or — when it
 * throws — unexpected, unless `t`'s agent was restarting meanwhile (then an expected refusal).
 */
async function record(
  ctx: OpContext,
  op: string,
  t: Tenant,
  fn: () => Promise<Outcome>,
): Promise<void> {
  const start = Date.now();
  try {
    const outcome = await withTimeout(fn(), OP_TIMEOUT_MS, op);
    ctx.ledger.add(op, t.name, outcome);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    if (restartOverlaps(t, start, Date.now())) ctx.ledger.add(op, t.name, "refused", detail);
    else ctx.ledger.add(op, t.name, "unexpected", detail);
  }
}

async function held<T>(ctx: OpContext, fn: () => Promise<T>): Promise<T> {
  ctx.live.n++;
  try {
    return await fn();
  } finally {
    ctx.live.n--;
  }
}

/** A WebSocket tunnel to the echo device: random bytes there and back, SHA-256 compared. */
export function tunnelEcho(ctx: OpContext, t: Tenant): Promise<void> {
  const size = ctx.rng.int(1 << 10, 512 << 10);
  return record(ctx, "tunnel", t, async () => {
    const data = randomBytes(size);
    const ws = await ctx.world.stack.openTunnel(t.handles.echo, t.q.apiToken);
    const r = await held(ctx, () => echoThrough(ws, data, 16 << 10));
    check(
      r.received.byteLength === size && (await sha256(r.received)) === (await sha256(data)),
      `echoed ${r.received.byteLength} of ${size} bytes or different bytes (close ${r.code} ${r.reason})`,
    );
    return "ok";
  });
}

/** A proxied GET `/c/{h}/data/N` with the tenant's bearer token; the body must be exact. */
export function proxyGet(ctx: OpContext, t: Tenant): Promise<void> {
  const n = ctx.rng.int(100, 256 << 10);
  return record(ctx, "proxy", t, async () => {
    const res = await fetch(`${ctx.world.stack.url}/c/${t.handles.http}/data/${n}`, {
      headers: { authorization: `Bearer ${t.q.apiToken}` },
    });
    const body = await res.text();
    check(res.status === 200, `status ${res.status}: ${body.slice(0, 200)}`);
    check(body === dataBody(n), `body of ${body.length} bytes differs from the device's ${n}`);
    return "ok";
  });
}

/** An RTSP session through the gateway with a token as the Basic password. */
export function rtspSession(ctx: OpContext, t: Tenant): Promise<void> {
  const { stack, targets } = ctx.world;
  return record(ctx, "rtsp", t, () =>
    held(ctx, async (): Promise<Outcome> => {
      const path = `/${t.handles.rtsp}${targets.rtsp.path}`;
      if (targets.rtsp.real) {
        const url = `rtsp://soak:${t.q.apiToken}@127.0.0.1:${stack.ports.rtsp}${path}`;
        const p = await ffprobe(url);
        check(
          p.codec === "h264",
          `ffprobe exit ${p.code}, codec ${p.codec}: ${p.stderr.trim().slice(-300)}`,
        );
      } else {
        const auth = btoa(`soak:${t.q.apiToken}`);
        const url = `rtsp://127.0.0.1:${stack.ports.rtsp}${path}`;
        const [r] = await rtspExchange(stack.ports.rtsp, [
          `OPTIONS ${url} RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Basic ${auth}\r\n\r\n`,
        ]);
        check(r?.status === 200, `OPTIONS answered ${r?.status} ${r?.reason}`);
      }
      return "ok";
    }));
}

/**
 * Token lifecycle: create an API token, open a tunnel with it and echo a little, revoke the token:
 * the open tunnel must close with 1008 "credentials revoked", and the token must then be refused
 * (401), counted as the expected refusal of "revoked-token".
 */
export async function tokenRevoke(ctx: OpContext, t: Tenant): Promise<void> {
  const { stack } = ctx.world;
  let revoked: string | undefined;
  await record(ctx, "revoke", t, async () => {
    const created = await api(stack, t.q.apiToken, "POST", "/api/account/tokens", {
      name: `soak-${crypto.randomUUID().slice(0, 8)}`,
    });
    check(created.status === 201 || created.status === 200, `token create ${created.status}`);
    const token = String(created.body.token);
    let echoed = 0;
    const ws = await stack.openTunnel(t.handles.echo, token, undefined, (m) => {
      echoed += m.byteLength;
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: String(reason) }))
    );
    await held(ctx, async () => {
      ws.send(new Uint8Array(1024));
      for (let i = 0; i < 600 && echoed < 1024 && ws.readyState === ws.OPEN; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      check(echoed === 1024, `echoed ${echoed} of 1024 bytes before the revocation`);
      const del = await api(
        stack,
        t.q.apiToken,
        "DELETE",
        `/api/account/tokens/${created.body.id}`,
      );
      check(del.status < 300, `token revoke answered ${del.status}`);
      const c = await withTimeout(closed, 30_000, "tunnel close after revocation");
      check(
        c.code === 1008 && c.reason === "credentials revoked",
        `tunnel closed with ${c.code} "${c.reason}"`,
      );
    });
    revoked = token;
    return "ok";
  });
  if (revoked === undefined) return;
  const token = revoked;
  await record(ctx, "revoked-token", t, async () => {
    try {
      const again = await stack.openTunnel(t.handles.echo, token);
      again.terminate();
      throw new Unexpected("a revoked token opened a tunnel");
    } catch (e) {
      if (!(e instanceof TunnelRefused)) throw e;
      check(e.status === 401, `revoked token refused with ${e.status} ${e.body.message}`);
    }
    return "refused";
  });
}

/** Another tenant's token on this tenant's handles: tunnel and proxy must say 403. */
export function crossTenant(ctx: OpContext, t: Tenant, other: Tenant): Promise<void> {
  const { stack } = ctx.world;
  return record(ctx, "cross-tenant", t, async () => {
    try {
      const ws = await stack.openTunnel(t.handles.echo, other.q.apiToken);
      ws.terminate();
      throw new Unexpected("another tenant's token opened a tunnel");
    } catch (e) {
      if (!(e instanceof TunnelRefused)) throw e;
      check(
        e.status === 403 && e.body.message === "handle does not belong to your tenant",
        `tunnel refused with ${e.status} ${e.body.message}`,
      );
    }
    const res = await fetch(`${stack.url}/c/${t.handles.http}/data/10`, {
      headers: { authorization: `Bearer ${other.q.apiToken}` },
    });
    const text = await res.text();
    check(res.status === 403, `proxy answered ${res.status}: ${text.slice(0, 200)}`);
    return "refused";
  });
}

/** Sends `size` random bytes to host:port, half-closes, and checks the echo. */
async function echoTcp(host: string, port: number, size: number): Promise<void> {
  const data = randomBytes(size);
  const conn = await Deno.connect({ hostname: host, port });
  try {
    const [, got] = await Promise.all([
      (async () => {
        const w = conn.writable.getWriter();
        await w.write(data);
        await conn.closeWrite();
      })(),
      new Response(conn.readable).bytes(),
    ]);
    check(
      got.byteLength === size && (await sha256(got)) === (await sha256(data)),
      `CLI tunnel echoed ${got.byteLength} of ${size} bytes or different bytes`,
    );
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/**
 * A CLI session: `POST /api/cli/sessions`, `connector tunnel run` with the token in NC_TOKEN
 * (never on the command line), bytes through its listener on the device's loopback address, then
 * `DELETE` the session: the CLI must exit with code 3.
 */
export function cliSession(ctx: OpContext, t: Tenant): Promise<void> {
  const { stack, targets } = ctx.world;
  return record(ctx, "cli", t, async () => {
    const s = await api(stack, t.q.apiToken, "POST", "/api/cli/sessions", {
      siteIds: [t.q.siteId],
    });
    check(s.status === 201 || s.status === 200, `CLI session create ${s.status}`);
    const cli = new Proc(["tunnel", "run", "--cloud", stack.url, "--refresh", "5s"], {
      NC_TOKEN: String(s.body.token),
    });
    try {
      await held(ctx, async () => {
        const ip = t.q.device.loopbackIp;
        await cli.waitFor(new RegExp(`listening listen=${ip}:${targets.echo.port}\\b`), 60_000);
        await echoTcp(ip, targets.echo.port, ctx.rng.int(1 << 10, 256 << 10));
      });
      const del = await api(stack, t.q.apiToken, "DELETE", `/api/cli/sessions/${s.body.id}`);
      check(del.status < 300, `CLI session revoke answered ${del.status}`);
      const st = await withTimeout(cli.exited, 60_000, "CLI exit after revocation");
      check(st.code === 3, `CLI exited with ${st.code}, not 3`);
      return "ok";
    } finally {
      await cli.stop("SIGKILL");
    }
  });
}

/** Restarts `t`'s agent with `signal` and waits until its control stream is up again. */
export async function agentRestart(
  ctx: OpContext,
  t: Tenant,
  signal: "SIGTERM" | "SIGKILL",
): Promise<void> {
  const window = { from: Date.now(), to: Infinity };
  t.restarts.push(window);
  try {
    await t.agent.stop(signal);
    t.agent = await startAgent(ctx.world.stack, t.state);
    ctx.ledger.add(`restart ${signal}`, t.name, "ok");
  } catch (e) {
    ctx.ledger.add(`restart ${signal}`, t.name, "unexpected", String(e));
  } finally {
    window.to = Date.now();
  }
}
