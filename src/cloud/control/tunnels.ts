/**
 * The tunnel broker: turns "open (host, port) via agent X" into a byte stream with backpressure.
 * Each agent keeps a small pool of multiplexed data connections to this node
 * (`shared/transport/mux_session.ts`); the broker asks for them (OpenData with a one-time ticket
 * on the agent's control stream), binds the connection that presents the ticket, and opens a
 * tunnel as one OPEN frame on the least loaded connection, preferring one that carries no bulk.
 * The pool starts with one connection at Hello, grows by one per STREAMS_PER_CONN open tunnels
 * and whenever every connection carries bulk (up to MAX_CONNS), and a lost connection is
 * replaced while the agent's control stream is up. Connections belong to the control stream
 * whose ticket they presented: when that stream ends, or a new one of the same agent says Hello
 * (a restarted agent process), they are retired and the agent is asked for a fresh one, so an
 * open never goes to a connection of a process that is gone. An open whose connection dies
 * before the agent answered it (`mux_session.ts` probes a silent one at the first open) is placed
 * again within its deadline. Policy (auth, tenancy, allowlist) was decided before the broker is
 * called; after it returns, only bytes flow.
 * @module
 */
import { AppError, CATALOGUE } from "../../shared/errors.ts";
import { encodeBase64Url } from "../../shared/encoding.ts";
import {
  GROWING_WINDOWS_PROTOCOL,
  TICKET_SIZE,
  TICKET_TTL_MS,
} from "../../shared/protocol/wire.ts";
import type { TunnelResult } from "../../shared/protocol/control.ts";
import {
  type ByteStream,
  MuxSession,
  type MuxStream,
  StreamError,
  streamsBeside,
} from "../../shared/transport/mux_session.ts";
import type { Logger } from "../../shared/log.ts";
import type { Registry } from "./registry.ts";
import { windowsGrown } from "../cloud_metrics.ts";

/** Open tunnels per data connection before the pool grows. */
export const STREAMS_PER_CONN = 64;
/** Most data connections one agent keeps to one node. */
export const MAX_CONNS = 4;
/** How many connections one open is tried on (a connection may die before it answers). */
const MAX_OPEN_ATTEMPTS = 3;

/** An open tunnel's byte stream and identity. */
export interface OpenedTunnel {
  tunnelId: string;
  agentId: string;
  /**
   * The tunnel's bytes: read/write/closeWrite/close, reads only when asked — a stream on the
   * agent's data connection, or (multi-node) a BridgeTunnel to the node that holds the agent.
   */
  socket: ByteStream;
  /** Tells the broker the tunnel ended (the caller closed the stream). */
  done(): void;
}

/** Maps an agent's refusal code to the operator-facing error. */
export function tunnelError(r: Pick<TunnelResult, "code" | "error">): AppError {
  switch (r.code) {
    case "target_not_allowed":
      return new AppError("target_not_allowed");
    case "dial_timeout":
      return new AppError("device_timeout", `device did not answer: ${r.error}`);
    case "error":
      return new AppError("agent_offline");
    default:
      return new AppError("device_unreachable", `device unreachable: ${r.error}`);
  }
}

interface Waiter {
  resolve: (c: MuxSession) => void;
  reject: (e: AppError) => void;
}

/** One agent's data connections on this node. */
interface Pool {
  /** A request for a connection scheduled after a failed dial (see REDIAL_FIRST_MS), or null. */
  redial: ReturnType<typeof setTimeout> | null;
  /** The wait before the next such request. */
  redialMs: number;
  conns: Set<MuxSession>;
  /** Tickets sent and not yet presented. */
  pending: number;
  waiters: Set<Waiter>;
  /** The agent's control stream ended: no replacements until it is back. */
  draining: boolean;
  /**
   * Connections from before the control stream ended: they carry their live tunnels to the end
   * and then close, but take no new tunnel (they may have died with the stream).
   */
  retired: Set<MuxSession>;
}

