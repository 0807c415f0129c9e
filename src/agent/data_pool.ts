/**
 * The agent's data connections to its node: the cloud sends OpenData with a one-time ticket
 * whenever it wants one more (after Welcome, as tunnels grow, to replace a lost one); the agent
 * dials it (`dialer.ts`), presents the ticket and then serves the OPEN frames that arrive on it
 * (`openTunnel`). Connections outlive a control stream that drops, so live tunnels keep flowing
 * as before; a connection ends when the cloud closes it or the network does.
 * @module
 */
import { metrics } from "../shared/metrics.ts";
import { MuxSession } from "../shared/transport/mux_session.ts";
import { setConnNotSentLowat } from "../shared/transport/notsent_lowat.ts";
import { type DataEndpoint, dialDataConnection, type DialerDeps, openTunnel } from "./dialer.ts";

const windowsGrown = metrics.counter(
  "connector_agent_data_windows_grown_total",
  "Times a tunnel's receive window doubled on a data connection (a node a long round trip away; uploads)",
);

/** The agent's live data connections (process-wide). */
export class DataPool {
  #d: DialerDeps;
  #conns = new Set<MuxSession>();

  /** Creates an empty pool serving tunnels with the dialer's dependencies. */
  constructor(d: DialerDeps) {
    this.#d = d;
  }

  /** Dials one data connection with `ticket` and serves it until it ends. */
  async add(ep: DataEndpoint, ticket: Uint8Array): Promise<void> {
    const conn = await dialDataConnection(ep, ticket, this.#d.dialTimeoutMs);
    // Bulk waits in the mux, where small frames can pass it, not in the kernel (notsent_lowat.ts).
    const lowat = setConnNotSentLowat(conn);
    if (lowat) this.#d.log.warn({ reason: lowat }, "data connection keeps the kernel's send queue");
    const session = new MuxSession(conn, {
      role: "agent",
      growWindows: ep.growWindows,
      onWindowGrown: () => windowsGrown.inc(),
      onOpen: (stream, host, port) => {
        openTunnel(this.#d, stream, host, port).catch((e) => {
          this.#d.log.error({ err: (e as Error).message }, "tunnel failed");
          stream.close();
        });
      },
      onClose: (reason) => {
        this.#conns.delete(session);
        this.#d.log.info({ reason, conns: this.#conns.size }, "data connection closed");
      },
    });
    this.#conns.add(session);
    this.#d.log.debug({ conns: this.#conns.size }, "data connection up");
  }

  /** Data connections currently open. */
  get size(): number {
    return this.#conns.size;
  }

  /** Closes every data connection (the agent is stopping). */
  close(): void {
    for (const c of [...this.#conns]) c.close("agent stopping");
  }
}
