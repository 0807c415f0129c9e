/**
 * The agent's data connections to its node: the cloud sends OpenData with a one-time ticket
 * whenever it wants one more (after Welcome, as tunnels grow, to replace a lost one); the agent
 * dials it (`dialer.ts`), presents the ticket and then serves the OPEN frames that arrive on it
 * (`openTunnel`). Connections outlive a control stream that drops, so live tunnels keep flowing
 * as before; a connection ends when the cloud closes it or the network does.
 * @module
 */
import { metrics } from "../shared/metrics.ts";
import { MuxSession, streamsBeside } from "../shared/transport/mux_session.ts";
import { TICKET_TTL_MS } from "../shared/protocol/wire.ts";
import { setConnNotSentLowat } from "../shared/transport/notsent_lowat.ts";
import { type DataEndpoint, dialDataConnection, type DialerDeps, openTunnel } from "./dialer.ts";

const windowsGrown = metrics.counter(
  "connector_agent_data_windows_grown_total",
  "Times a tunnel's receive window grew on a data connection (doubled for a node a long round trip away, or 2 MiB for a tunnel that is all the agent has open; uploads)",
);

/**
 * Waits (each ±50 %) before the further tries of one data dial; none once the ticket would have
 * expired (TICKET_TTL_MS).
 */
export const DATA_DIAL_RETRY_MS = [250, 1_000, 3_000];

/** A failed try that took longer than this (a timeout) is not made again. */
const FAST_FAILURE_MS = 2_000;

/** The agent's live data connections (process-wide). */
export class DataPool {
  #d: DialerDeps;
  #conns = new Set<MuxSession>();
  #closed = false;

  #onDataLink: ((ok: boolean, reason: string) => void) | undefined;

  /**
   * Creates an empty pool serving tunnels with the dialer's dependencies; `onDataLink` hears
   * each data connection that comes up (true) and each dial that failed for good (false, why).
   */
  constructor(d: DialerDeps, onDataLink?: (ok: boolean, reason: string) => void) {
    this.#d = d;
    this.#onDataLink = onDataLink;
  }

  /**
   * Dials one data connection with `ticket` and serves it until it ends; resolves once the node
   * bound it (its first frame came: a protocol 3 node always sends one, its round-trip PING; at
   * once toward an older node) or the tries are over. A try that fails fast — refused at the dial,
   * or a connection the node closes before its first frame — is made again (DATA_DIAL_RETRY_MS)
   * while the ticket lives. A node that just restarted meets every agent at once and caps the
   * connections one address may hold before their ticket (many sites behind one carrier NAT
   * share an address), so such a refusal is passing, and an open waiting for this connection
   * would otherwise wait until its deadline. A dial that times out is not tried again: a firewall
   * that drops the data port will drop it again. When the tries are over, the failure is logged
   * and `onFailed` gets why (with the address dialed), for the cloud: it then fails the opens
   * that wait for this connection at once, with that reason. Never rejects.
   */
  async add(
    ep: DataEndpoint,
    ticket: Uint8Array,
    onFailed?: (reason: string) => void,
  ): Promise<void> {
    try {
      await this.#try(ep, ticket);
    } catch (e) {
      if (this.#closed) return;
      const reason = `${ep.route.host}:${ep.port}: ${(e as Error).message}`;
      this.#d.log.warn({ err: reason }, "data connection to the cloud failed");
      this.#onDataLink?.(false, reason);
      onFailed?.(reason);
    }
  }

  async #try(ep: DataEndpoint, ticket: Uint8Array): Promise<void> {
    const started = Date.now();
    for (let attempt = 0;; attempt++) {
      const t0 = Date.now();
      let conn: Deno.TlsConn;
      try {
        conn = await dialDataConnection(ep, ticket, this.#d.dialTimeoutMs);
      } catch (e) {
        const fast = Date.now() - t0 < FAST_FAILURE_MS;
        if (!fast || !(await this.#backoff(attempt, started, (e as Error).message))) throw e;
        continue;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      const session = this.#serve(conn, ep);
      if (ep.growWindows) {
        await Promise.race([session.heardFirst, session.done]);
        if (!session.heard) {
          // Closed by the node before a word: refused before or at its ticket. Try again.
          const why = `closed by the cloud before its first frame (${await session.done})`;
          if (!(await this.#backoff(attempt, started, why))) throw new Error(why);
          continue;
        }
      }
      this.#onDataLink?.(true, "");
      return;
    }
  }

  /** Serves the multiplexed session on a dialed data connection, as one of the pool's. */
  #serve(conn: Deno.TlsConn, ep: DataEndpoint): MuxSession {
    // Bulk waits in the mux, where small frames can pass it, not in the kernel (notsent_lowat.ts).
    const lowat = setConnNotSentLowat(conn);
    if (lowat) this.#d.log.warn({ reason: lowat }, "data connection keeps the kernel's send queue");
    const session = new MuxSession(conn, {
      role: "agent",
      growWindows: ep.growWindows,
      onWindowGrown: () => windowsGrown.inc(),
      // A tunnel is alone (a bigger window over a short link) only on all of the pool's.
      streamsElsewhere: (): number => streamsBeside(session, this.#conns),
      onOpen: (stream, host, port) => {
        openTunnel(this.#d, stream, host, port).catch((e) => {
          this.#d.log.error({ err: (e as Error).message }, "tunnel failed");
          stream.close();
        });
      },
      onClose: (reason) => {
        this.#conns.delete(session);
        // One that never heard a word is a refused try (see #try), not a connection that ended.
        if (ep.growWindows && !session.heard) return;
        this.#d.log.info({ reason, conns: this.#conns.size }, "data connection closed");
      },
    });
    this.#conns.add(session);
    this.#d.log.debug({ conns: this.#conns.size }, "data connection up");
    return session;
  }

  /**
   * Waits before try `attempt + 1` of one ticket (false: no more tries — retries used up, the
   * ticket about to expire, or the pool closed).
   */
  async #backoff(attempt: number, started: number, why: string): Promise<boolean> {
    const wait = DATA_DIAL_RETRY_MS[attempt];
    if (wait === undefined || this.#closed) return false;
    // Spread out: the agents refused together should not come back together.
    const jittered = wait * (0.5 + Math.random());
    if (Date.now() - started + jittered >= TICKET_TTL_MS) return false;
    this.#d.log.debug({ err: why, attempt: attempt + 1 }, "data connection failed; trying again");
    await new Promise((r) => setTimeout(r, jittered));
    return !this.#closed;
  }

  /** Data connections currently open. */
  get size(): number {
    return this.#conns.size;
  }

  /** Closes every data connection (the agent is stopping). */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#conns]) c.close("agent stopping");
  }
}
