/**
 * The cloud side of the control relay (see relay_child.ts for why the agents' gRPC listener runs
 * in a child process): spawns `connector cloud control-relay`, hands it the listener's keys on
 * stdin, turns each relayed agent stream into a call object with the surface of a grpc-js
 * server stream (so the control logic in server.ts is the same either way), and restarts the
 * relay on the same port when it dies — the agents reconnect, nothing else in the node notices.
 * @module
 */
import { EventEmitter } from "node:events";
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { decodeAgentMessage, encodeCloudMessage } from "../../shared/protocol/control.ts";
import type { AgentMessage, CloudMessage } from "../../shared/protocol/control.ts";
import type { Logger } from "../../shared/log.ts";
import { encodeDeny, encodeRelayFrame, readRelayFrames, RelayFrame } from "./relay_wire.ts";
import type { RelayConfig } from "./relay_child.ts";
import type { TlsIdentity } from "./tls_identity.ts";
import { refusalOfExit } from "../listen_error.ts";

/** What the control logic sees of one agent stream. */
export type ControlCall = grpc.ServerDuplexStream<AgentMessage, CloudMessage>;

const INVALID_ARGUMENT = 3;

/** One agent stream carried by the relay, shaped like a grpc-js server duplex stream. */
class RelayedCall extends EventEmitter {
  #cn: string;
  #raw: Uint8Array | undefined;
  #send: (type: number, payload?: Uint8Array) => void;
  #over = false;

  constructor(
    cn: string,
    raw: Uint8Array | undefined,
    send: (type: number, payload?: Uint8Array) => void,
  ) {
    super();
    this.#cn = cn;
    this.#raw = raw;
    this.#send = send;
  }