/**
 * An agent left with no data connection after a failed dial (its ticket expired, or it said it
 * could not dial) is asked again by the node after this, doubling up to REDIAL_MAX_MS: it gets
 * its idle connection back without waiting for an operator's open, and a site that fixed its
 * firewall sees "data channel blocked" clear by itself.
 */
export const REDIAL_FIRST_MS = 15_000;
/** The longest wait between two such requests. */
export const REDIAL_MAX_MS = 600_000;

/** Opens tunnels through connected agents over their pooled data connections. */
export class TunnelBroker {
  #registry: Registry;
  #timeoutMs: number;
  #log: Logger | undefined;
  #maxConns: number;
  #streamsPerConn: number;
  #tickets = new Map<string, { agentId: string; timer: ReturnType<typeof setTimeout> }>();
  #pools = new Map<string, Pool>();
  #live = new Map<string, { agentId: string; stream: MuxStream }>();
  #seq = 0;
  #openProbeMs: number | undefined;
  #ticketTtlMs: number;
  #onDataBound: ((agentId: string) => void) | undefined;
  #redialMs: number;

  /**
   * Creates a broker over the node's registry; `timeoutMs` bounds each open, `maxConns` and
   * `streamsPerConn` shape each agent's pool (defaults MAX_CONNS, STREAMS_PER_CONN),
   * `openProbeMs` how soon a silent connection is probed after an open (default OPEN_PROBE_MS),
   * `ticketTtlMs` how long an agent has to dial with a ticket (default TICKET_TTL_MS).
   */
  constructor(
    registry: Registry,
    opts: {
      timeoutMs: number;
      log?: Logger;
      maxConns?: number;
      streamsPerConn?: number;
      openProbeMs?: number;
      ticketTtlMs?: number;
      /** A data connection of the agent was bound (its data channel works). */
      onDataBound?: (agentId: string) => void;
      /** The first wait before asking again after a failed dial (default REDIAL_FIRST_MS). */
      redialMs?: number;
    },
  ) {
    this.#registry = registry;
    this.#timeoutMs = opts.timeoutMs;
    this.#log = opts.log;
    this.#maxConns = opts.maxConns ?? MAX_CONNS;
    this.#streamsPerConn = opts.streamsPerConn ?? STREAMS_PER_CONN;
    this.#openProbeMs = opts.openProbeMs;
    this.#ticketTtlMs = opts.ticketTtlMs ?? TICKET_TTL_MS;
    this.#onDataBound = opts.onDataBound;
    this.#redialMs = opts.redialMs ?? REDIAL_FIRST_MS;
  }

  /** Asks the agent to open (host, port); resolves with the tunnel's stream. */
  async open(agentId: string, host: string, port: number): Promise<OpenedTunnel> {
    if (!this.#registry.get(agentId)) throw new AppError("agent_offline");
    // Not AbortSignal.timeout: its timer (and the signal) would outlive every open by the whole
    // timeout; this one is cleared as soon as the open is answered.
    const abort = new AbortController();
    const deadline = abort.signal;
    const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
    try {
      return await this.#open(agentId, host, port, deadline);
    } finally {
      clearTimeout(timer);
    }
  }

  /** `open` within `deadline`. */
  async #open(
    agentId: string,
    host: string,
    port: number,
    deadline: AbortSignal,
  ): Promise<OpenedTunnel> {
    let stream: MuxStream | null = null;
    // A connection that dies before the agent answered (it never saw the open, or its process
    // is gone) is no answer: the open goes to another connection while the deadline allows.
    for (let attempt = 0; !stream; attempt++) {
      const conn = await this.#connFor(agentId, deadline);
      let s: MuxStream;
      try {
        s = conn.openStream(host, port);
      } catch (e) {
        if (e instanceof StreamError && attempt < MAX_OPEN_ATTEMPTS - 1) continue;
        throw e instanceof StreamError ? tunnelError({ code: e.code, error: e.message }) : e;
      }
      const onAbort = () => s.close();
      deadline.addEventListener("abort", onAbort);
      try {
        await s.opened;
        stream = s;
      } catch (e) {
        if (deadline.aborted) throw new AppError("device_timeout");
        const se = e as StreamError;
        if (se.lost && attempt < MAX_OPEN_ATTEMPTS - 1) {
          this.#log?.info({ agent: agentId, reason: se.message }, "open placed again");
          continue;
        }
        throw tunnelError({ code: se.code, error: se.message });
      } finally {
        deadline.removeEventListener("abort", onAbort);
      }
    }
    const tunnelId = `tn-${(++this.#seq).toString(36)}-${stream.id}`;
    this.#live.set(tunnelId, { agentId, stream });
    return {
      tunnelId,
      agentId,
      socket: stream,
      done: () => {
        this.#live.delete(tunnelId);
      },
    };
  }

