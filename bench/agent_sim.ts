/**
 * A lightweight in-process agent simulator for the "agents per node" figure (issue 12): each
 * simulated agent is enrolled through the cloud's real API (a one-shot token from
 * `POST /api/sites/{id}/enrollment-tokens`, then `POST /api/agents/enroll` with a CSR — its own
 * agent id and certificate, signed by the agent CA), and holds its own mTLS gRPC control stream
 * (its own HTTP/2 connection: one control stream per certificate, well inside the cloud's bound
 * of 4) speaking the real protocol: Hello, then heartbeats at the interval Welcome gives, and the
 * idle data connection a real agent holds (it answers OpenData with the agent's own data pool:
 * its dialer, the retries of a refused dial, the multiplexed session — whose empty allowlist
 * refuses any tunnel opened on it). What it saves over real agent processes is everything else (one Deno runtime for
 * all, one key pair shared by all the CSRs, no tunnels).
 *
 * Heartbeat lag: each heartbeat carries its sequence number in `bytesUp`, which the cloud writes
 * to the agent's presence with `lastHeartbeat` = the cloud's clock at that write; the lag of a
 * heartbeat is that write's time minus the moment the simulator sent it.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import * as tls from "node:tls";
import { controlServiceDefinition } from "../src/shared/protocol/control.ts";
import type { AgentMessage, CloudMessage } from "../src/shared/protocol/control.ts";
import { HEARTBEAT_MS, PROTOCOL_VERSION } from "../src/shared/protocol/wire.ts";
import { createCsr, generateKeyPem } from "../src/shared/crypto/pki.ts";
import { DataPool } from "../src/agent/data_pool.ts";
import { Allowlist } from "../src/agent/allowlist.ts";
import { Stats } from "../src/agent/stats.ts";
import type { Logger } from "../src/shared/log.ts";

const ControlClient = grpc.makeGenericClientConstructor(controlServiceDefinition, "Control");

/**
 * Data dials in flight at once, all simulated agents together: they share one source address,
 * and the data listener closes a source's connections beyond its cap (64) not yet past their
 * handshake and ticket (real agents dial from their own addresses). A dial holds its place until
 * the node bound it (the agent's pool resolves then), so the node never holds more than these.
 */
const DATA_DIALS_AT_ONCE = 16;
let dialing = 0;
const dialQueue: (() => void)[] = [];
async function dialSlot<T>(f: () => Promise<T>): Promise<T> {
  if (dialing >= DATA_DIALS_AT_ONCE) await new Promise<void>((r) => dialQueue.push(r));
  dialing++;
  try {
    return await f();
  } finally {
    dialing--;
    dialQueue.shift()?.();
  }
}
type ControlStub = grpc.Client & { Connect(): grpc.ClientDuplexStream<AgentMessage, CloudMessage> };

/** An identity the cloud issued through its enrollment API. */
export interface SimIdentity {
  agentId: string;
  certPem: string;
  caPem: string;
}

/** The key pair every simulated agent's CSR is made from (one, to enroll thousands fast). */
export interface SimKey {
  keyPem: string;
  csr: string;
}

/** A fresh key pair and its CSR. */
export async function simKey(): Promise<SimKey> {
  const keyPem = await generateKeyPem();
  return { keyPem, csr: await createCsr({ keyPem, commonName: "enrolling-agent" }) };
}

/**
 * Enrolls `n` agents on `siteId` through the cloud's API at `url` (the token's bearer is an admin's
 * `nt_…`), `concurrency` at a time.
 */
