/**
 * The tunnel broker: turns "open (host, port) via agent X" into a connected data socket. It
 * sends OpenTunnel with a one-time ticket on the agent's control stream and waits for either the
 * agent's data connection presenting that ticket (success) or a TunnelResult (refusal, dial
 * failure), or gives up after the timeout. Policy (auth, tenancy, allowlist) was decided before
 * the broker is called; after it returns, only bytes flow.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import { encodeBase64Url } from "../../shared/encoding.ts";
import { TICKET_SIZE } from "../../shared/protocol/wire.ts";
import type { TunnelResult } from "../../shared/protocol/control.ts";
import type { Registry } from "./registry.ts";

interface Pending {
  tunnelId: string;
  agentId: string;
  ticket: string;
  timer: ReturnType<typeof setTimeout>;
  resolve: (s: Deno.Conn) => void;
  reject: (e: AppError) => void;
}

/** An open tunnel's data connection and identity. */
export interface OpenedTunnel {
  tunnelId: string;
  agentId: string;
  socket: Deno.Conn;
  /** Tells the broker the tunnel ended (the caller closed the connection). */
  done(): void;
}

/** Maps an agent's TunnelResult code to the operator-facing error. */
export function tunnelError(r: Pick<TunnelResult, "code" | "error">): AppError {
  switch (r.code) {
    case "target_not_allowed":
      return new AppError("target_not_allowed");
    case "dial_timeout":
      return new AppError("device_timeout", `device did not answer: ${r.error}`);
    default:
      return new AppError("device_unreachable", `device unreachable: ${r.error}`);
  }
}

/** Opens tunnels through connected agents and binds their data connections. */
export class TunnelBroker {
  #registry: Registry;
  #timeoutMs: number;
  #byTicket = new Map<string, Pending>();
  #byId = new Map<string, Pending>();
  #live = new Map<string, { agentId: string; socket: Deno.Conn }>();
  #seq = 0;

  /** Creates a broker over the node's registry; `timeoutMs` bounds each open. */
  constructor(registry: Registry, opts: { timeoutMs: number }) {
    this.#registry = registry;
    this.#timeoutMs = opts.timeoutMs;
  }

  /** Asks the agent to open (host, port); resolves with the bound data socket. */
  open(agentId: string, host: string, port: number): Promise<OpenedTunnel> {
    const session = this.#registry.get(agentId);
    if (!session) return Promise.reject(new AppError("agent_offline"));
    const ticketBytes = crypto.getRandomValues(new Uint8Array(TICKET_SIZE));
    const ticket = encodeBase64Url(ticketBytes);
    const tunnelId = `tn-${(++this.#seq).toString(36)}-${ticket.slice(0, 6)}`;
    return new Promise<OpenedTunnel>((resolve, reject) => {
      const p: Pending = {
        tunnelId,
        agentId,
        ticket,
        timer: setTimeout(() => {
          this.#drop(p);
          session.send({ closeTunnel: { tunnelId, reason: "open timed out" } });
          reject(new AppError("device_timeout"));
        }, this.#timeoutMs),
        resolve: (socket) => {
          this.#live.set(tunnelId, { agentId, socket });
          resolve({ tunnelId, agentId, socket, done: () => this.#live.delete(tunnelId) });
        },
        reject,
      };
      this.#byTicket.set(ticket, p);
      this.#byId.set(tunnelId, p);
      session.send({ openTunnel: { tunnelId, host, port, ticket: ticketBytes } });
    });
  }

  /**
   * Binds a data connection presenting `ticket` (sent to exactly one agent on its control
   * stream). Returns false (the caller closes the connection) when the ticket is unknown, used
   * or expired.
   */
  bind(ticket: Uint8Array, socket: Deno.Conn): boolean {
    const p = this.#byTicket.get(encodeBase64Url(ticket));
    if (!p) return false;
    this.#drop(p);
    p.resolve(socket);
    return true;
  }

  /** Applies an agent's TunnelResult (a failure to open). */
  result(agentId: string, r: TunnelResult): void {
    const p = this.#byId.get(r.tunnelId);
    if (!p || p.agentId !== agentId || r.ok) return;
    this.#drop(p);
    p.reject(tunnelError(r));
  }

  /** The agent's control stream ended: fail its pending opens (live tunnels keep flowing). */
  agentGone(agentId: string): void {
    for (const p of [...this.#byId.values()]) {
      if (p.agentId !== agentId) continue;
      this.#drop(p);
      p.reject(new AppError("agent_offline"));
    }
  }

  /** The agent was revoked: fail its pending opens and cut every live tunnel it carries. */
  killAgent(agentId: string): void {
    this.agentGone(agentId);
    for (const t of this.#live.values()) {
      if (t.agentId !== agentId) continue;
      try {
        t.socket.close();
      } catch { /* already closed */ }
    }
  }

  /** Live tunnels on this node. */
  get liveCount(): number {
    return this.#live.size;
  }

  #drop(p: Pending): void {
    clearTimeout(p.timer);
    this.#byTicket.delete(p.ticket);
    this.#byId.delete(p.tunnelId);
  }
}