  /**
   * The agent's control stream is up (Hello accepted): connections and tickets from an earlier
   * stream are retired (that stream's end may not have been seen yet — a newer stream replaces
   * an older one at once — and the process behind them may be gone), and the agent is asked for
   * a fresh connection on this stream.
   */
  agentConnected(agentId: string): void {
    const pool = this.#pool(agentId);
    this.#retire(agentId, pool);
    pool.draining = false;
    this.#cancelRedial(pool);
    pool.redialMs = this.#redialMs;
    this.#request(agentId);
  }

  /**
   * Binds a data connection presenting `ticket` (sent to exactly one agent on its control
   * stream) as one more connection of that agent's pool. Returns false (the caller closes the
   * connection) when the ticket is unknown, used or expired.
   */
  bindData(ticket: Uint8Array, conn: ByteStream): boolean {
    const key = encodeBase64Url(ticket);
    const t = this.#tickets.get(key);
    if (!t) return false;
    this.#tickets.delete(key);
    clearTimeout(t.timer);
    const pool = this.#pool(t.agentId);
    pool.pending = Math.max(0, pool.pending - 1);
    const agentId = t.agentId;
    const opened = Date.now();
    const session = new MuxSession(conn, {
      role: "cloud",
      openProbeMs: this.#openProbeMs,
      // Windows grow toward an agent whose mux knows they may (protocol 3, wire.ts).
      growWindows: (this.#registry.get(agentId)?.protocol ?? 0) >= GROWING_WINDOWS_PROTOCOL,
      onWindowGrown: () => windowsGrown.inc(),
      // A tunnel is alone (a bigger window over a short link) only on all of the agent's.
      streamsElsewhere: (): number => streamsBeside(session, pool.conns, pool.retired),
      // Bulk on every connection: have a quiet one ready for the next tunnel.
      onBusy: () => this.#grow(agentId),
      // The agent's control stream left this node: its last tunnel here ending ends this too.
      onIdle: () => {
        if (pool.retired.has(session)) queueMicrotask(() => session.close("agent gone"));
      },
      onClose: (reason) => {
        pool.retired.delete(session);
        if (!pool.conns.delete(session)) return; // retired: no replacement
        if (this.#pools.get(agentId) !== pool) return;
        // A protocol violation is the agent misbehaving (or compromised): worth a warning.
        const level = reason.startsWith("protocol error") ? "warn" : "info";
        this.#log?.[level]({ agent: agentId, reason }, "agent data connection closed");
        // Replace a lost connection while the agent is here (not in a tight loop).
        if (!pool.draining && this.#registry.get(agentId) && pool.conns.size === 0) {
          const wait = Date.now() - opened < 1_000 ? 1_000 : 0;
          setTimeout(() => {
            if (this.#pools.get(agentId) !== pool || pool.draining) return;
            if (pool.conns.size + pool.pending === 0) this.#request(agentId);
          }, wait);
        }
      },
    });
    pool.conns.add(session);
    this.#log?.debug({ agent: agentId, conns: pool.conns.size }, "agent data connection bound");
    this.#cancelRedial(pool);
    pool.redialMs = this.#redialMs;
    this.#onDataBound?.(agentId);
    for (const w of [...pool.waiters]) {
      pool.waiters.delete(w);
      w.resolve(session);
    }
    return true;
  }

  /**
   * The agent could not dial the data connection for `ticket` (after its own retries; `reason`
   * says what it met): the ticket is dropped, and when no other connection is up or on its way,
   * the opens waiting for one fail now with that reason instead of at their deadline. A ticket
   * this agent was not given is ignored.
   */
  dataDialFailed(agentId: string, ticket: Uint8Array, reason: string): void {
    const key = encodeBase64Url(ticket);
    const t = this.#tickets.get(key);
    if (!t || t.agentId !== agentId) return;
    this.#tickets.delete(key);
    clearTimeout(t.timer);
    const pool = this.#pools.get(agentId);
    if (!pool) return;
    pool.pending = Math.max(0, pool.pending - 1);
    if (pool.pending > 0 || [...pool.conns].some((c) => !c.closed)) return;
    this.#scheduleRedial(agentId, pool);
    this.#failWaiters(pool, dataUnreachable(reason));
  }

  /** The agent's control stream ended: fail waiting opens; live tunnels keep flowing. */
  agentGone(agentId: string): void {
    const pool = this.#pools.get(agentId);
    if (!pool) return;
    this.#cancelRedial(pool);
    this.#failWaiters(pool, new AppError("agent_offline"));
    this.#retire(agentId, pool);
    pool.draining = true;
  }

  /**
   * Ends a control stream's hold on the pool: its tickets are dropped (the next stream gets
   * fresh ones) and its connections take no new tunnel — idle ones close, busy ones carry their
   * tunnels to the end.
   */
  #retire(agentId: string, pool: Pool): void {
    this.#dropTickets(agentId);
    pool.pending = 0;
    for (const c of [...pool.conns]) {
      pool.conns.delete(c);
      if (c.streamCount === 0) c.close("agent gone");
      else pool.retired.add(c);
    }
  }

  /** The agent was revoked: fail its waiting opens and cut every connection and tunnel. */
  killAgent(agentId: string): void {
    const pool = this.#pools.get(agentId);
    if (!pool) return;
    this.#cancelRedial(pool);
    this.#pools.delete(agentId);
    this.#failWaiters(pool, new AppError("agent_offline"));
    for (const c of [...pool.conns, ...pool.retired]) c.close("agent revoked");
    this.#dropTickets(agentId);
  }

  #dropTickets(agentId: string): void {
    for (const [key, t] of this.#tickets) {
      if (t.agentId !== agentId) continue;
      clearTimeout(t.timer);
      this.#tickets.delete(key);
    }
  }

  /** Live tunnels on this node. */
  get liveCount(): number {
    return this.#live.size;
  }

  /** Data connections this node holds for an agent (for tests and status). */
  connectionCount(agentId: string): number {
    const pool = this.#pools.get(agentId);
    return pool ? pool.conns.size + pool.retired.size : 0;
  }

  /** Asks the agent for a connection again after the pool's current wait (then doubles it). */
  #scheduleRedial(agentId: string, pool: Pool): void {
    if (pool.redial || pool.draining) return;
    const wait = pool.redialMs;
    pool.redialMs = Math.min(2 * wait, REDIAL_MAX_MS);
    pool.redial = setTimeout(() => {
      pool.redial = null;
      if (this.#pools.get(agentId) !== pool || pool.draining) return;
      if (pool.pending === 0 && ![...pool.conns].some((c) => !c.closed)) this.#request(agentId);
    }, wait);
  }

  #cancelRedial(pool: Pool): void {
    if (pool.redial) clearTimeout(pool.redial);
    pool.redial = null;
  }