export async function enrollMany(o: {
  url: string;
  apiToken: string;
  siteId: string;
  key: SimKey;
  n: number;
  concurrency?: number;
}): Promise<SimIdentity[]> {
  const post = async (path: string, body: unknown, auth: boolean) => {
    const res = await fetch(`${o.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(auth ? { authorization: `Bearer ${o.apiToken}` } : {}),
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
  const out: SimIdentity[] = [];
  let next = 0;
  const worker = async () => {
    while (next < o.n) {
      next++;
      const { token } = await post(`/api/sites/${o.siteId}/enrollment-tokens`, {}, true);
      const r = await post("/api/agents/enroll", {
        token: String(token).split(".")[0],
        csr: o.key.csr,
        hostname: `sim-${out.length + 1}`,
        os: "linux/sim",
        version: "sim",
      }, false);
      out.push({ agentId: r.agentId, certPem: r.certificate, caPem: r.caCertificate });
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  return out;
}

/** One simulated agent's control stream. */
export class SimAgent {
  /** The enrolled agent id (its certificate's CN). */
  readonly agentId: string;
  /** When Welcome arrived (epoch ms), or null. */
  welcomedAt: number | null = null;
  /** Why the stream ended, or null while it runs. */
  ended: string | null = null;
  /** Send time (epoch ms) of each heartbeat by sequence number (the latest few). */
  readonly sentAt = new Map<number, number>();
  #seq = 0;
  #client: ControlStub;
  #call: grpc.ClientDuplexStream<AgentMessage, CloudMessage>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #welcomed: Promise<void>;
  #host: string;
  #caPem: string;
  #dataPort = 0;
  #data: DataPool;
  /** Data connections that could not be dialed (after the pool's retries), and the last reason. */
  dataFailures = 0;
  dataError = "";

  /** Dials `host:port` with `id`'s certificate and `key`, sends Hello. */
  constructor(id: SimIdentity, key: SimKey, host: string, port: number) {
    this.agentId = id.agentId;
    const quiet = () => {};
    const log = { debug: quiet, info: quiet, warn: quiet, error: quiet } as unknown as Logger;
    this.#data = new DataPool({ allowlist: new Allowlist(), stats: new Stats(), log });
    this.#host = host;
    this.#caPem = id.caPem;
    const creds = grpc.credentials.createSsl(
      Buffer.from(id.caPem),
      Buffer.from(key.keyPem),
      Buffer.from(id.certPem),
      { checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert) },
    );
    this.#client = new ControlClient(`${host}:${port}`, creds, {
      "grpc.ssl_target_name_override": "control.nanodems.invalid",
      "grpc.default_authority": `${host}:${port}`,
      "grpc.enable_http_proxy": 0,
      "grpc.use_local_subchannel_pool": 1,
      "grpc.keepalive_time_ms": 20_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
    }) as unknown as ControlStub;
    this.#call = this.#client.Connect();
    this.#welcomed = new Promise((resolve, reject) => {
      this.#call.on("data", (m: CloudMessage) => {
        if (m.msg === "openData") return this.#dialData(m.openData!.ticket);
        if (m.msg !== "welcome") return; // policies and allowlists: nothing to do here
        this.#dataPort = m.welcome!.dataPort;
        this.welcomedAt = Date.now();
        const every = m.welcome!.heartbeatMs || HEARTBEAT_MS;
        // Spread over the interval like real agents, which connect at different moments.
        setTimeout(() => {
          if (this.ended) return;
          this.#beat();
          this.#timer = setInterval(() => this.#beat(), every);
        }, Math.random() * every);
        resolve();
      });
      const end = (why: string) => {
        if (this.ended) return;
        this.ended = why;
        clearInterval(this.#timer);
        reject(new Error(why));
      };
      this.#call.on("error", (e: grpc.ServiceError) => end(e.details || e.message));
      this.#call.on("end", () => end("stream ended by the cloud"));
    });
    this.#welcomed.catch(() => {});
    this.#call.write({
      hello: {
        agentId: id.agentId,
        version: "sim",
        hostname: id.agentId,
        os: "linux/sim",
        protocol: PROTOCOL_VERSION,
        allowlistVersion: 0,
      },
    });
  }

  /** Resolves at Welcome; rejects if the stream ends first. */
  welcomed(): Promise<void> {
    return this.#welcomed;
  }

  #dialData(ticket: Uint8Array) {
    if (this.ended || !this.#dataPort) return;
    const route = {
      host: this.#host,
      port: this.#dataPort,
      address: { address: this.#host, family: 4 as const },
      proxy: null,
    };
    const ep = { route, port: this.#dataPort, caPem: this.#caPem, growWindows: true };
    const failed = (reason: string) => {
      this.dataFailures++;
      this.dataError = reason;
      if (!this.ended) this.#call.write({ dataDialFailed: { ticket, reason } });
    };
    dialSlot(() => this.#data.add(ep, ticket, failed)).then(() => {
      if (this.ended) this.#data.close();
    });
  }

  #beat() {
    if (this.ended) return;
    const seq = ++this.#seq;
    this.sentAt.set(seq, Date.now());
    this.sentAt.delete(seq - 8);
    this.#call.write({
      heartbeat: { activeStreams: 0, bytesUp: seq, bytesDown: 0, tunnelsOpened: 0, day: "" },
    });
  }

  /** Ends the stream. */
  close(): void {
    this.ended ??= "closed";
    clearInterval(this.#timer);
    this.#call.removeAllListeners("data");
    this.#call.on("error", () => {});
    this.#call.cancel();
    this.#client.close();
    this.#data.close();
  }
}
