/**
 * The fuzz target of the internal listener (BridgeTunnel, proto/bridge.md): hostile bytes from a
 * client that is not a node (no certificate, or no TLS at all), and arbitrary frame sequences from
 * one that is — a sibling's internal-CA certificate, which the node trusts to have decided policy
 * but not to send well-formed frames. Oracle: every RESULT it gets back is JSON with `ok` and, on
 * a refusal, a catalogued code; the process-wide oracles (the node runs, nothing reached the
 * last-resort handler) are main.ts's.
 * @module
 */
import { Buffer } from "node:buffer";
import * as tls from "node:tls";
import { CATALOGUE } from "../../src/shared/errors.ts";
import { issueNodeCert } from "../../src/shared/crypto/pki.ts";
import { concat, mutate, NASTY, type Rng } from "./rng.ts";
import { exchange, type World } from "./world.ts";
import type { Finding, Target } from "./targets.ts";

interface Sibling {
  certPem: string;
  keyPem: string;
  caPem: string;
  agentId: string;
  echoPort: number;
}

const siblings = new WeakMap<World, Promise<Sibling>>();

/** A leaf on the cloud's internal CA for a made-up sibling node, and the running agent's id. */
function sibling(w: World): Promise<Sibling> {
  let s = siblings.get(w);
  if (!s) {
    s = (async () => {
      const ca = {
        certPem: await Deno.readTextFile(`${w.stack.dataDir}/ca/internal-ca.pem`),
        keyPem: await Deno.readTextFile(`${w.stack.dataDir}/ca/internal-ca.key`),
      };
      const leaf = await issueNodeCert({
        ca,
        commonName: "fuzz-sibling",
        hostnames: ["127.0.0.1"],
      });
      const agents = await w.stack.admin<{ agents: { id: string; revokedAt: number | null }[] }>(
        "agent",
        "list",
        "--tenant",
        w.a.tenantId,
      );
      return {
        certPem: leaf.certPem,
        keyPem: leaf.keyPem,
        caPem: ca.certPem,
        agentId: agents.agents.find((a) => a.revokedAt === null)?.id ?? "none",
        echoPort: Number(
          Object.entries(w.a.device.handles).find(([, h]) => h === w.handles.echo)?.[0] ?? 9,
        ),
      };
    })();
    siblings.set(w, s);
  }
  return s;
}

function frame(type: number, payload: Uint8Array, len = payload.byteLength): Uint8Array {
  const head = new Uint8Array(5);
  head[0] = type;
  new DataView(head.buffer).setUint32(1, len);
  return concat(head, payload);
}

function open(rng: Rng, s: Sibling, w: World): Uint8Array {
  const live = {
    v: 1,
    op: "live",
    agentId: rng.chance(0.7) ? s.agentId : rng.pick(NASTY),
    // A handle of the agent's tenant (devices that are no camera: the owner's RTSP client meets
    // an echo, a web server, a device that answers 200 to anything), the other tenant's, or none.
    handleId: rng.chance(0.7)
      ? rng.pick([w.handles.echo, w.handles.http, w.handles.rtsp])
      : rng.pick([w.foreignHandle, ...NASTY]),
    path: rng.pick(["/", "/stream1", "/../x", "", "x", "/\u0000", "/" + "a".repeat(600)]),
    actor: rng.pick(["user:fuzz", "", "x".repeat(300)]),
    from: "fuzz-sibling",
  };
  const base: Record<string, unknown> = rng.chance(0.2) ? live : rng.chance(0.5)
    ? {
      v: 1,
      op: "tunnel",
      agentId: rng.chance(0.7) ? s.agentId : rng.pick(NASTY),
      host: rng.chance(0.7) ? "127.0.0.1" : rng.pick(NASTY),
      port: rng.chance(0.7) ? s.echoPort : rng.pick([0, -1, 70000, 1.5, "22", null]),
      from: "fuzz-sibling",
    }
    : {
      v: rng.pick([1, 2, 0, "1"]),
      op: rng.pick(["discover", "tunnel", "shutdown", ""]),
      agentId: s.agentId,
      windowMs: rng.pick([100, 0, 1e9, "x"]),
      from: rng.pick(["fuzz-sibling", "", "x".repeat(100)]),
    };
  const text = new TextEncoder().encode(JSON.stringify(base));
  return rng.chance(0.3) ? mutate(rng, text) : text;
}

/** The internal listener target. */
export const interrelay: Target = {
  name: "interrelay",
  async run(w, rng) {
    const port = w.stack.ports.internal;
    if (rng.chance(0.25)) {
      // Not a node: plain garbage, or TLS without a certificate.
      if (rng.chance(0.5)) {
        await exchange(port, rng.bytes(rng.size(300)), { ms: 300 });
        return [];
      }
      await new Promise<void>((resolve) => {
        const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
          s.write(frame(1, rng.bytes(rng.size(100))));
        });
        s.on("error", () => resolve());
        s.on("close", () => resolve());
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 300);
      });
      return [];
    }
    const sib = await sibling(w);
    const parts: Uint8Array[] = [];
    if (rng.chance(0.8)) parts.push(frame(1, open(rng, sib, w)));
    for (let i = rng.int(5); i > 0; i--) {
      const type = rng.pick([1, 2, 3, 3, 3, 4, 5, rng.int(256)]);
      const payload = type === 5 && rng.chance(0.7)
        ? new Uint8Array(Buffer.from([0, rng.int(256), rng.int(256), rng.int(256)]))
        : rng.bytes(rng.size(2000));
      const len = rng.chance(0.1) ? rng.pick([0xffffffff, 1 << 20, 65537]) : payload.byteLength;
      parts.push(frame(type, payload, len));
    }
    const input = concat(...parts);
    const got = await new Promise<Uint8Array>((resolve) => {
      const chunks: Uint8Array[] = [];
      const s = tls.connect({
        host: "127.0.0.1",
        port,
        cert: Buffer.from(sib.certPem),
        key: Buffer.from(sib.keyPem),
        ca: [Buffer.from(sib.caPem)],
        checkServerIdentity: () => undefined,
      }, () => s.write(input));
      s.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
      const done = () => resolve(concat(...chunks));
      s.on("error", done);
      s.on("close", done);
      setTimeout(() => s.destroy(), 600);
    });
    return checkResults(got, input);
  },
};

/** Every RESULT frame in what came back must be JSON {ok} with a catalogued code on refusal. */
function checkResults(got: Uint8Array, input: Uint8Array): Finding[] {
  const findings: Finding[] = [];
  const show = new TextDecoder("latin1").decode(input.subarray(0, 400));
  let off = 0;
  while (got.byteLength - off >= 5) {
    const type = got[off];
    const len = new DataView(got.buffer, got.byteOffset + off + 1, 4).getUint32(0);
    if (got.byteLength - off - 5 < len) break;
    const body = got.subarray(off + 5, off + 5 + len);
    off += 5 + len;
    if (type !== 2) continue;
    try {
      const r = JSON.parse(new TextDecoder().decode(body));
      if (typeof r.ok !== "boolean" || (!r.ok && !(r.code in CATALOGUE))) {
        findings.push({ kind: "bad RESULT", detail: JSON.stringify(r).slice(0, 200), input: show });
      }
    } catch {
      findings.push({ kind: "RESULT is not JSON", detail: "", input: show });
    }
  }
  return findings;
}