  #pool(agentId: string): Pool {
    let pool = this.#pools.get(agentId);
    if (!pool) {
      pool = {
        redial: null,
        redialMs: this.#redialMs,
        conns: new Set(),
        pending: 0,
        waiters: new Set(),
        draining: false,
        retired: new Set(),
      };
      this.#pools.set(agentId, pool);
    }
    return pool;
  }

  #failWaiters(pool: Pool, e: AppError): void {
    for (const w of [...pool.waiters]) {
      pool.waiters.delete(w);
      w.reject(e);
    }
  }

  /**
   * The connection for the next tunnel: a quiet one (no bulk flowing) with the fewest streams,
   * else the least loaded busy one; asks for one more when every connection carries bulk or
   * the pool holds more than STREAMS_PER_CONN tunnels per connection.
   */
  #connFor(agentId: string, deadline: AbortSignal): Promise<MuxSession> {
    const pool = this.#pool(agentId);
    let best: MuxSession | null = null;
    for (const c of pool.conns) {
      if (c.closed) continue;
      if (!best || (best.busy && !c.busy)) best = c;
      else if (best.busy === c.busy && c.streamCount < best.streamCount) best = c;
    }
    this.#grow(agentId);
    if (best) return Promise.resolve(best);
    return new Promise<MuxSession>((resolve, reject) => {
      const w: Waiter = {
        resolve: (c) => {
          deadline.removeEventListener("abort", onAbort);
          resolve(c);
        },
        reject,
      };
      const onAbort = () => {
        pool.waiters.delete(w);
        // The control stream is up but no data connection arrived: the agent cannot reach us.
        reject(new AppError("agent_offline"));
      };
      deadline.addEventListener("abort", onAbort, { once: true });
      pool.waiters.add(w);
    });
  }

  /** Asks for one more connection when the pool is short of what its load calls for. */
  #grow(agentId: string): void {
    const pool = this.#pools.get(agentId);
    if (!pool || pool.draining) return;
    const conns = [...pool.conns].filter((c) => !c.closed);
    let want = 1;
    if (conns.length > 0) {
      want = Math.floor(this.#liveOn(pool) / this.#streamsPerConn) + 1;
      if (conns.every((c) => c.busy)) want = Math.max(want, conns.length + 1);
    }
    if (conns.length + pool.pending < Math.min(want, this.#maxConns)) this.#request(agentId);
  }

  #liveOn(pool: Pool): number {
    let n = 0;
    for (const c of pool.conns) n += c.streamCount;
    return n;
  }

  /** Sends the agent a ticket for one more data connection. */
  #request(agentId: string): void {
    const session = this.#registry.get(agentId);
    if (!session) return;
    const pool = this.#pool(agentId);
    const ticket = crypto.getRandomValues(new Uint8Array(TICKET_SIZE));
    const key = encodeBase64Url(ticket);
    pool.pending++;
    this.#tickets.set(key, {
      agentId,
      timer: setTimeout(() => {
        if (!this.#tickets.delete(key)) return;
        pool.pending = Math.max(0, pool.pending - 1);
        this.#log?.warn({ agent: agentId }, "agent did not dial its data connection in time");
        // Opens are waiting for a connection that will not come: ask once more (the agent may
        // have been refused in a crowd, or its dial lost); their own deadlines still hold.
        if (pool.waiters.size > 0 && !pool.draining && this.#pools.get(agentId) === pool) {
          this.#grow(agentId);
        } else if (pool.pending === 0 && ![...pool.conns].some((c) => !c.closed)) {
          this.#scheduleRedial(agentId, pool);
        }
      }, this.#ticketTtlMs),
    });
    session.send({ openData: { ticket } });
  }
}

/**
 * Why an open failed when the agent could not dial the data port, in the catalogue's words — or,
 * when the agent refused the certificate that answered there, the words for what that means: the
 * TCP connection got through, but something on the way (a TLS-inspecting proxy or firewall, or an
 * impostor) answered for the cloud, and the agent trusts only the pinned CA on that leg.
 */
export function dataUnreachable(reason: string): AppError {
  const message = /certificate/i.test(reason)
    ? "the agent is online but will not open a data connection to the cloud: what answers the " +
      "cloud's data port on the way is not the cloud (its certificate is not from the cloud's agent " +
      "CA: a TLS-inspecting proxy or firewall?); the site's network must pass the data port through " +
      "unchanged"
    : CATALOGUE.agent_data_unreachable.message;
  return new AppError("agent_data_unreachable", `${message} (${reason})`);
}