  getAuthContext() {
    return { sslPeerCertificate: { subject: { CN: this.#cn }, raw: this.#raw } };
  }

  write(m: CloudMessage): boolean {
    if (!this.#over) this.#send(RelayFrame.SEND, new Uint8Array(encodeCloudMessage(m)));
    return true;
  }

  end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#send(RelayFrame.FINISH);
  }

  /** `emit("error", status)` from the control logic ends the stream with that status. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === "error" && !this.#over) {
      this.#over = true;
      const s = args[0] as { code?: number; details?: string } | undefined;
      this.#send(RelayFrame.DENY, encodeDeny(s?.code ?? 2, s?.details ?? ""));
    }
    return super.emit(event, ...args);
  }

  /** The relay says the stream is gone (or the relay itself is). */
  gone(): void {
    this.#over = true;
    super.emit("cancelled");
    super.emit("close");
  }
}

/** A running relay. */
export interface ControlRelay {
  /** The port agents connect to. */
  port: number;
  /** How many times the relay process had to be restarted. */
  restarts(): number;
  close(): Promise<void>;
}

/** The command that starts this program's control relay (`deno run …` or the compiled binary). */
function relayCommand(): { cmd: string; args: string[] } {
  const exec = Deno.execPath();
  const main = new URL("../../main.ts", import.meta.url);
  const compiled = !/(^|\/)deno(\.exe)?$/.test(exec) || main.protocol !== "file:";
  return compiled
    ? { cmd: exec, args: ["cloud", "control-relay"] }
    : { cmd: exec, args: ["run", "-A", main.pathname, "cloud", "control-relay"] };
}

/** Starts the relay; `connect` gets each agent stream, as a grpc-js service handler would. */
export async function startControlRelay(o: {
  host: string;
  port: number;
  /** The listener's key pair and trusted CAs; each change is sent to the running relay. */
  identity: TlsIdentity;
  options: grpc.ServerOptions;
  connect: (call: ControlCall) => void;
  log: Logger;
  /** A TLS handshake the listener refused (wrong CA), to audit. */
  onRefused?: (remote: string, reason: string) => void;
}): Promise<ControlRelay> {
  let port = o.port;
  let restarts = 0;
  let closing = false;
  let child: Deno.ChildProcess | null = null;
  let stdin: WritableStreamDefaultWriter<Uint8Array> | null = null;
  let runLoop: Promise<void> = Promise.resolve();

  /** Spawns one relay process; resolves with its port once it listens. */
  const spawn = (): Promise<number> => {
    const { cmd, args } = relayCommand();
    const proc = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    child = proc;
    const writer = proc.stdin.getWriter();
    stdin = writer;
    const calls = new Map<number, RelayedCall>();
    const peers = new Map<number, Uint8Array>();
    const config: RelayConfig = {
      host: o.host,
      port,
      caPem: o.identity.caPem,
      certPem: o.identity.pair.certPem,
      keyPem: o.identity.pair.keyPem,
      options: o.options,
    };
    writer.write(
      encodeRelayFrame(RelayFrame.CONFIG, 0, new TextEncoder().encode(JSON.stringify(config))),
    ).catch(() => {});
    return new Promise<number>((resolve, reject) => {
      let ready = false;
      runLoop = (async () => {
        try {
          for await (const f of readRelayFrames(proc.stdout)) {
            if (f.type === RelayFrame.READY) {
              ready = true;
              resolve(new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0));
              continue;
            }
            if (f.type === RelayFrame.REFUSED) {
              try {
                const r = JSON.parse(new TextDecoder().decode(f.payload));
                o.onRefused?.(String(r.remote), String(r.reason));
              } catch { /* malformed report: nothing to audit */ }
              continue;
            }
            if (f.type === RelayFrame.PEER) {
              peers.set(f.id, f.payload);
              continue;
            }
            if (f.type === RelayFrame.OPEN) {
              const id = f.id;
              const raw = peers.get(id);
              peers.delete(id);
              const call = new RelayedCall(
                new TextDecoder().decode(f.payload),
                raw,
                (type, payload) =>
                  writer.write(encodeRelayFrame(type, id, payload)).catch(() => {}),
              );
              calls.set(id, call);
              try {
                o.connect(call as unknown as ControlCall);
              } catch (e) {
                // One stream's fault must not end the loop that carries every other stream.
                o.log.error({ err: (e as Error).message }, "control stream handler failed");
                call.on("error", () => {});
                call.emit("error", { code: 13, details: "internal error" });
              }
              continue;
            }
            const call = calls.get(f.id);
            if (!call) continue;
            if (f.type === RelayFrame.DATA) {
              let m: AgentMessage;
              try {
                m = decodeAgentMessage(Buffer.from(f.payload));
              } catch {
                call.emit("error", { code: INVALID_ARGUMENT, details: "malformed message" });
                continue;
              }
              call.emit("data", m);
            } else if (f.type === RelayFrame.END) {
              call.emit("end");
            } else if (f.type === RelayFrame.GONE) {
              calls.delete(f.id);
              call.gone();
            }
          }
        } catch (e) {
          o.log.warn({ err: (e as Error).message }, "control relay output unreadable");
        }
        // The relay is gone: so is every stream it carried.
        for (const c of calls.values()) c.gone();
        calls.clear();
        const status = await proc.status;
        if (!ready) {
          const refusal = refusalOfExit(status.code);
          reject(
            refusal
              ? Object.assign(new Error(`the control listener's bind was refused: ${refusal}`), {
                code: refusal,
              })
              : new Error(`the control listener did not start (exit ${status.code})`),
          );
          return;
        }
        if (closing) return;
        restarts++;
        o.log.error(
          { code: status.code, signal: status.signal, restarts },
          "control relay process ended; agents reconnect to a new one",
        );
        await restart();
      })();
    });
  };

  const restart = async () => {
    for (let delay = 100; !closing; delay = Math.min(delay * 2, 5_000)) {
      await new Promise((r) => setTimeout(r, delay));
      if (closing) return;
      try {
        port = await spawn();
        o.log.info({ port }, "control relay restarted");
        return;
      } catch (e) {
        o.log.error({ err: (e as Error).message }, "control relay restart failed; retrying");
      }
    }
  };

  // Renewed server certificate, rotated CAs: the running relay takes them for new connections
  // (a restarted one gets them in its CONFIG).
  const unsubscribe = o.identity.onChange(() => {
    const payload = new TextEncoder().encode(JSON.stringify({
      caPem: o.identity.caPem,
      certPem: o.identity.pair.certPem,
      keyPem: o.identity.pair.keyPem,
    }));
    stdin?.write(encodeRelayFrame(RelayFrame.IDENTITY, 0, payload)).catch(() => {});
  });

  port = await spawn();
  return {
    get port() {
      return port;
    },
    restarts: () => restarts,
    async close() {
      closing = true;
      unsubscribe();
      await stdin?.close().catch(() => {});
      const proc = child;
      if (!proc) return;
      const t = setTimeout(() => {
        try {
          proc.kill("SIGKILL");
        } catch { /* gone */ }
      }, 2_000);
      await proc.status;
      clearTimeout(t);
      await runLoop;
    },
  };
}
